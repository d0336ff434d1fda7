"""``jaxmc identities``: list, verify or typeset the identity catalog."""

from __future__ import annotations

import argparse

from jaxmc.cli import UsageError, int_at_least, seed

HELP = "List the matrix-calculus identity catalog; --verify checks it by autodiff."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the filters (--family, --name) and the modes (--verify, --latex)."""
    parser.add_argument(
        "--family", action="append", help="keep this family (repeatable)"
    )
    parser.add_argument(
        "--name",
        action="append",
        help=(
            "keep the identity of this exact name, or those whose name contains "
            "this text (repeatable)"
        ),
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--verify",
        action="store_true",
        help="check every closed form against autodiff; exit 1 if any fails",
    )
    mode.add_argument("--latex", action="store_true", help="print a LaTeX table")
    parser.add_argument(
        "--trials",
        type=int_at_least(1),
        default=4,
        help="random draws per identity (default 4)",
    )
    parser.add_argument(
        "--dtype",
        choices=["float64", "float32"],
        default="float64",
        help="dtype of the draws for --verify (default float64)",
    )
    parser.add_argument("--seed", type=seed, default=0, help="PRNG seed for --verify")


def _select(args: argparse.Namespace):
    from jaxmc import identities

    items = identities.catalog()
    if args.family:
        known = identities.families()
        unknown = [f for f in args.family if f not in known]
        if unknown:
            msg = (
                f"--family: unknown family {', '.join(unknown)}; "
                f"choose from {', '.join(known)}."
            )
            raise UsageError(msg)
        items = tuple(i for i in items if i.family in args.family)
    if args.name:
        names = {i.name for i in items}

        def selected(name: str) -> bool:
            # An exact catalog name selects that identity; other text matches
            # every name that contains it.
            return any(n == name if n in names else n in name for n in args.name)

        items = tuple(i for i in items if selected(i.name))
    return items


def run(args: argparse.Namespace) -> int:
    """Lists, verifies or typesets the selected identities; returns the status."""
    items = _select(args)
    if not items:
        print("no identity matches the filters")
        return 1
    if args.latex:
        from jaxmc.identities import latex_table

        print(latex_table(items))
        return 0
    if args.verify:
        import jax

        if args.dtype == "float64":
            jax.config.update("jax_enable_x64", True)
        from jaxmc.identities import verify

        table = verify(
            items, key=jax.random.key(args.seed), trials=args.trials, dtype=args.dtype
        )
        print(table)
        return 0 if table.all_passed else 1
    width = max(len(i.name) for i in items)
    fwidth = max(len(i.family) for i in items)
    for i in items:
        print(f"{i.name:<{width}}  {i.family:<{fwidth}}  {i.formula}")
    print(f"{len(items)} identities")
    return 0
