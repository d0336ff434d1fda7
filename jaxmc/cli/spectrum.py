"""``jaxmc spectrum``: the Hessian spectrum of a small trained MLP, in seconds.

With no arguments it builds :func:`default_problem` (a tanh MLP classifier on
synthetic data, trained a few hundred steps of gradient descent so that the
spectrum has a few outliers and negative directions), then prints the top
eigenvalues, the most negative ones, a Hutch++ trace estimate with its standard
error, and the time each part took.
"""

from __future__ import annotations

import argparse
import time
from typing import Any, NamedTuple

HELP = "Hessian spectrum of a small trained MLP: top/bottom eigenvalues and trace."


class Problem(NamedTuple):
    """A loss, its parameters and its data, ready for ``hessian_operator``."""

    loss_fn: Any
    params: Any
    data: Any
    description: str


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
      ``(X, y)`` and a one-line description.
    """
    import jax
    import jax.numpy as jnp

    kc, kx, ky, kp = jax.random.split(jax.random.key(seed), 4)
    centers = 1.5 * jax.random.normal(kc, (num_classes, num_features), dtype)
    y = jax.random.randint(ky, (num_examples,), 0, num_classes)
    X = centers[y] + jax.random.normal(kx, (num_examples, num_features), dtype)
    sizes = (num_features, *hidden, num_classes)
    params = []
    for i, key in enumerate(jax.random.split(kp, len(sizes) - 1)):
        w = jax.random.normal(key, sizes[i : i + 2], dtype) / float(sizes[i]) ** 0.5
        params.append({"w": w, "b": jnp.zeros(sizes[i + 1], dtype)})

    def loss_fn(params, batch):
        x, labels = batch
        for layer in params[:-1]:
            x = jnp.tanh(x @ layer["w"] + layer["b"][None, :])
        logits = x @ params[-1]["w"] + params[-1]["b"][None, :]
        picked = jnp.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
        return jnp.mean(jax.nn.logsumexp(logits, axis=1) - picked)

    @jax.jit
    def train(params):
        def step(p, _):
            g = jax.grad(loss_fn)(p, (X, y))
            return jax.tree_util.tree_map(
                lambda a, b: a - learning_rate * b, p, g
            ), None

        return jax.lax.scan(step, params, None, length=train_steps)[0]

    params = train(params)
    n_params = sum(x.size for x in jax.tree_util.tree_leaves(params))
    desc = (
        f"MLP {'-'.join(map(str, sizes))} (tanh, softmax cross-entropy), "
        f"{n_params} parameters, {num_examples} synthetic examples, "
        f"{train_steps} gradient steps, {dtype}"
    )
    return Problem(loss_fn, params, (X, y), desc)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the spectrum command's arguments."""
    parser.add_argument("--k", type=int, default=5, help="eigenvalues at each end")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed")
    parser.add_argument(
        "--examples", type=int, default=512, help="synthetic examples (default 512)"
    )
    parser.add_argument(
        "--hidden",
        type=int,
        nargs="+",
        default=[32, 32],
        help="hidden layer widths (default 32 32)",
    )
    parser.add_argument(
        "--steps", type=int, default=100, help="training steps (default 100)"
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


def run(args: argparse.Namespace) -> int:
    """Builds the problem, prints its spectrum summary; returns 0."""
    import jax

    if args.x64:
        jax.config.update("jax_enable_x64", True)
    from jaxmc.spectrum import eigenvalues, hessian_operator, trace

    dtype = "float64" if args.x64 else "float32"
    t0 = time.perf_counter()
    prob = default_problem(
        seed=args.seed,
        num_examples=args.examples,
        hidden=tuple(args.hidden),
        train_steps=args.steps,
        dtype=dtype,
    )
    op = hessian_operator(
        prob.loss_fn, prob.params, prob.data, batch_size=args.batch_size
    )
    t1 = time.perf_counter()
    print(f"jaxmc spectrum on {jax.default_backend()}: {prob.description}")
    print(f"  loss {float(prob.loss_fn(prob.params, prob.data)):.4f}")
    print(f"  problem built and trained in {t1 - t0:.2f} s")

    key_e, key_t = jax.random.split(jax.random.key(args.seed))
    res = eigenvalues(op, args.k, which="both", key=key_e)
    vals = jax.device_get(res.values)
    t2 = time.perf_counter()
    k = args.k
    fmt = "  ".join
    print(f"Hessian eigenvalues (thick-restart Lanczos, {int(res.num_matvecs)} HVPs,")
    print(
        f"  max residual {float(res.residuals.max()):.1e}, "
        f"{int(res.converged.sum())}/{res.converged.size} converged, "
        f"{t2 - t1:.2f} s):"
    )
    print("  largest      " + fmt(f"{v:+.6e}" for v in vals[:k]))
    print("  most negative" + " " + fmt(f"{v:+.6e}" for v in vals[k:]))
    tr = trace(op, method="hutch++", num_matvecs=args.trace_matvecs, key=key_t)
    t3 = time.perf_counter()
    print(
        f"Trace (Hutch++, {tr.num_matvecs} HVPs, {t3 - t2:.2f} s): "
        f"{float(tr.estimate):.6g} +/- {float(tr.std_error):.2g} (1 s.e.)"
    )
    print(f"Total time {t3 - t0:.2f} s")
    return 0
