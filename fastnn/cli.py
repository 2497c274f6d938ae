"""``python -m fastnn`` / ``fastnn``: train an example network, validate the kernels, benchmark, predict.

Bad use gets a one-line message and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
import zipfile
from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np

from .scoring import predicted_labels, true_labels


class UsageError(Exception):
    """A problem with what the user asked for: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a misuse is one line naming the problem (``-h`` shows the usage), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} -h)\n")


def _int_at_least(low: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= ``low``, else one message naming the bound and the value."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value

    return parse


_non_negative_int, _positive_int = _int_at_least(0), _int_at_least(1)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def _writable_file(path: str, what: str) -> str:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UsageError(f"{what} {path!r}: directory {directory!r} does not exist")
    try:  # os.access says yes to root even on read-only file systems: really try
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError:
        raise UsageError(f"{what} {path!r}: directory {directory!r} is not writable") from None
    if os.path.isdir(path):
        raise UsageError(f"{what} {path!r} is a directory; give a file name")
    return path


def _plot_file(path: str) -> str:
    """A plot path in a writable directory whose extension matplotlib can write (checked before training)."""
    from .plots import image_formats

    _writable_file(path, "--plot")
    extension = os.path.splitext(path)[1].lower().lstrip(".")
    formats = image_formats(extension)
    if formats is not None:
        raise UsageError(
            f"--plot {path!r}: unknown image format {extension or '(none)'!r}; use one of {', '.join(formats)}"
        )
    return path


# --------------------------------------------------------------------------- train


def _confusion(y_true: np.ndarray, y_pred: np.ndarray, classes: int) -> np.ndarray:
    matrix = np.zeros((classes, classes), dtype=int)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def _format_confusion(matrix: np.ndarray) -> str:
    width = max(3, len(str(matrix.max())) + 1)
    head = "true\\pred " + "".join(f"{j:>{width}}" for j in range(len(matrix)))
    rows = [f"{i:>9} " + "".join(f"{v:>{width}}" for v in row) for i, row in enumerate(matrix)]
    return "\n".join([head, *rows])


def _train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from . import optimizers
    from .examples import EXAMPLES, from_file
    from .plots import PlotProcess, decision_boundary

    note = None
    if args.data is None:
        for option, value in (("--model", args.model), ("--classes", args.classes)):
            if value is not None:
                raise UsageError(f"{option} applies only with --data (the examples bring their own network)")
    elif args.example is not None:
        raise UsageError("--example and --data exclude each other: --data trains on your file")
    if args.data is not None:
        if not os.path.isfile(args.data):
            raise UsageError(f"--data {args.data!r}: no such file")
        try:
            ex, note = from_file(args.data, args.model or "cnn", args.classes)
        except ValueError as exc:
            raise UsageError(f"--data {args.data!r}: {exc}") from None
    else:
        ex = EXAMPLES[args.example or "digits"]
    plot = None if args.no_plot else _plot_file(args.plot or f"fastnn-{ex.name}.png")
    save = _writable_file(args.save, "--save") if args.save else None
    epochs = ex.epochs if args.epochs is None else args.epochs
    batch_size = ex.batch_size if args.batch_size is None else args.batch_size
    lr = ex.learning_rate if args.lr is None else args.lr
    opt_name = args.optimizer or ex.optimizer
    dtype = np.dtype(args.dtype)

    comm, rank = None, 0
    if args.distributed:
        from . import distributed

        try:
            comm = distributed.world()
        except ImportError as exc:
            raise UsageError(str(exc)) from None
        rank = comm.Get_rank()
    say = print if rank == 0 else (lambda *a, **k: None)  # only rank 0 prints and writes files
    plotter = PlotProcess(plot) if plot and rank == 0 else None  # imports matplotlib while we train

    x_train, y_train, x_test, y_test = ex.load(args.seed)
    x_train, x_test = x_train.astype(dtype), x_test.astype(dtype)
    net = ex.build(args.seed)
    net.astype(dtype)
    net.input_divisor = ex.input_divisor
    say(f"fastnn train: {ex.name} -- {ex.description}")
    say(
        f"data: {len(x_train)} training and {len(x_test)} test samples, {dtype}; "
        f"{epochs} epochs, batch {batch_size}, {opt_name} lr={lr:g}, seed {args.seed}"
        + (f"; data-parallel over {comm.Get_size()} MPI ranks" if comm is not None else "")
    )
    if note:
        say(f"data: {note}")
    net.summary(print_fn=say)

    optimizer = optimizers.get(opt_name, lr)
    epoch_times: list[float] = []
    quiet = epochs == 0 or rank != 0
    bar = tqdm(total=epochs, unit="epoch", desc=ex.name, file=sys.stdout, dynamic_ncols=True, disable=quiet)
    started = last = time.perf_counter()
    from kernels.config import COMPILE_NOTICE, CompileNotice

    def on_compile(count: int) -> None:  # a first run compiles: the bar says so instead of sitting at 0
        bar.set_postfix_str(f"compiling ({count} functions so far, once)", refresh=True)

    COMPILE_NOTICE.on_compile, COMPILE_NOTICE.write = on_compile, lambda line: bar.write(line, file=sys.stderr)

    def on_epoch(epoch: int, logs: dict[str, float]) -> None:
        nonlocal last
        now = time.perf_counter()
        epoch_times.append(now - last)
        last = now
        bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()}, refresh=False)
        bar.update(1)

    history = net.fit(
        x_train,
        y_train,
        epochs=epochs,
        learning_rate=lr,
        batch_size=batch_size,
        optimizer=optimizer,
        shuffle=batch_size > 1,
        seed=args.seed,
        verbose=False,
        validation_data=(x_test, y_test),
        callback=on_epoch,
        comm=comm,
    )
    bar.close()
    COMPILE_NOTICE.on_compile, COMPILE_NOTICE.write = None, CompileNotice().write
    total = time.perf_counter() - started

    out = np.asarray(net.predict(x_test))
    accuracy = float(np.mean(predicted_labels(out) == true_labels(y_test)))
    if comm is not None:  # every rank scores a shard of the test set; the counts are summed
        from . import distributed

        accuracy = distributed.evaluate(net, x_test, y_test, comm)["accuracy"]
        if rank != 0:
            return 0
        stats = net.distributed_stats
        print(
            f"\nglobal test accuracy over {comm.Get_size()} ranks: {accuracy:.4f} ({len(x_test)} samples); "
            f"{stats.steps} steps, {stats.allreduce_seconds * 1e3:.1f} ms in Allreduce on rank 0"
        )
    else:
        print(f"\ntest accuracy: {accuracy:.4f} ({len(x_test)} samples)")
    print("confusion matrix (rows: true class, columns: predicted):")
    print(_format_confusion(_confusion(true_labels(y_test), predicted_labels(out), ex.classes)))
    if epoch_times:
        steady = epoch_times[1:] or epoch_times
        first = {
            "compiled": "includes compiling, or loading the cached compiled code",
            "numpy": "small work: trained in numpy, nothing compiled",
            "layers": "layer by layer",
        }.get(net.last_fit_path or "", "")
        print(
            f"time: {total:.2f} s in all; first epoch {epoch_times[0] * 1e3:.1f} ms ({first}), "
            f"then {np.median(steady) * 1e3:.1f} ms per epoch (median)"
        )
    if args.compare_reference:
        fast_epoch = np.median(epoch_times[1:] or epoch_times) if epoch_times else None
        _compare_reference(ex, args.seed, dtype, (x_train, y_train), (batch_size, lr, opt_name), fast_epoch)
    if save:
        net.save(save)
        print(f"model written to {save}")
    if plotter is not None:
        boundary = None
        if ex.name == "moons":  # seed 003's picture: the regions over all the data
            boundary = decision_boundary(net, np.concatenate([x_train, x_test]), np.concatenate([y_train, y_test]))
        try:
            plotter.finish(history, f"fastnn {ex.name}: test accuracy {accuracy:.3f}", boundary)
        except RuntimeError as exc:
            print(f"fastnn train: {exc}", file=sys.stderr)
            return 1
        print(f"plot written to {plot}")
    return 0


def _compare_reference(
    ex: Any,
    seed: int,
    dtype: np.dtype,
    data: tuple[np.ndarray, np.ndarray],
    training: tuple[int, float, str],
    fast_epoch: float | None,
) -> None:
    """The same training on the reference path; ``training`` = (batch size, learning rate, optimizer)."""
    from . import optimizers
    from .refpath import reference_path

    (x, y), (batch_size, lr, opt_name) = data, training

    net = ex.build(seed).astype(dtype)
    with reference_path():
        start = time.perf_counter()
        net.fit(
            x,
            y,
            epochs=1,
            learning_rate=lr,
            batch_size=batch_size,
            optimizer=optimizers.get(opt_name, lr),
            shuffle=batch_size > 1,
            verbose=False,
        )
        ref = time.perf_counter() - start
    line = f"reference path (numpy/scipy kernels, layer by layer): {ref * 1e3:.1f} ms per epoch"
    if fast_epoch:
        line += f"; fastnn is {ref / fast_epoch:.1f}x faster"
    print(line)


# --------------------------------------------------------------------------- other commands


def _validate(args: argparse.Namespace) -> int:
    from kernels import config, validate
    from kernels.registry import BY_NAME, REGISTRY

    kernels = {e.kernel_name for e in REGISTRY}
    unknown = [n for n in args.kernel if n not in BY_NAME and n not in kernels]
    if unknown:
        raise UsageError(f"unknown kernel(s) {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
    # a kernel's name selects its variants too ("correlate2d" -> "correlate2d/wrap", ...)
    entries = [e for e in REGISTRY if e.name in args.kernel or e.kernel_name in args.kernel] or list(REGISTRY)
    start = time.perf_counter()
    results = validate.run(entries, cases=args.cases, first_seed=args.seed)
    print(validate.table(results))
    failed = sum(not r.ok for r in results)
    settings = config.settings()
    print(
        f"\n{len(results)} cases, {failed} failed, {time.perf_counter() - start:.1f} s "
        f"(numba {settings['numba']}, cache={settings['cache']}, fastmath={settings['fastmath']})"
    )
    return 1 if failed else 0


def _bench(args: argparse.Namespace) -> int:
    from . import bench

    if args.json:
        _writable_file(args.json, "--json")
    return bench.main(quick=args.quick, json_path=args.json, first_epoch=args.first_epoch)


def _input_array(path: str) -> np.ndarray:
    """The samples in a .npy file, or in an .npz holding one array; UsageError for anything else."""
    with open(path, "rb") as f:
        head = f.read(6)
    if head.startswith(b"PK\x03\x04"):
        try:
            with np.load(path, allow_pickle=False) as archive:
                names = archive.files
                if len(names) != 1:
                    raise UsageError(
                        f"--input {path!r} holds {len(names)} arrays ({', '.join(names) or 'none'}); "
                        "give a .npy file or an .npz with one array"
                    )
                return archive[names[0]]
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise UsageError(f"--input {path!r} is a damaged .npz archive ({exc})") from None
    if not head.startswith(b"\x93NUMPY"):
        raise UsageError(f"--input {path!r} is not a .npy/.npz array file")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise UsageError(f"--input {path!r} is not a readable .npy array ({exc})") from None


def _predict(args: argparse.Namespace) -> int:
    from .network import Network

    if not os.path.isfile(args.model):
        raise UsageError(f"--model {args.model!r}: no such file")
    if not os.path.isfile(args.input):
        raise UsageError(f"--input {args.input!r}: no such file")
    try:
        net = Network.load(args.model)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    x = _input_array(args.input)
    if x.dtype == np.uint8 and net.input_divisor is not None:  # raw pixels, scaled as training scaled them
        x = x / net.input_divisor
    first = net.layers[0]
    if x.ndim == 3 and getattr(first, "input_shape", None) == (*x.shape[1:], 1):  # (N, H, W), as train --data took
        x = x[..., None]
    if args.output:
        _writable_file(args.output, "--output")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = np.asarray(net.predict(x))
    except (ValueError, TypeError) as exc:
        raise UsageError(f"the model cannot take --input {args.input!r}: {exc}") from None
    for warning in caught:  # one line each, not Python's file:line form
        print(f"fastnn predict: warning: {warning.message}", file=sys.stderr)
    if args.output:
        written = args.output if args.output.endswith(".npy") else args.output + ".npy"  # np.save adds it
        np.save(written, out)
        print(f"{len(out)} predictions written to {written}")
    else:
        labels = predicted_labels(out.reshape(len(out), -1))
        for i, (label, row) in enumerate(zip(labels, out.reshape(len(out), -1), strict=True)):
            print(f"{i}: class {label}  (outputs {np.array2string(row, precision=3, max_line_width=200)})")
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    from .examples import EXAMPLES

    parser = _Parser(
        prog="fastnn", description="Train, validate and benchmark fastnn. With no command: train the digits example."
    )
    sub = parser.add_subparsers(dest="command")

    tr = sub.add_parser("train", help="train an example network on embedded data (default: digits)")
    tr.add_argument("--example", choices=sorted(EXAMPLES), help="the example to train (default digits)")
    tr.add_argument(
        "--data",
        metavar="FILE.npz",
        help="train on your own images: an .npz with x_train, y_train, x_test, y_test (Keras's mnist.npz layout)",
    )
    tr.add_argument("--model", choices=["cnn", "mlp"], help="with --data: the network (default cnn)")
    tr.add_argument(
        "--classes",
        type=_positive_int,
        metavar="K",
        help="with --data: the number of classes, when some have no training sample (default: labels 0..K-1)",
    )
    tr.add_argument("--epochs", type=_non_negative_int, help="default: the example's")
    tr.add_argument("--batch-size", type=_positive_int)
    tr.add_argument("--lr", type=_positive_float, help="learning rate")
    tr.add_argument("--optimizer", choices=["sgd", "momentum", "rmsprop", "adam"])
    tr.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    tr.add_argument("--seed", type=_non_negative_int, default=0)
    tr.add_argument("--save", metavar="MODEL.npz", help="write the trained model here")
    tr.add_argument("--plot", metavar="PNG", help="curve file (default: fastnn-<example>.png here)")
    tr.add_argument("--no-plot", action="store_true", help="do not write the curve file")
    tr.add_argument(
        "--compare-reference",
        action="store_true",
        help="also time one epoch on the numpy/scipy reference path and print the speedup",
    )
    tr.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel over MPI: mpiexec -n N python -m fastnn train --distributed",
    )
    tr.set_defaults(run=_train)

    val = sub.add_parser("validate", help="check every kernel against its numpy/scipy reference twin")
    val.add_argument("--cases", type=_positive_int, default=24, help="random cases per kernel and dtype (default 24)")
    val.add_argument("--seed", type=_non_negative_int, default=0, help="first random seed (default 0)")
    val.add_argument(
        "--kernel", action="append", default=[], help="only this kernel and its variants, or one variant (repeatable)"
    )
    val.set_defaults(run=_validate)

    ben = sub.add_parser("bench", help="time fastnn against the reference path (and PyTorch when installed)")
    ben.add_argument("--quick", action="store_true", help="fewer repeats, skip the largest shapes")
    ben.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    ben.add_argument(
        "--first-epoch",
        action="store_true",
        help="only the whole-process rows: fresh processes to the end of their first epoch (cold, warm, PyTorch)",
    )
    ben.set_defaults(run=_bench)

    pr = sub.add_parser("predict", help="predictions of a saved model for a .npy array of samples")
    pr.add_argument("--model", required=True, metavar="MODEL.npz")
    pr.add_argument("--input", required=True, metavar="X.npy")
    pr.add_argument("--output", metavar="OUT.npy", help="save the outputs instead of printing them")
    pr.set_defaults(run=_predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    commands = ("train", "validate", "bench", "predict")
    if argv and not argv[0].startswith("-") and argv[0] not in commands:
        parser.error(f"invalid choice: {argv[0]!r} (choose from {', '.join(commands)})")  # a mistyped command
    args = parser.parse_args(argv if argv and argv[0] in (*commands, "-h", "--help") else ["train", *argv])
    try:
        return args.run(args)
    except UsageError as exc:
        print(f"fastnn {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fastnn {args.command}: interrupted", file=sys.stderr)
        return 130
