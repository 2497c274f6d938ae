"""The one place that decides how numba compiles fastnn's kernels.

Environment switches (read once, at import):

``FASTNN_CACHE``     ``1`` (default) caches compiled machine code on disk (numba's ``cache=True``);
                     ``0`` compiles in memory only.
``FASTNN_CACHE_DIR`` where: default ``NUMBA_CACHE_DIR`` if set, else ``~/.cache/fastnn`` (or
                     ``$XDG_CACHE_HOME/fastnn``); keyed on the sources' content, so every install
                     location and reinstall of the same code shares it.
``FASTNN_QUIET``     ``1`` silences the one-line notice printed before anything compiles.
``FASTNN_FASTMATH``  ``0`` (default) keeps IEEE semantics: NaN and inf propagate as in numpy.
                     ``1`` lets LLVM reassociate and assume finite values (faster reductions,
                     but NaN checks may be optimised away). Never on in tests.
``FASTNN_PARALLEL``  ``1`` (default) lets kernels marked parallel use numba's thread pool
                     (``prange`` over the batch); ``0`` compiles them serial.

numba itself is imported when the first compiled function is called, not before: importing fastnn
and running the small networks that never reach a compiled kernel costs no numba start-up (#17).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any

from . import cache


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() not in ("0", "false", "no", "off")


CACHE: bool = _flag("FASTNN_CACHE", True)
FASTMATH: bool = _flag("FASTNN_FASTMATH", False)
PARALLEL: bool = _flag("FASTNN_PARALLEL", True)


def jit(
    func: Callable[..., Any] | None = None, *, parallel: bool = False, contract: bool = False, inline: bool = False
) -> Any:
    """``numba.njit`` with fastnn's settings; use as ``@jit`` or ``@jit(parallel=True)``.

    Kernels are compiled lazily, once per dtype signature, and cached on disk when
    ``FASTNN_CACHE`` is on; numba is imported on the first call (see :class:`Jitted`).
    ``parallel=True`` only takes effect when ``FASTNN_PARALLEL`` is on.
    Call parallel functions from Python only, never from another jitted function: a cached caller
    compiled against a cached parallel callee crashed when reloaded (tests/test_reliability.py).
    ``contract=True`` lets LLVM fuse ``a*b + c`` into one FMA instruction (one rounding instead
    of two; NaN and inf behave as before). The dense loops use it so that small products round
    exactly as numpy's BLAS ``np.dot`` does. ``inline=True`` inlines the function into its jitted
    callers at numba's IR level (no call, no reference counting of a dozen array arguments).
    """
    math_flags: bool | set[str] = True if FASTMATH else ({"contract"} if contract else False)
    options = {
        "cache": CACHE,
        "fastmath": math_flags,
        "parallel": parallel and PARALLEL,
        "nogil": True,
        "error_model": "numpy",
        "inline": "always" if inline else "never",
    }

    def wrap(f: Callable[..., Any]) -> Jitted:
        return Jitted(f, options)

    return wrap if func is None else wrap(func)


class Jitted:
    """A function numba compiles when it is first needed, with numba imported only then.

    The first call (or the first time numba meets it inside another function being compiled, or
    any dispatcher attribute asked for) makes the numba dispatcher and puts it in place of this
    object in the module that defined it, so later calls from Python go to numba directly.
    """

    def __init__(self, func: Callable[..., Any], options: dict[str, Any]) -> None:
        self.py_func = func
        self.options = options
        self._dispatcher: Any = None
        self.__name__, self.__qualname__ = func.__name__, func.__qualname__
        self.__doc__, self.__module__ = func.__doc__, func.__module__

    def dispatcher(self) -> Any:
        d = self._dispatcher
        if d is None:
            with _LOCK:
                if self._dispatcher is None:
                    numba = numba_module()
                    d = numba.njit(**dict(self.options, cache=self.options["cache"] and not _CACHE_OFF))(self.py_func)
                    cache.guard(d, COMPILE_NOTICE.started)
                    self._dispatcher = d
                    module = sys.modules.get(self.__module__)
                    if getattr(module, self.__name__, None) is self:
                        setattr(module, self.__name__, d)
            d = self._dispatcher
        return d

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.dispatcher()(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:  # numba asks for _numba_type_, targetoptions, ...
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.dispatcher(), name)

    def __repr__(self) -> str:
        state = "compiled on demand" if self._dispatcher is None else repr(self._dispatcher)
        return f"<fastnn jitted {self.__module__}.{self.__qualname__}: {state}>"


_LOCK = threading.RLock()
_NUMBA: Any = None
_CACHE_OFF: list[str] = []  # the cache directory, when it could not be written (nothing is cached)
_ON_LOAD: list[Callable[[Any], None]] = []


def when_numba_loads(install: Callable[[Any], None]) -> None:
    """Run ``install(numba)`` once numba is imported (now, if it is): numba extensions (overloads,
    intrinsics) that fastnn's compiled functions need."""
    with _LOCK:
        _ON_LOAD.append(install)
        if _NUMBA is not None:
            install(_NUMBA)


def numba_module() -> Any:
    """numba, imported on first use with fastnn's cache locator, compile notice and extensions."""
    global _NUMBA
    if _NUMBA is None:
        with _LOCK:
            if _NUMBA is None:
                import numba

                # An object-mode block holds the GIL while it runs, which numba warns of in nogil
                # functions; fastnn's blocks only start a parallel kernel.
                warnings.filterwarnings("ignore", "Code running in object mode won't allow parallel execution")
                if CACHE and not cache.writable():
                    _CACHE_OFF.append(str(cache.cache_root()))
                    COMPILE_NOTICE.write(
                        f"fastnn: cannot write {cache.cache_root()}: compiled code is not cached; set FASTNN_CACHE_DIR"
                    )
                elif CACHE:
                    cache.seed_from_install()
                    cache.install_locator()
                _install_compile_listener()
                for install in _ON_LOAD:
                    install(numba)
                _NUMBA = numba
    return _NUMBA


def __getattr__(name: str) -> Any:
    if name == "prange":  # numba.prange, for jitted loops: ``config.prange`` resolves when they compile
        return numba_module().prange
    if name == "objmode":  # numba.objmode: a block of a jitted function run by Python (see fastnn.ops.conv)
        return numba_module().objmode
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class CompileNotice:
    """Says so, once per process, before numba compiles any of fastnn's functions (a cache miss):
    what, why and about how long. ``on_compile``, when set, is called with the count of functions
    compiled so far (the CLI shows it in its progress bar)."""

    def __init__(self) -> None:
        self.compiled = 0
        self.on_compile: Callable[[int], None] | None = None
        self.write: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)

    def message(self) -> str:
        if _CACHE_OFF:
            where = f"not cached: cannot write {_CACHE_OFF[0]}"
        else:
            where = f"cached in {cache.cache_root()}" if CACHE else "not cached: FASTNN_CACHE=0"
        return (
            "fastnn: compiling its kernels for this machine and these dtypes -- the first run here, after an "
            f"upgrade, or with a new dtype; typically 10-40 s, once ({where})"
        )

    def started(self, dispatcher: Any) -> None:
        module = getattr(getattr(dispatcher, "py_func", None), "__module__", "") or ""
        if not module.startswith(("kernels", "fastnn")):
            return
        if type(dispatcher).__name__ == "ObjModeLiftedWith":
            # An object-mode block of a cached function: numba builds its Python-calling stub in
            # each process (milliseconds, nothing to cache); not what the notice is about.
            return
        if self.compiled == 0 and os.environ.get("FASTNN_QUIET", "").strip() not in ("1", "true", "yes"):
            self.write(self.message())
        self.compiled += 1
        if self.on_compile is not None:
            self.on_compile(self.compiled)


COMPILE_NOTICE = CompileNotice()


def _install_compile_listener() -> None:
    try:
        from numba.core import event
    except ImportError:
        return

    class _Listener(event.Listener):
        def on_start(self, ev: Any) -> None:
            data = ev.data if isinstance(ev.data, dict) else {}
            COMPILE_NOTICE.started(data.get("dispatcher"))

        def on_end(self, ev: Any) -> None:
            # A failed compile saves nothing: release its lock so waiting processes compile it. (numba's
            # Event.is_failed is inverted in 0.68 -- True when the compile succeeded -- so the
            # exception details are read directly.)
            if getattr(ev, "_exc_details", None) is not None:
                data = ev.data if isinstance(ev.data, dict) else {}
                cache.release_held(data.get("dispatcher"))

    event.register("numba:compile", _Listener())


_blas_libs: dict[tuple[bool, bool], list[_Pool]] = {}
_blas_held: dict[tuple[bool, bool], list[Any]] = {}  # per kind of block: [blocks open (any thread), saved counts]
_blas_lock = threading.Lock()


class _Pool:
    """One BLAS library's thread count: threadpoolctl's controller, or OpenBLAS's own two C functions
    when its library exports them under a name tried here (0.15 + 0.3 us a call against 0.6 + 1.1)."""

    def __init__(self, lib: Any) -> None:
        self.get, self.set = lib.get_num_threads, lib.set_num_threads
        dynlib = getattr(lib, "dynlib", None)
        if lib.internal_api != "openblas" or getattr(lib, "threading_layer", None) != "pthreads" or dynlib is None:
            return
        for prefix in ("", "scipy_"):
            for suffix in ("", "64_"):
                get = getattr(dynlib, f"{prefix}openblas_get_num_threads{suffix}", None)
                set_ = getattr(dynlib, f"{prefix}openblas_set_num_threads{suffix}", None)
                if get is not None and set_ is not None:
                    self.get, self.set = get, set_
                    return


def _numba_blas(libs: list[Any]) -> list[Any]:
    """The BLAS numba's np.dot calls (scipy's, through scipy.linalg.cython_blas): the libraries under
    scipy's installation (its wheel's scipy.libs), else all of them (one shared BLAS, as conda's)."""
    import scipy

    home = os.path.dirname(scipy.__file__)
    return [lib for lib in libs if os.path.realpath(lib.filepath).startswith(home)] or libs


@contextlib.contextmanager
def blas_single_thread(numba_blas: bool = True, kernels_only: bool = False) -> Any:
    """Holds every BLAS thread pool at one thread inside the block (~4 us; inside another block of its
    kind, of any thread, ~1 us: it only counts, and the last one out restores the counts).

    Around numba-parallel kernels that call BLAS from each of numba's threads -- a multithreaded
    BLAS inside them would put 2 x 2 threads on 2 cores (10x slowdowns measured) -- and around
    every BLAS product fastnn makes: OpenBLAS's own threads change sgemm's last bits, so the
    numbers would depend on the thread count. ``numba_blas=False`` holds only the pools already
    loaded (numpy's), without loading scipy's, which numba's np.dot calls (a 0.15 s import);
    ``kernels_only`` only that one (half the cost, for the public kernels' single products).
    """
    key = (numba_blas, kernels_only)
    if key not in _blas_libs:
        if numba_blas:
            import scipy.linalg.cython_blas  # noqa: F401 - load the BLAS numba's np.dot calls, so it is seen
        from threadpoolctl import ThreadpoolController

        libs = [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
        _blas_libs[key] = [_Pool(lib) for lib in (_numba_blas(libs) if kernels_only else libs)]
    libs = _blas_libs[key]
    with _blas_lock:
        held = _blas_held.setdefault(key, [0, []])
        if held[0] == 0:
            held[1] = [lib.get() for lib in libs]
            for lib, n in zip(libs, held[1], strict=True):
                if n != 1:
                    lib.set(1)
        held[0] += 1
    try:
        yield
    finally:
        with _blas_lock:
            held[0] -= 1
            if held[0] == 0:
                for lib, n in zip(libs, held[1], strict=True):
                    if n != 1:
                        lib.set(n)


def threads() -> int:
    """The threads parallel kernels may use: numba's count (imports numba), 1 with FASTNN_PARALLEL=0."""
    return numba_module().get_num_threads() if PARALLEL else 1


def settings() -> dict[str, Any]:
    """The active settings, for reports (imports numba)."""
    numba = numba_module()
    return {
        "cache": CACHE,
        "cache_dir": str(cache.cache_root()) if CACHE and not _CACHE_OFF else "(off)",
        "fastmath": FASTMATH,
        "parallel": PARALLEL,
        "threads": numba.config.NUMBA_NUM_THREADS,
        "threading_layer": numba.config.THREADING_LAYER,
        "numba": numba.__version__,
    }
