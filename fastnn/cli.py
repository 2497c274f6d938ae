"""``python -m fastnn`` / ``fastnn``: the command line."""

from __future__ import annotations

import argparse
import sys
import time


def _validate(args: argparse.Namespace) -> int:
    from kernels import config, validate
    from kernels.registry import BY_NAME, REGISTRY

    unknown = [n for n in args.kernel if n not in BY_NAME]
    if unknown:
        print(f"fastnn validate: unknown kernel(s) {', '.join(unknown)}; known: {', '.join(BY_NAME)}", file=sys.stderr)
        return 2
    entries = [BY_NAME[n] for n in args.kernel] if args.kernel else list(REGISTRY)
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

    return bench.main(quick=args.quick, json_path=args.json)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastnn", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    val = sub.add_parser("validate", help="check every kernel against its numpy/scipy reference twin")
    val.add_argument("--cases", type=int, default=24, help="random cases per kernel and dtype (default 24)")
    val.add_argument("--seed", type=int, default=0, help="first random seed (default 0)")
    val.add_argument("--kernel", action="append", default=[], help="only this kernel (repeatable)")
    val.set_defaults(run=_validate)
    ben = sub.add_parser("bench", help="time fastnn against the reference path (and PyTorch when installed)")
    ben.add_argument("--quick", action="store_true", help="fewer repeats, skip the largest shapes")
    ben.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    ben.set_defaults(run=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # the main job; until training lands, the validation
        args = parser.parse_args(["validate", *(argv or [])])
    if getattr(args, "cases", 1) < 1:
        parser.error(f"--cases must be >= 1; got {args.cases}")
    return args.run(args)
