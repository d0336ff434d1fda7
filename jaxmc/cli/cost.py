"""``jaxmc cost``: the autodiff cost report of a function, and the crossover plot.

The target is ``module:function`` (a module importable from the current
directory, or a path ``file.py:function``) called on random normal inputs of
the given ``--shapes``, or the name of an identity in the catalog
(``jaxmc.identities``), called on its sampler's draw.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from typing import Any

from jaxmc.cli import UsageError, int_at_least, seed
from jaxmc.cli._problem import load_function

HELP = "Cost of f and its derivatives (jvp, vjp, jacfwd, jacrev, Hessians)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the target, the input shapes and the report's options."""
    parser.add_argument(
        "target",
        help="module:function (or file.py:function), or an identity's name",
    )
    parser.add_argument(
        "--shapes",
        nargs="+",
        default=None,
        metavar="SHAPE",
        help="input shapes, one per positional argument: 100, 10x10, scalar",
    )
    parser.add_argument(
        "--argnums",
        type=int_at_least(0),
        default=None,
        help="argument to differentiate (default: 0, or the identity's variable)",
    )
    parser.add_argument(
        "--size",
        type=int_at_least(1),
        default=None,
        help="for an identity: every size symbol (m, n, p, q, M) set to this",
    )
    parser.add_argument(
        "--modes", nargs="+", default=None, help="modes to report (default: all)"
    )
    parser.add_argument(
        "--repeats", type=int_at_least(1), default=5, help="timed calls per mode"
    )
    parser.add_argument(
        "--dtype", default="float32", choices=["float32", "float64"], help="dtype"
    )
    parser.add_argument("--seed", type=seed, default=0, help="PRNG seed for inputs")
    parser.add_argument(
        "--plot",
        default=None,
        metavar="OUT.png",
        help="also draw jacfwd and jacrev time against input size (the crossover)",
    )
    parser.add_argument(
        "--sizes",
        nargs="+",
        type=int_at_least(1),
        default=[4, 16, 64, 256, 1024],
        help="input sizes for --plot: the first axis of the differentiated "
        "input, or for an identity every size symbol",
    )


def parse_shape(text: str) -> tuple[int, ...]:
    """'10x10' -> (10, 10); '100' -> (100,); 'scalar' or '()' -> ()."""
    text = text.strip().lower()
    if text in ("scalar", "()", ""):
        return ()
    try:
        shape = tuple(int(d) for d in text.replace("*", "x").split("x"))
    except ValueError:
        msg = f"--shapes entry {text!r} is not like 100 or 10x10 or scalar."
        raise UsageError(msg) from None
    if any(d < 0 for d in shape):
        msg = f"--shapes entry {text!r} has a negative size; sizes are ints >= 0."
        raise UsageError(msg)
    return shape


def random_args(shapes: Sequence[tuple[int, ...]], dtype: Any, seed: int) -> list:
    """Standard normal arrays of the given shapes (deterministic in ``seed``)."""
    import jax

    keys = jax.random.split(jax.random.key(seed), max(len(shapes), 1))
    return [jax.random.normal(k, s, dtype) for k, s in zip(keys, shapes, strict=False)]


_SIZE_SYMBOLS = ("m", "n", "p", "q", "M")


def identity_target(
    name: str, seed: int, dtype: Any, size: int | None
) -> tuple[Callable, Callable[[int | None], list], int]:
    """(f, sample, argnum) for a catalog identity.

    ``sample(size)`` draws valid inputs from the identity's domain, every size
    symbol set to ``size`` (random small sizes when None).
    """
    import jax

    try:
        from jaxmc import identities
    except ImportError:
        msg = (
            f"{name!r} is not module:function and the identity catalog "
            f"(jaxmc.identities) is not available in this build."
        )
        raise UsageError(msg) from None
    try:
        ident = identities.get(name)
    except (KeyError, ValueError) as err:
        msg = (
            f"target {name!r} is neither module:function (or file.py:function) "
            f"nor an identity's name: {str(err).strip(chr(39))}"
        )
        raise UsageError(msg) from err

    def sample(s: int | None) -> list:
        dims = None if s is None else dict.fromkeys(_SIZE_SYMBOLS, s)
        return list(ident.sample(jax.random.key(seed), dims, dtype=dtype))

    return ident.f, sample, int(getattr(ident, "argnum", 0))


def _check_plot_path(path: str) -> None:
    """Raises UsageError unless ``path`` can be written (before any work)."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"--plot {path!r}: the folder {folder!r} does not exist.")
    if not os.access(folder, os.W_OK) or (
        os.path.exists(path) and not os.access(path, os.W_OK)
    ):
        raise UsageError(f"--plot {path!r}: the path is not writable.")


def run(args: argparse.Namespace) -> int:
    """Prints the cost report (and writes the plot); returns 0.

    Raises:
      UsageError: for a bad target, shapes, sizes, modes or plot path, or an
        error from the target function on the given inputs (exit status 2).
    """
    import jax
    import jax.numpy as jnp

    from jaxmc.cost import choose_mode, cost_report

    if args.plot:
        _check_plot_path(args.plot)
    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    dtype = jnp.dtype(args.dtype)
    sample = None
    if ":" in args.target:
        if not args.shapes:
            raise UsageError("give --shapes for module:function targets.")
        f = load_function(args.target, "target")
        shapes = [parse_shape(s) for s in args.shapes]
        fargs = random_args(shapes, dtype, args.seed)
        argnums = 0 if args.argnums is None else args.argnums
    else:
        f, sample, argnums = identity_target(args.target, args.seed, dtype, args.size)
        argnums = argnums if args.argnums is None else args.argnums
        try:
            fargs = sample(args.size)
        except (TypeError, ValueError) as err:
            raise UsageError(f"--size {args.size}: {err}") from err
        shapes = [tuple(jnp.shape(a)) for a in fargs]
    try:
        report = cost_report(
            f, *fargs, argnums=argnums, modes=args.modes, repeats=args.repeats
        )
    except (TypeError, ValueError) as err:
        raise UsageError(str(err)) from err
    print(f"{args.target} on inputs {', '.join(str(s) for s in shapes)} ({dtype})")
    print(report)
    mode = choose_mode(f, *fargs, argnums=argnums)
    print(f"dense Jacobian: auto mode chooses {mode} mode")
    if args.plot:
        from jaxmc._crossover import crossover, plot_crossover

        base = shapes[argnums]
        if not base:
            raise UsageError("--plot needs a differentiated input with an axis.")

        def make_args(s: int) -> list:
            if sample is not None:  # an identity: every size symbol set to s
                return sample(s)
            new = list(shapes)
            new[argnums] = (s, *base[1:])
            return random_args(new, dtype, args.seed)

        try:
            points = crossover(
                f, make_args, args.sizes, argnums=argnums, repeats=args.repeats
            )
        except (TypeError, ValueError) as err:
            msg = f"--plot: f cannot take the --sizes {args.sizes} ({err})."
            raise UsageError(msg) from err
        for p in points:
            print(
                f"  n = {p.n_in:>6}, m = {p.n_out:>6}: jacfwd {p.t_forward * 1e3:9.3f}"
                f" ms, jacrev {p.t_reverse * 1e3:9.3f} ms, auto: {p.auto}"
            )
        try:
            plot_crossover(points, args.plot, f"jacfwd vs jacrev: {args.target}")
        except OSError as err:
            raise UsageError(f"--plot {args.plot!r}: {err}") from err
        print(f"wrote {args.plot}")
    return 0
