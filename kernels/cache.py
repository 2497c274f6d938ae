"""Where fastnn's compiled code is kept, and how it is keyed and shared.

numba keys a cached function on its source file's path and modification time; fastnn keys its
functions on the content of every source file with jitted code (:func:`sources_hash`), in one
directory per user (:func:`cache_root`), so every install location and reinstall of the same
code shares it. :func:`guard` makes a dispatcher's cache safe to share between processes (damaged
files are misses, one process compiles a function while the others wait). :func:`writable`
checks the directory before anything is cached there: an unwritable one means no disk cache,
never numba's fallback of a ``__pycache__`` beside the sources (site-packages).
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def guard(dispatcher: Any, on_wait: Callable[[Any], None]) -> None:
    """Make the dispatcher's disk cache safe to share.

    A truncated or garbled cache file (a crash mid-write, a full disk) makes numba raise while
    loading it, and a race between processes can pair a signature with another overload's code:
    both are a cache miss (the damaged index is deleted, the function compiled and saved afresh).
    And nothing compiles twice at once: on a miss the process takes a lock file for that function,
    looks in the cache again (another process may just have saved it), and holds the
    lock while it compiles and saves, so that processes started together (MPI ranks, test workers)
    compile each function once and the others load it."""
    cache = getattr(dispatcher, "_cache", None)
    load, save = getattr(cache, "load_overload", None), getattr(cache, "save_overload", None)
    if load is None or save is None:
        return
    index = getattr(getattr(cache, "_cache_file", None), "_index_path", None)

    def forget() -> None:
        if index:
            try:
                os.unlink(index)
            except OSError:
                pass

    def checked_load(sig: Any, target_context: Any) -> Any:
        try:
            result = load(sig, target_context)
        except Exception:
            forget()
            return None
        # Processes compiling different overloads of one function at once can leave the index
        # pointing at another overload's data file (numba #4807, #10128): machine code for the wrong
        # types, a crash when called. Such an entry is a miss: recompile and save it again.
        if result is not None and tuple(getattr(result.signature, "args", ())) != tuple(sig):
            forget()
            return None
        return result

    def safe_load(sig: Any, target_context: Any) -> Any:
        result = checked_load(sig, target_context)
        if result is not None or not index:
            return result
        # One lock per function (its index file), not per signature: numba rewrites the whole index to
        # add an overload, so two processes saving different overloads at once could lose one.
        lock = _CompileLock.acquire(f"{index}.lock", lambda: on_wait(dispatcher))
        if lock is None:
            return None
        result = checked_load(sig, target_context)
        if result is not None:  # compiled by the process that held the lock
            lock.release()
            return result
        _HELD.setdefault(id(dispatcher), []).append(lock)  # until saved, or the compile failed
        return None

    def safe_save(sig: Any, data: Any) -> None:
        try:
            save(sig, data)
        except Exception:
            forget()
        finally:
            release_held(dispatcher)

    cache.load_overload = safe_load
    cache.save_overload = safe_save


class _CompileLock:
    """An exclusive lock file (``flock``; released by the system if the holder dies)."""

    TIMEOUT = 600.0  # seconds to wait for another process's compile before compiling anyway

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @classmethod
    def acquire(cls, path: str, on_wait: Callable[[], None]) -> _CompileLock | None:
        try:
            import fcntl
        except ImportError:  # no flock (Windows): processes may compile the same function at once
            return None
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return None
        deadline, waited = time.monotonic() + cls.TIMEOUT, False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return cls(fd)
            except BlockingIOError:
                if not waited:  # another process compiles it for us: still a wait the user should hear of
                    on_wait()
                    waited = True
                if time.monotonic() > deadline:
                    os.close(fd)
                    return None
                time.sleep(0.02)
            except OSError:
                os.close(fd)
                return None

    def release(self) -> None:
        os.close(self.fd)  # closing the descriptor releases the flock


_HELD: dict[int, list[_CompileLock]] = {}


def release_held(dispatcher: Any) -> None:
    """Release the compile lock this process took for the dispatcher's last cache miss, if any."""
    held = _HELD.get(id(dispatcher))
    if held:
        held.pop().release()


# numba keys a cached function on its source file's path and modification time: an edited helper
# in another module could load stale machine code (at worst a crash), and every install location or
# reinstall of the same code compiles everything again. fastnn's functions are keyed on content
# instead: a hash of every source file that holds jitted code, in one cache directory per user
# whatever the install location. The index
# numba keeps there also checks its own version and the CPU the code was compiled for.
_PACKAGES = (Path(__file__).resolve().parent, Path(__file__).resolve().parent.parent / "fastnn")
_CONFIG = Path(__file__).resolve().with_name("config.py")


def jitted_sources() -> list[Path]:
    """The files whose text becomes machine code: every module of either package that compiles
    functions (it calls ``jit``) or extends numba (intrinsics and overloads installed by
    ``when_numba_loads``), and ``kernels/config.py``, which sets how they compile. Editing the
    registry, the twins, the checks or this module leaves the cache valid."""
    found = [_CONFIG]
    for package in _PACKAGES:
        for path in sorted(package.rglob("*.py")):  # subpackages too (fastnn.ops)
            text = path.read_text(encoding="utf-8")
            if path not in found and _COMPILES.search(text):
                found.append(path)
    return found


def split_cores() -> int:
    """The cores fixed work splits are sized for and compiled in as constants (kernels.dense's blocks,
    the convolutions' parts): the machine's, up to 4 -- the machine's, not the thread setting, so
    that no number depends on the threads. Part of the cache's key."""
    return max(1, min(os.cpu_count() or 1, 4))


_COMPILES = re.compile(r"^\s*(@jit\b|when_numba_loads\()", re.M)  # a decorated function, an extension
_HASH: str | None = None


def sources_hash() -> str:
    """The hash of every source file that holds jitted code and of :func:`split_cores`, computed once
    (when numba loads)."""
    global _HASH
    if _HASH is None:
        import hashlib  # here, not at import: 3 ms of every start that never compiles

        digest = hashlib.sha256()
        # A cache shared by machines whose split_cores differ keeps their code apart.
        digest.update(f"cores={split_cores()}".encode())
        for path in jitted_sources():
            digest.update(f"{path.parent.name}/{path.name}".encode())
            digest.update(path.read_bytes() if path.exists() else b"")
        _HASH = digest.hexdigest()
    return _HASH


def cache_root() -> Path:
    """Where compiled code is kept: ``FASTNN_CACHE_DIR``, else numba's ``NUMBA_CACHE_DIR``, else the
    user's cache directory (``$XDG_CACHE_HOME/fastnn`` or ``~/.cache/fastnn``)."""
    for name in ("FASTNN_CACHE_DIR", "NUMBA_CACHE_DIR"):
        value = os.environ.get(name, "").strip()
        if value:
            return Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base) / "fastnn"


def install_locator() -> None:
    try:
        from numba.core import caching
    except ImportError:  # numba moved its internals: keep its default (per-file) keys
        return
    impl = getattr(caching, "CacheImpl", None)
    base = getattr(caching, "_CacheLocator", None)
    if impl is None or base is None or not hasattr(impl, "_locator_classes"):
        return
    roots = tuple(str(p) + os.sep for p in _PACKAGES)
    stamp = sources_hash()

    class FastnnContentLocator(base):  # type: ignore[misc, valid-type]
        """fastnn's functions: one directory per source hash and package, stamped with the hash."""

        def __init__(self, py_func: Any, py_file: str) -> None:
            self._lineno = py_func.__code__.co_firstlineno
            package = Path(py_file).resolve().parent.name
            self._cache_path = str(cache_root() / stamp[:24] / package)

        def get_cache_path(self) -> str:
            return self._cache_path

        def get_source_stamp(self) -> str:
            return stamp

        def get_disambiguator(self) -> str:
            return str(self._lineno)

        @classmethod
        def from_function(cls, py_func: Any, py_file: str) -> Any:
            if not os.path.abspath(py_file).startswith(roots):
                return None
            locator = cls(py_func, py_file)
            try:
                locator.ensure_cache_path()
            except OSError:
                return None  # an unwritable cache directory: numba's own locators decide
            return locator

    impl._locator_classes = [FastnnContentLocator] + [
        c for c in impl._locator_classes if c.__name__ != "FastnnContentLocator"
    ]


def writable() -> bool:
    """Whether this code's cache directory can be created and written (tried, not asked: ``os.access``
    says yes to root on read-only file systems)."""
    path = cache_root() / sources_hash()[:24]
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError:
        return False
    return True


def precompiled_dirs() -> list[Path]:
    """Directories holding install-time compiled code for these very sources (``fastnn/_compiled/<hash>``
    written by the package build): beside these sources, and in every ``fastnn`` on the import path
    (the test suite imports its checkout, while the install holds the code: the same sources, the
    same hash)."""
    stamp = sources_hash()[:24]
    places = [_PACKAGES[1] / "_compiled" / stamp]
    places += [Path(entry or ".").resolve() / "fastnn" / "_compiled" / stamp for entry in sys.path]
    return [p for p in dict.fromkeys(places) if p.is_dir()]


def seed_from_install() -> int:
    """Copy install-time compiled code into this code's cache directory, once per directory, never
    over a file it already has; the number of files copied. ``FASTNN_PRECOMPILED=0`` skips it."""
    if os.environ.get("FASTNN_PRECOMPILED", "1").strip() == "0":
        return 0
    target = cache_root() / sources_hash()[:24]
    marker = target / ".seeded"
    if marker.exists():
        return 0
    import shutil

    copied, sources = 0, precompiled_dirs()
    for source in sources:
        for path in sorted(source.rglob("*")):
            if not path.is_file() or path.name.endswith(".lock"):
                continue
            dest = target / path.relative_to(source)
            if dest.exists():
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            partial = dest.with_name(f"{dest.name}.{os.getpid()}.partial")
            shutil.copyfile(path, partial)
            os.replace(partial, dest)  # whole or absent: a reader never sees half a file
            copied += 1
    if sources:
        marker.touch()
    return copied
