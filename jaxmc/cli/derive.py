"""``jaxmc derive``: the closed-form derivative of a matrix expression.

Kinds of names: declared with ``--scalar``, ``--vector``, ``--matrix``,
``--symmetric``, ``--spd`` and ``--diagonal`` (each takes one or more names);
an undeclared name is a matrix if it starts with an upper-case letter and a
(column) vector otherwise. Every derivative is checked against JAX autodiff
before it is printed (``--no-verify`` skips that).
"""

from __future__ import annotations

import argparse
import sys

from jaxmc.cli import seed

HELP = "Derive the closed-form gradient/Jacobian/Hessian of a matrix expression."

_KINDS = ("scalar", "vector", "matrix", "symmetric", "spd", "diagonal")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the expression, the variable and the declarations."""
    parser.epilog = (
        "Undeclared names: an upper-case initial makes a matrix, anything else a "
        "(column) vector; declare scalars with --scalar. Example: jaxmc derive "
        "\"x'*A*x + b'*x\" --wrt x --hessian --symmetric A"
    )
    parser.add_argument(
        "expression", help="e.g. \"x'*A*x + b'*x\" (matrixcalculus.org syntax)"
    )  # noqa: E501
    parser.add_argument("--wrt", required=True, help="the variable")
    parser.add_argument("--hessian", action="store_true", help="derive the Hessian")
    parser.add_argument(
        "--differential", action="store_true", help="print the differential df"
    )
    parser.add_argument("--latex", action="store_true", help="also print LaTeX")
    parser.add_argument(
        "--layout",
        default="mixed",
        choices=["mixed", "numerator", "denominator", "vec"],
        help="derivative layout (default mixed: gradients shaped like the variable;"
        " vec: Kronecker forms, for matrix-valued f and Hessians by a matrix)",
    )
    for kind in _KINDS:
        parser.add_argument(
            f"--{kind}", nargs="+", default=[], metavar="NAME", help=f"{kind} names"
        )
    parser.add_argument("--no-verify", action="store_true", help="skip the check")
    parser.add_argument("--seed", type=seed, default=0, help="PRNG seed for the check")


def run(args: argparse.Namespace) -> int:
    """Prints the derivative; returns 0, or 2 (a one-line error on stderr)."""
    import jax

    from jaxmc import symbolic

    decl = {}
    for kind in _KINDS:
        for name in getattr(args, kind):
            decl[name] = kind
    try:
        if args.differential:
            d = symbolic.differential(
                args.expression,
                wrt=args.wrt,
                verify=not args.no_verify,
                key=jax.random.key(args.seed),
                **decl,
            )
        else:
            d = symbolic.derive(
                args.expression,
                wrt=args.wrt,
                hessian=args.hessian,
                layout=args.layout,
                verify=not args.no_verify,
                key=jax.random.key(args.seed),
                **decl,
            )
    except (ValueError, TypeError, ArithmeticError) as err:
        if isinstance(err, symbolic.ParseError):
            text = (
                f"jaxmc.symbolic.parse: {err.problem} at position {err.pos} of "
                f"{err.text!r}"
            )
        else:
            text = " ".join(str(err).split())
        print(f"error: {text}", file=sys.stderr)
        return 2
    label = "df" if d.kind == "differential" else d.symbol
    print(f"f = {d.f.text}")
    print(f"{label} = {d.text}")
    if args.latex:
        print(f"LaTeX: {d.latex}")
    where = "" if d.kind == "differential" else f", {d.layout} layout"
    print(f"({d.kind}{where}; ", end="")
    if d.error is None:
        print("not verified)")
    else:
        print(f"verified against JAX autodiff: max rel. error {d.error:.1e})")
    return 0
