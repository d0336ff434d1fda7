"""``jaxmc layouts``: the table of derivative shapes in each layout convention."""

from __future__ import annotations

import argparse

HELP = "Print the shapes of derivatives in each layout (numerator, ..., jax)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command takes no arguments."""


def run(args: argparse.Namespace) -> int:
    """Prints the Markdown table generated from jaxmc.layout_shape; returns 0."""
    from jaxmc.layout import layout_table

    print(layout_table())
    return 0
