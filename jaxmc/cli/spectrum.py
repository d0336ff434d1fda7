"""``jaxmc spectrum``: the Hessian spectrum of a model, in seconds.

With no problem argument it builds :func:`default_problem` (a tanh MLP
classifier on synthetic data, trained a few hundred steps of gradient descent
so that the spectrum has a few outliers and negative directions). Given
``MODULE:FUNCTION`` it analyses the user's problem instead (the contract, the
checkpoint formats of ``--params`` and how they map onto the parameter pytree
are in :mod:`jaxmc.cli._problem`). It prints the top eigenvalues, the most
negative ones, a Hutch++ trace estimate with its standard error, and the time
each part took; ``--plot`` adds the SLQ density figure, ``--layers`` the
per-layer table, ``--out results.json`` writes everything (and the density)
to JSON + ``.npz`` for :func:`jaxmc.spectrum.load` and ``jaxmc plot``.

Progress goes to stderr, one line per phase (``--quiet`` silences it); results
go to stdout. A mistake on the command line or in the user's problem prints
one line on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, NamedTuple

from jaxmc.cli import _problem, _spectrum_density
from jaxmc.cli._problem import UsageError

HELP = "Hessian spectrum of a model (built-in MLP or MODULE:FUNCTION)."


class Problem(NamedTuple):
    """A loss, its parameters and its data, ready for ``hessian_operator``.

    Attributes:
      loss_fn: ``loss_fn(params, batch) -> scalar``, the mean loss on a batch.
      params: the parameters (a pytree).
      data: the data set (as :func:`jaxmc.spectrum.hessian_operator` takes).
      description: one line describing the problem.
      model_fn: optional, for the GGN: ``model_fn(params, batch) -> outputs``.
      output_loss_fn: optional, for the GGN: ``output_loss_fn(outputs, batch)
        -> scalar`` with ``loss_fn(p, b) == output_loss_fn(model_fn(p, b), b)``.
    """

    loss_fn: Any
    params: Any
    data: Any
    description: str = ""
    model_fn: Any = None
    output_loss_fn: Any = None


def default_problem(
    *,
    seed: int = 0,
    num_examples: int = 512,
    num_features: int = 10,
    hidden: tuple[int, ...] = (32, 32),
    num_classes: int = 4,
    train_steps: int = 100,
    learning_rate: float = 0.2,
    dtype: str = "float32",
) -> Problem:
    """A tanh MLP on synthetic Gaussian-cluster data, trained by gradient descent.

    The data and the initial weights are drawn in float32 and then cast to
    ``dtype``, so that float32 and float64 analyse the same problem (only the
    precision differs).

    Args:
      seed: the PRNG seed for data and initial weights.
      num_examples: the number of examples ``N``.
      num_features: the input dimension.
      hidden: the hidden layer widths.
      num_classes: the number of classes (softmax cross-entropy).
      train_steps: full-batch gradient-descent steps before the analysis.
      learning_rate: the step size.
      dtype: ``"float32"`` or ``"float64"`` (the latter needs
        ``jax_enable_x64``).

    Returns:
      A :class:`Problem` with ``loss_fn(params, (X, y))`` (mean cross-entropy),
      the trained ``params`` (a list of ``{"w", "b"}`` dicts), the data
      ``(X, y)``, a one-line description, and the GGN parts ``model_fn``
      (the logits) and ``output_loss_fn``.
    """
    import jax
    import jax.numpy as jnp

    from jaxmc import _xla

    f32 = jnp.float32
    sizes = (num_features, *hidden, num_classes)

    def model_fn(params, batch):
        x, _ = batch
        for layer in params[:-1]:
            x = jnp.tanh(x @ layer["w"] + layer["b"][None, :])
        return x @ params[-1]["w"] + params[-1]["b"][None, :]

    def output_loss_fn(logits, batch):
        _, labels = batch
        picked = jnp.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
        return jnp.mean(jax.nn.logsumexp(logits, axis=1) - picked)

    def loss_fn(params, batch):
        return output_loss_fn(model_fn(params, batch), batch)

    # Data, initial weights and training are one compiled program: a second
    # run reads it from the persistent cache instead of tracing and looking
    # up a dozen eager operations.
    @_xla.jit(persist=True)
    def make():
        kc, kx, ky, kp = jax.random.split(jax.random.key(seed), 4)
        centers = 1.5 * jax.random.normal(kc, (num_classes, num_features), f32)
        y = jax.random.randint(ky, (num_examples,), 0, num_classes)
        X = centers[y] + jax.random.normal(kx, (num_examples, num_features), f32)
        X = X.astype(dtype)
        params = []
        for i, key in enumerate(jax.random.split(kp, len(sizes) - 1)):
            w = jax.random.normal(key, sizes[i : i + 2], f32) / float(sizes[i]) ** 0.5
            params.append({"w": w.astype(dtype), "b": jnp.zeros(sizes[i + 1], dtype)})

        def step(p, _):
            g = jax.grad(loss_fn)(p, (X, y))
            return jax.tree_util.tree_map(
                lambda a, b: a - learning_rate * b, p, g
            ), None

        params = jax.lax.scan(step, params, None, length=train_steps)[0]
        return params, X, y

    params, X, y = make()
    n_params = sum(x.size for x in jax.tree_util.tree_leaves(params))
    desc = (
        f"MLP {'-'.join(map(str, sizes))} (tanh, softmax cross-entropy), "
        f"{n_params} parameters, {num_examples} synthetic examples, "
        f"{train_steps} gradient steps, {dtype}"
    )
    return Problem(loss_fn, params, (X, y), desc, model_fn, output_loss_fn)


_BUILTIN = {"examples": 512, "hidden": [32, 32], "steps": 100}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the spectrum command's arguments."""
    parser.add_argument(
        "problem",
        nargs="?",
        default=None,
        metavar="MODULE:FUNCTION",
        help="a function returning (loss_fn, params, data), (model_fn, loss_fn, "
        "params, data) or a Problem; MODULE is a module path or a .py file "
        "(default: the built-in MLP)",
    )
    parser.add_argument("--k", type=int, default=5, help="eigenvalues at each end")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed")
    parser.add_argument(
        "--ggn",
        action="store_true",
        help="analyse the generalised Gauss-Newton matrix instead of the Hessian",
    )
    parser.add_argument(
        "--params",
        metavar="FILE",
        default=None,
        help="load the parameters from a checkpoint (.npz, flax .msgpack, orbax "
        "directory) into the problem's parameter pytree",
    )
    parser.add_argument(
        "--out",
        metavar="JSON",
        default=None,
        help="write every result (and the density) to JSON, arrays to .npz beside "
        "it; jaxmc plot JSON redraws it",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress lines on stderr"
    )
    builtin = parser.add_argument_group("the built-in problem (no MODULE:FUNCTION)")
    builtin.add_argument(
        "--examples", type=int, default=None, help="synthetic examples (default 512)"
    )
    builtin.add_argument(
        "--hidden",
        type=int,
        nargs="+",
        default=None,
        help="hidden layer widths (default 32 32)",
    )
    builtin.add_argument(
        "--steps", type=int, default=None, help="training steps (default 100)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=None, help="HVP batch size (default all)"
    )
    parser.add_argument(
        "--trace-matvecs", type=int, default=60, help="Hutch++ budget (default 60)"
    )
    parser.add_argument(
        "--x64", action="store_true", help="run in float64 (default float32)"
    )
    _spectrum_density.add_arguments(parser)  # --plot, --layers (issue 7)


def _check_options(args: argparse.Namespace) -> None:
    """Every option in its range (before any work); raises UsageError."""

    def at_least(option: str, value: Any, low: int, what: str) -> None:
        if value is not None and value < low:
            msg = f"{option} must be {what}; got {value}"
            raise UsageError(msg)

    at_least("--k", args.k, 1, "at least 1 (eigenvalues at each end)")
    at_least("--batch-size", args.batch_size, 1, "at least 1")
    at_least("--trace-matvecs", args.trace_matvecs, 4, "at least 4 (Hutch++)")
    at_least("--deflate", args.deflate, 0, "at least 0 (outliers taken out)")
    at_least("--density-runs", args.density_runs, 0, "at least 0 (0: no density)")
    if args.density_runs == 0 and (args.plot or args.layers):
        msg = "--density-runs 0 (no density) cannot be combined with --plot or --layers"
        raise UsageError(msg)
    at_least("--density-steps", args.density_steps, 2, "at least 2")
    at_least("--seed", args.seed, 0, "a non-negative integer")
    if args.problem is None:
        at_least("--examples", args.examples, 1, "at least 1")
        at_least("--steps", args.steps, 0, "at least 0 (training steps)")
        for width in args.hidden or ():
            at_least("--hidden", width, 1, "one or more widths, each at least 1")
    else:
        given = [f"--{n}" for n in _BUILTIN if getattr(args, n) is not None]
        if given:
            msg = (
                f"{', '.join(given)} apply to the built-in problem only, not to "
                f"{args.problem}"
            )
            raise UsageError(msg)
    if args.plot:
        _problem.check_writable(
            "--plot", args.plot, (".png", ".pdf", ".svg", ".jpg", ".jpeg")
        )
    if args.out:
        _problem.check_writable("--out", args.out, (".json",))


class _Progress:
    """One line per phase on stderr, with the elapsed time; silent if quiet."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.t0 = time.perf_counter()

    def __call__(self, text: str) -> None:
        if not self.quiet:
            elapsed = time.perf_counter() - self.t0
            print(f"[{elapsed:7.2f} s] {text}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Builds the problem, prints its spectrum summary; returns 0 (2 on bad input)."""
    try:
        return _run(args)
    except UsageError as err:
        print(f"jaxmc spectrum: error: {_problem.one_line(err)}", file=sys.stderr)
        return 2
    except (ValueError, TypeError) as err:
        # raised by jaxmc's checks on the user's problem or options
        print(f"jaxmc spectrum: error: {_problem.one_line(err)}", file=sys.stderr)
        return 2


def _build(args: argparse.Namespace, dtype: str) -> Problem:
    if args.problem is None:
        return default_problem(
            seed=args.seed,
            num_examples=args.examples or _BUILTIN["examples"],
            hidden=tuple(args.hidden or _BUILTIN["hidden"]),
            train_steps=_BUILTIN["steps"] if args.steps is None else args.steps,
            dtype=dtype,
        )
    prob = _problem.call_problem(args.problem, Problem)
    if args.x64:
        cast = _problem.cast_floating
        data = prob.data if callable(prob.data) else cast(prob.data, dtype)
        prob = prob._replace(params=cast(prob.params, dtype), data=data)
    return prob


class Built(NamedTuple):
    """What :func:`build_operator` returns."""

    problem: Problem
    op: Any
    kind: str
    loss_fn: Any
    params: Any


def build_operator(args: argparse.Namespace) -> Built:
    """The problem (checkpoint loaded) and its Hessian or GGN operator.

    Args:
      args: the parsed ``jaxmc spectrum`` command line (``jax_enable_x64``
        already set for ``--x64``).

    Returns:
      ``(problem, op, kind, loss_fn, params)``: ``kind`` is ``"Hessian"`` or
      ``"GGN"``; ``loss_fn`` and ``params`` are over the floating leaves only
      (the others held fixed).

    Raises:
      UsageError: for a bad problem, checkpoint or ``--ggn`` without a model.
    """
    from jaxmc import spectrum

    dtype = "float64" if args.x64 else "float32"
    prob = _build(args, dtype)
    if args.params:
        prob = prob._replace(params=_problem.load_params(args.params, prob.params))
    loss_fn, params, merge = _problem.split_static(prob.loss_fn, prob.params)
    if args.ggn:
        if prob.model_fn is None or prob.output_loss_fn is None:
            msg = (
                f"--ggn needs the model and the loss on its outputs: make "
                f"{args.problem} return (model_fn, loss_fn, params, data)"
            )
            raise UsageError(msg)
        model_fn = prob.model_fn

        def model_dyn(p: Any, batch: Any) -> Any:
            return model_fn(merge(p), batch)

        op = spectrum.ggn_operator(
            model_dyn,
            prob.output_loss_fn,
            params,
            prob.data,
            batch_size=args.batch_size,
            progress=not args.quiet,
        )
        kind = "GGN"
    else:
        op = spectrum.hessian_operator(
            loss_fn,
            params,
            prob.data,
            batch_size=args.batch_size,
            progress=not args.quiet,
        )
        kind = "Hessian"
    return Built(prob, op, kind, loss_fn, params)


def _keys(seed: int) -> Any:
    """The eigensolver's, the trace's and the density's keys, in one program."""
    import jax

    from jaxmc import _xla

    def keys():
        key_e, key_t = jax.random.split(jax.random.key(seed))
        return key_e, key_t, jax.random.fold_in(jax.random.key(seed), 7)

    return _xla.jit(keys, persist=True)()


def _run(args: argparse.Namespace) -> int:
    import jax

    _check_options(args)
    progress = _Progress(args.quiet)
    if args.x64:
        jax.config.update("jax_enable_x64", True)
    from jaxmc import __version__, _xla, spectrum

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    progress("building the problem ...")
    prob, op, kind, loss_fn, params = build_operator(args)
    if 2 * args.k > op.size:
        msg = (
            f"--k {args.k} asks for {2 * args.k} eigenvalues (both ends) of a "
            f"{op.size}-parameter model; use --k {max(op.size // 2, 1)} or less"
        )
        raise UsageError(msg)
    in_memory = not callable(prob.data)
    # compiled: one cached program rather than a dozen eager operations
    loss = (
        float(_xla.jit(loss_fn, persist=True)(params, prob.data)) if in_memory else None
    )
    t1 = time.perf_counter()
    timings["build"] = t1 - t0
    progress(f"built: {op.size} parameters, {kind} operator ({t1 - t0:.2f} s)")
    print(f"jaxmc spectrum on {jax.default_backend()}: {prob.description}")
    if loss is not None:
        print(f"  loss {loss:.4f}")
    print(f"  problem built in {t1 - t0:.2f} s")

    key_e, key_t, key_d = _keys(args.seed)
    progress(f"eigenvalues: thick-restart Lanczos, {args.k} at each end ...")
    res = spectrum.eigenvalues(op, args.k, which="both", key=key_e)
    vals = jax.device_get(res.values)
    t2 = time.perf_counter()
    timings["eigenvalues"] = t2 - t1
    progress(f"eigenvalues: {int(res.num_matvecs)} matvecs ({t2 - t1:.2f} s)")
    k = args.k
    fmt = "  ".join
    print(
        f"{kind} eigenvalues (thick-restart Lanczos, {int(res.num_matvecs)} "
        f"{'HVPs' if kind == 'Hessian' else 'GGN matvecs'},"
    )
    residuals, converged = jax.device_get((res.residuals, res.converged))
    print(
        f"  max residual {float(residuals.max()):.1e}, "
        f"{int(converged.sum())}/{converged.size} converged, "
        f"{t2 - t1:.2f} s):"
    )
    print("  largest      " + fmt(f"{v:+.6e}" for v in vals[:k]))
    print("  most negative" + " " + fmt(f"{v:+.6e}" for v in vals[k:]))
    progress(f"trace: Hutch++, {args.trace_matvecs} matvecs ...")
    tr = spectrum.trace(op, method="hutch++", num_matvecs=args.trace_matvecs, key=key_t)
    t3 = time.perf_counter()
    timings["trace"] = t3 - t2
    progress(f"trace: {tr.num_matvecs} matvecs ({t3 - t2:.2f} s)")
    unit = "HVPs" if kind == "Hessian" else "matvecs"
    print(
        f"Trace (Hutch++, {tr.num_matvecs} {unit}, {t3 - t2:.2f} s): "
        f"{float(tr.estimate):.6g} +/- {float(tr.std_error):.2g} (1 s.e.)"
    )
    results: dict[str, Any] = {"eigenvalues": res, "trace": tr}
    results.update(
        _spectrum_density.report(
            args,
            op=op,
            loss_fn=loss_fn,
            params=params,
            data=prob.data,
            key=key_d,
            kind=kind,
            progress=progress,
            timings=timings,
        )
    )
    timings["total"] = time.perf_counter() - t0
    print(f"Total time {timings['total']:.2f} s")
    if args.out:
        bundle = {
            "problem": {
                "target": args.problem or "built-in MLP",
                "description": prob.description,
                "operator": kind,
                "num_params": int(op.size),
                "dtype": str(op.dtype),
                "loss": loss,
                "params_file": args.params,
                "backend": jax.default_backend(),
                "jaxmc_version": __version__,
            },
            "options": {
                "k": args.k,
                "seed": args.seed,
                "x64": bool(args.x64),
                "batch_size": args.batch_size,
                "trace_matvecs": args.trace_matvecs,
                "deflate": args.deflate,
                "density_runs": args.density_runs,
                "density_steps": args.density_steps,
            },
            **results,
            "timings": timings,
        }
        path = spectrum.save(bundle, args.out)
        print(f"results -> {path} (+ {path.with_suffix('.npz').name})")
    return 0
