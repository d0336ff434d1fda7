"""The ``jaxmc`` command line: a thin dispatcher over one module per subcommand.

Each subcommand lives in ``jaxmc/cli/<name>.py`` and defines ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Adding a subcommand means adding
its module and its name to ``_COMMANDS``.

Every subcommand turns on JAX's persistent compilation cache
(:func:`jaxmc.enable_compilation_cache`) unless ``--no-cache`` is given or the
environment sets ``JAXMC_NO_CACHE=1``, so a second run reuses the compiled
programs of the first.

User errors. A mistake in the options or inputs prints one line on stderr that
names the option and what is allowed, and exits with status 2; no traceback.
Three pieces make that so for every subcommand:

* argparse's own errors (an unknown option, ``--n abc``) are printed on one line
  by the parsers built here;
* ``type=int_at_least(1)`` (or ``int_at_least(0)``) rejects sizes and counts
  out of range while parsing: ``argument --n: must be an int >= 1; got 0``;
* a subcommand raises :class:`UsageError` for anything it can only check later
  (a missing file, an unknown name, an error from jaxmc's own argument checks,
  converted with ``raise UsageError(...) from err``); :func:`main` prints it.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
from collections.abc import Callable

__all__ = ["UsageError", "int_at_least", "main", "seed"]

# Subcommand name -> module under jaxmc.cli. The first is the default.
_COMMANDS = {
    "tour": "jaxmc.cli.tour",
    "cost": "jaxmc.cli.cost",
    "identities": "jaxmc.cli.identities",
    "layouts": "jaxmc.cli.layouts",
    "spectrum": "jaxmc.cli.spectrum",
    "derive": "jaxmc.cli.derive",
    "plot": "jaxmc.cli.plot",
}
_DEFAULT = "tour"
USAGE_STATUS = 2


class UsageError(Exception):
    """A user's mistake in a subcommand's options or inputs.

    :func:`main` prints its message as one line on stderr, prefixed with
    ``jaxmc <command>: error:``, and returns exit status 2. Say which option is
    wrong and what is allowed: ``UsageError("--trials must be >= 1; got 0")``.
    """


def one_line(text: str) -> str:
    """``text`` with its whitespace (newlines included) collapsed to single spaces."""
    return " ".join(str(text).split())


def int_at_least(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse ``type`` for ints >= ``minimum`` (sizes, counts, repeats).

    Args:
      minimum: the smallest value allowed.
      maximum: the largest value allowed (default: no bound).

    Returns:
      A function that parses one option value, raising ``argparse``'s
      ``ArgumentTypeError`` (one line, naming the option) when it is not an
      int or is out of range.
    """
    allowed = (
        f"an int >= {minimum}"
        if maximum is None
        else f"an int from {minimum} to {maximum}"
    )

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            msg = f"must be {allowed}; got {text!r}"
            raise argparse.ArgumentTypeError(msg) from None
        if value < minimum or (maximum is not None and value > maximum):
            msg = f"must be {allowed}; got {value}"
            raise argparse.ArgumentTypeError(msg)
        return value

    parse.__name__ = allowed
    return parse


#: The argparse ``type`` of ``--seed`` options: what ``jax.random.key`` takes.
seed = int_at_least(0, 2**32 - 1)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (exit status 2)."""

    def error(self, message: str):  # noqa: D102 - argparse's hook
        hint = f" (see {self.prog} --help)"
        self.exit(USAGE_STATUS, f"{self.prog}: error: {one_line(message)}{hint}\n")


def build_parser() -> argparse.ArgumentParser:
    """Builds the argument parser with one subparser per subcommand."""
    from jaxmc import __version__
    from jaxmc._cache import default_cache_dir

    cache_note = (
        f"Compiled programs are cached in {default_cache_dir()} (set "
        f"JAXMC_CACHE_DIR to move it; --no-cache or JAXMC_NO_CACHE=1 turns "
        f"the cache off)."
    )
    parser = _Parser(
        prog="jaxmc",
        description="Matrix-calculus tools for JAX.",
        epilog=cache_note,
    )
    parser.add_argument("--version", action="version", version=f"jaxmc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module_name in _COMMANDS.items():
        module = importlib.import_module(module_name)
        # No abbreviations: `--n` must not silently mean `--no-cache`.
        p = sub.add_parser(
            name,
            help=module.HELP,
            description=module.HELP,
            epilog=cache_note,
            allow_abbrev=False,
        )
        module.add_arguments(p)
        p.add_argument(
            "--no-cache",
            action="store_true",
            help="do not use the persistent compilation cache (see below)",
        )
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the ``jaxmc`` command line and returns its exit status.

    A :class:`UsageError` from a subcommand is printed as one line on stderr and
    gives status 2; parse errors exit with status 2 the same way.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv or [_DEFAULT])
    if args.command is None:
        parser.print_help()
        return USAGE_STATUS
    if not args.no_cache and os.environ.get("JAXMC_NO_CACHE", "") in ("", "0"):
        from jaxmc._cache import enable_compilation_cache

        try:
            enable_compilation_cache()
        except ValueError as err:  # an unwritable cache only slows the run
            print(f"jaxmc: {err} Running without the cache.", file=sys.stderr)
    try:
        return int(args._run(args) or 0)
    except UsageError as err:
        text = one_line(str(err))
        prefix = f"jaxmc {args.command}"
        if text.startswith(prefix + ":"):
            text = text[len(prefix) + 1 :].strip()
        print(f"{prefix}: error: {text}", file=sys.stderr)
        return USAGE_STATUS


def run_and_exit(argv: list[str] | None = None) -> None:
    """The process entry point (``jaxmc`` and ``python -m jaxmc``): main, then exit.

    Before the interpreter shuts down, the objects still alive (tracing
    caches, jaxprs, compiled programs) are moved out of the garbage
    collector's reach with :func:`gc.freeze`: Python's final collection
    would otherwise walk them all, about 0.4 s of a 2 s ``jaxmc spectrum``
    run, to free memory the operating system reclaims anyway. Exit handlers,
    file flushing and module teardown run as usual. :func:`main` itself, as
    called from Python, leaves the collector alone.
    """
    status = main(argv)
    gc.freeze()
    sys.exit(status)


if __name__ == "__main__":  # pragma: no cover
    run_and_exit()
