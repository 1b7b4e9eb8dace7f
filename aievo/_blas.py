"""Run numpy's BLAS on one thread for a while.

The mesa modules multiply many small matrices. Threaded BLAS only adds
synchronisation there: on this project's 2-core machine ``aievo figures
--only mesa`` took 295 s with the default threads and 76 s with one. numpy has
no API for the thread count; threadpoolctl (a dependency) sets it for every BLAS
and OpenMP runtime it finds (OpenBLAS, MKL, BLIS, Accelerate's vecLib is left as is).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = ["single_threaded_blas", "with_single_threaded_blas"]

F = TypeVar("F", bound=Callable[..., Any])


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Context manager: BLAS calls inside run on one thread; the old count is restored."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def with_single_threaded_blas(func: F) -> F:
    """Decorator form of :func:`single_threaded_blas`."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with single_threaded_blas():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
