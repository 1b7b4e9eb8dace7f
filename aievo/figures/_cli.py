"""``aievo figures``: write the registered figures to image files.

Usage::

    aievo figures [--only 1,5|fig2|paper|beyond|mesa] [--out DIR] [--format png,pdf] [--quick] [--dpi N]

Every selected figure is drawn once and saved in each format as
``DIR/<name>_<slug>.<format>`` (for example ``figures/fig1_survival-of-the-flattest.png``),
atomically: written to a temporary file in ``DIR`` and renamed into place. The
path of each file is printed as it is written. A figure whose drawing fails is
reported on stderr (with its traceback) and the others are still written; the
exit status is then 1.

Nothing heavy is imported at module level (``aievo --help`` stays fast).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ..errors import InvalidParameterError, bad_argument
from ..io import atomic_write

__all__ = ["configure", "run", "FORMATS", "file_stem", "parse_formats", "write_figure"]

#: Output formats accepted by ``--format``.
FORMATS: tuple[str, ...] = ("png", "pdf", "svg")


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``aievo figures`` to ``parser``."""
    parser.add_argument(
        "--only", metavar="SEL", default=None,
        help="comma-separated figures: numbers (1,5), names (fig2) or groups (paper, beyond, mesa); default all",
    )
    parser.add_argument("--out", metavar="DIR", default="figures", help="output directory (default ./figures)")
    parser.add_argument(
        "--format", metavar="FMT", default="png", dest="formats",
        help=f"comma-separated formats among {', '.join(FORMATS)} (default png)",
    )
    parser.add_argument("--quick", action="store_true", help="reduced sizes (fast; for checks)")
    parser.add_argument(
        "--retrain", action="store_true",
        help="train the transformers of checkpoint-based figures from scratch instead of loading the "
             "shipped checkpoints (needs the jax extra; minutes per model)",
    )
    parser.add_argument("--dpi", type=int, default=150, help="resolution of raster formats (default 150)")
    parser.add_argument("--list", action="store_true", help="list the registered figures and exit")


def slug(text: str) -> str:
    """A file-name slug of a caption: lower case, runs of other characters become ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def file_stem(name: str) -> str:
    """The file stem of a registered figure: ``<name>_<slug of its caption>``."""
    from . import get

    spec = get(name)
    s = slug(spec.caption)
    return f"{spec.name}_{s}" if s else spec.name


def parse_formats(text: str) -> list[str]:
    """Resolve ``--format`` (``"png,pdf"``) into a list of formats, refusing unknown ones."""
    formats: list[str] = []
    for token in (t.strip().lower().lstrip(".") for t in text.split(",")):
        if not token:
            continue
        if token not in FORMATS:
            raise bad_argument(InvalidParameterError, "--format", token, f"one of {', '.join(FORMATS)}")
        if token not in formats:
            formats.append(token)
    if not formats:
        raise bad_argument(InvalidParameterError, "--format", text, f"one or more of {', '.join(FORMATS)}")
    return formats


def write_figure(fig, path: Path, fmt: str, dpi: int) -> Path:
    """Save ``fig`` to ``path`` atomically (temporary file in the same directory, then rename)."""
    return atomic_write(path, lambda fh: fig.savefig(fh, format=fmt, dpi=dpi))


def run(args: argparse.Namespace) -> int:
    """Draw the selected figures and write them; returns the exit status."""
    from . import REGISTRY, get, make, select

    if args.list:
        for name, spec in REGISTRY.items():
            print(f"{name:<8} {spec.group:<6} {file_stem(name)}  ({spec.caption})")
        return 0
    names = select(args.only)
    if not names:
        raise bad_argument(
            InvalidParameterError, "--only", args.only,
            f"figure numbers, names ({', '.join(REGISTRY)}) or groups "
            f"({', '.join(sorted({s.group for s in REGISTRY.values()}))})",
        )
    formats = parse_formats(args.formats)
    if not 10 <= args.dpi <= 2400:
        raise bad_argument(InvalidParameterError, "--dpi", args.dpi, "an integer in [10, 2400]")
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise bad_argument(InvalidParameterError, "--out", str(out), f"a writable directory ({exc.strerror})") from None
    if not out.is_dir():
        raise bad_argument(InvalidParameterError, "--out", str(out), "a directory")

    import matplotlib

    matplotlib.use("Agg")
    from .._progress import progress

    failed: list[str] = []
    bar = progress(names, desc="figures", label=str)
    for name in bar:
        spec = get(name)
        try:
            fig = make(name, quick=args.quick, retrain=getattr(args, "retrain", False))
        except Exception:  # one broken figure must not stop the others
            import traceback

            failed.append(name)
            bar.write(f"aievo figures: error: drawing {name} ({spec.target}) failed:\n"
                      f"{traceback.format_exc().rstrip()}", file=sys.stderr)
            continue
        stem = file_stem(name)
        for fmt in formats:
            path = write_figure(fig, out / f"{stem}.{fmt}", fmt, args.dpi)
            bar.write(str(path))
        fig.clf()
        del fig
    sys.stdout.flush()
    if failed:
        print(f"aievo figures: {len(failed)} of {len(names)} figures failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
