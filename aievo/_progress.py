"""Optional progress display for long work (figures, sweeps, long runs).

tqdm is used when installed (``pip install aievo[progress]``); otherwise a
one-line display on stderr when stderr is a terminal; nothing when quiet.
"""

from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator, TypeVar

__all__ = ["progress", "set_quiet"]

T = TypeVar("T")
_QUIET = False


def set_quiet(quiet: bool) -> None:
    """Silence (or re-enable) every progress display of this process."""
    global _QUIET
    _QUIET = bool(quiet)


def _enabled(enabled: bool | None) -> bool:
    if enabled is not None:
        return enabled and not _QUIET
    return not _QUIET and sys.stderr.isatty()


def progress(
    iterable: Iterable[T], *, total: int | None = None, desc: str = "", enabled: bool | None = None
) -> Iterator[T]:
    """Iterate over ``iterable`` showing progress on stderr.

    Parameters
    ----------
    iterable : iterable
        Items to iterate over.
    total : int, optional
        Number of items, when ``len(iterable)`` is not available.
    desc : str
        Label shown before the counter.
    enabled : bool, optional
        Force the display on or off; by default it is on when stderr is a
        terminal and :func:`set_quiet` has not been called.
    """
    if not _enabled(enabled):
        yield from iterable
        return
    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        tqdm = None
    if tqdm is not None:
        yield from tqdm(iterable, total=total, desc=desc, file=sys.stderr, leave=False)
        return
    start = time.perf_counter()
    count = 0
    for item in iterable:
        yield item
        count += 1
        elapsed = time.perf_counter() - start
        of = f"/{total}" if total is not None else ""
        sys.stderr.write(f"\r{desc} {count}{of} [{elapsed:6.1f}s]")
        sys.stderr.flush()
    sys.stderr.write("\n")
    sys.stderr.flush()
