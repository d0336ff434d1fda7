"""The ``jaxmc`` command line: a thin dispatcher over one module per subcommand.

Each subcommand lives in ``jaxmc/cli/<name>.py`` and defines ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Adding a subcommand means adding
its module and its name to ``_COMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main"]

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


def build_parser() -> argparse.ArgumentParser:
    """Builds the argument parser with one subparser per subcommand."""
    from jaxmc import __version__

    parser = argparse.ArgumentParser(
        prog="jaxmc",
        description="Matrix-calculus tools for JAX.",
    )
    parser.add_argument("--version", action="version", version=f"jaxmc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in _COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the ``jaxmc`` command line and returns its exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv or [_DEFAULT])
    if args.command is None:
        parser.print_help()
        return 2
    return int(args._run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
