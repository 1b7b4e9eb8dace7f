"""Run numpy's BLAS on one thread for a while.

The mesa modules multiply many small matrices. Threaded BLAS only adds
synchronisation there: on this project's 2-core machine ``aievo figures
--only mesa`` took 295 s with the default threads and 76 s with one. numpy has
no API for the thread count, so this uses threadpoolctl when it is installed
and otherwise calls OpenBLAS's own ``*_set_num_threads`` through ctypes
(Linux). Where neither works the context manager does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
from typing import Any, Callable, Iterator, TypeVar

__all__ = ["single_threaded_blas", "with_single_threaded_blas"]

F = TypeVar("F", bound=Callable[..., Any])

_SETTERS = ("openblas_set_num_threads", "scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads")
_GETTERS = ("openblas_get_num_threads", "scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads")


@functools.lru_cache(maxsize=1)
def _openblas_handles() -> tuple[tuple[Any, Any], ...]:
    import numpy  # noqa: F401  (make sure numpy's BLAS is loaded)

    del numpy

    try:
        with open("/proc/self/maps") as fh:
            paths = {line.split()[-1] for line in fh if "openblas" in line.lower() and "/" in line}
    except OSError:
        return ()
    handles = []
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        setter = next((getattr(lib, s) for s in _SETTERS if hasattr(lib, s)), None)
        getter = next((getattr(lib, g) for g in _GETTERS if hasattr(lib, g)), None)
        if setter is not None and getter is not None:
            getter.restype = ctypes.c_int
            handles.append((getter, setter))
    return tuple(handles)


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Context manager: BLAS calls inside run on one thread; the old count is restored."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    if threadpool_limits is not None:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
        return
    handles = _openblas_handles()
    previous = [get() for get, _ in handles]
    for _, set_ in handles:
        set_(1)
    try:
        yield
    finally:
        for (_, set_), n in zip(handles, previous):
            set_(n)


def with_single_threaded_blas(func: F) -> F:
    """Decorator form of :func:`single_threaded_blas`."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with single_threaded_blas():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
