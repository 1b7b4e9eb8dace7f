"""The ``aievo`` command line (also ``python -m aievo``).

Each subcommand lives in the module that owns its work; that module provides
``configure(parser)`` and ``run(args) -> int`` and imports nothing heavy at
module level, so ``aievo --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ._version import __version__
from .errors import AievoError

__all__ = ["main"]

#: subcommand -> (module providing configure/run, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "figures": ("aievo.figures._cli", "write the paper and mesa figures"),
    "run": ("aievo.scenario", "run a scenario file (TOML) and save its trajectory and plot"),
    "sweep": ("aievo.sweep", "run a parameter sweep described by a TOML file (resumable)"),
    "regress": ("aievo.mesa.regression", "in-context regression benchmark (Friedman #2)"),
    "rerun": ("aievo.rerun", "regenerate a saved result from the recipe it records and check it is identical"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aievo", description="Evolution of self-designing AIs and mesa-optimizers."
    )
    parser.add_argument("--version", action="version", version=f"aievo {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
        mod.configure(p)
        p.set_defaults(_module=mod)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aievo`` command; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.quiet:
        from ._progress import set_quiet

        set_quiet(True)
    from ._blas import single_threaded_blas

    try:
        with single_threaded_blas():
            return int(args._module.run(args) or 0)
    except (AievoError, OSError, UnicodeError) as exc:
        # user errors (bad input, unwritable or unreadable paths, a full disk):
        # one line and exit status 2, never a traceback
        text = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, OSError) and not isinstance(exc, AievoError):
            text = f"{type(exc).__name__}: {text}"
        print(f"aievo {args.command}: error: {text}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"aievo {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
