"""Optional progress display for long work (figures, sweeps, long runs).

tqdm is used when installed (``pip install aievo[progress]``; in Jupyter its notebook widget);
otherwise a one-line display on stderr. The display is on by default in a terminal and in a Jupyter
notebook, off when output is redirected, and never when :func:`set_quiet` was called.

The display names the step that is running (``label``), not only the count of finished ones, and
messages go through :meth:`Progress.write`, which clears the bar's line first, so that a message
never shares a line with the bar.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TextIO, TypeVar

__all__ = ["Progress", "progress", "set_quiet"]

T = TypeVar("T")
_QUIET = False
_CLEAR = "\r\x1b[K"  # carriage return, then erase to the end of the line


def set_quiet(quiet: bool) -> None:
    """Silence (or re-enable) every progress display of this process."""
    global _QUIET
    _QUIET = bool(quiet)


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (an IPython ZMQ shell)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # an IPython that is imported but not running
        return False
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _enabled(enabled: bool | None) -> bool:
    if _QUIET:
        return False
    if enabled is not None:
        return bool(enabled)
    return in_notebook() or sys.stderr.isatty()


class Progress(Generic[T]):
    """Iterate over items while showing ``desc count/total label [elapsed]``.

    Made by :func:`progress`; iterate over it, and print messages with :meth:`write`.
    """

    def __init__(self, iterable: Iterable[T], total: int | None, desc: str, enabled: bool,
                 label: Callable[[T], str] | None) -> None:
        self._iterable = iterable
        self._total = total
        self._desc = desc
        self._enabled = enabled
        self._label = label
        self._tqdm: Any = None
        self._drawn = False
        self._last: tuple[int, str, float] = (0, "", 0.0)
        self._stream: TextIO = sys.stderr

    def __iter__(self) -> Iterator[T]:
        if not self._enabled:
            yield from self._iterable
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            tqdm = None
        if tqdm is not None:
            self._tqdm = tqdm(self._iterable, total=self._total, desc=self._desc, file=sys.stderr, leave=False)
            try:
                for item in self._tqdm:
                    if self._label is not None:
                        self._tqdm.set_postfix_str(self._label(item), refresh=True)
                    yield item
            finally:
                self._tqdm.close()
                self._tqdm = None
            return
        start = time.perf_counter()
        count = 0
        try:
            for item in self._iterable:
                label = self._label(item) if self._label is not None else ""
                self._draw(count, label, time.perf_counter() - start)
                yield item
                count += 1
                # the count is current while the next item is awaited (as tqdm's is)
                self._draw(count, label, time.perf_counter() - start)
            self._draw(count, "done", time.perf_counter() - start)
        finally:
            if self._drawn:
                self._stream.write("\n")
                self._stream.flush()
                self._drawn = False

    def _draw(self, count: int, label: str, elapsed: float) -> None:
        of = f"/{self._total}" if self._total is not None else ""
        running = f": {label}" if label else ""
        self._stream.write(f"{_CLEAR}{self._desc} {count}{of}{running} [{elapsed:.1f}s]")
        self._stream.flush()
        self._drawn = True
        self._last = (count, label, elapsed)

    def write(self, message: str, file: TextIO | None = None) -> None:
        """Print ``message`` on its own line (stdout by default), keeping the bar below it."""
        file = sys.stdout if file is None else file
        if self._tqdm is not None:
            self._tqdm.write(message, file=file)
            return
        if self._drawn:
            self._stream.write(_CLEAR)
            self._stream.flush()
        print(message, file=file, flush=True)
        if self._drawn:
            self._draw(*self._last)


def progress(
    iterable: Iterable[T], *, total: int | None = None, desc: str = "", enabled: bool | None = None,
    label: Callable[[T], str] | None = None,
) -> Progress[T]:
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
        Force the display on or off; by default it is on in a terminal (stderr is a tty) and in a
        Jupyter notebook, unless :func:`set_quiet` has been called (which always wins).
    label : callable, optional
        ``label(item)`` names the step that is running while ``item`` is processed.

    Returns
    -------
    Progress
        Iterate over it; print messages with its ``write`` method so they never share a line
        with the display.
    """
    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    return Progress(iterable, total, desc, _enabled(enabled), label)
