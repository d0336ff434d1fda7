"""Sharpness along SGD training: in-step tracking and top-5 at checkpoints.

Trains a tanh MLP by mini-batch SGD with step size ETA and follows the
sharpness (the top Hessian eigenvalue) in two ways:

* inside the jitted training step, with jaxmc.spectrum.sharpness_tracker: a
  few Lanczos steps per step on the batch loss, warm-started from the
  previous step's eigenvector (the linearisation also gives the step's loss
  and gradient);
* at checkpoints, from a fresh hessian_operator on the whole data set and
  jaxmc.eigenvalues for the top 5. The operators are new objects at every
  checkpoint, as in any training loop; only the first checkpoint compiles.

Progressive sharpening drives the sharpness up towards 2/ETA, the stability
limit of gradient descent on a quadratic (the edge of stability of Cohen et
al. 2021). The figure sharpness_tracking.png (in the current directory) shows
both estimates against the step with the 2/ETA line. JAXMC_EXAMPLE_SMALL=1
runs a tiny version.
"""

import os
import time

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

import jaxmc  # noqa: E402
from jaxmc.spectrum import hessian_operator, sharpness_tracker  # noqa: E402

SMALL = os.environ.get("JAXMC_EXAMPLE_SMALL") == "1"
D, H = (4, 12) if SMALL else (8, 48)
N, BATCH = (256, 64) if SMALL else (2048, 256)
STEPS = 60 if SMALL else 1500
CHECKPOINTS = 3 if SMALL else 10
ETA = 0.5
MATVECS = 5


def init(key):
    k1, k2 = jax.random.split(key)
    return {
        "w1": jax.random.normal(k1, (D, H)) / D**0.5,
        "b1": jnp.zeros(H),
        "w2": jax.random.normal(k2, (H, 1)) / H**0.5,
    }


def predict(params, X):
    return jnp.tanh(X @ params["w1"] + params["b1"][None, :]) @ params["w2"]


def loss_fn(params, batch):
    X, y = batch
    return 0.5 * jnp.mean((predict(params, X) - y) ** 2)


def main():
    k_x, k_init, k_track, k_sgd, k_eig = jax.random.split(jax.random.key(0), 5)
    X = jax.random.normal(k_x, (N, D))
    y = jnp.sin(3.0 * X[:, :1]) + 0.5 * jnp.cos(2.0 * X[:, 1:2] * X[:, 2:3])
    data = (X, y)
    params = init(k_init)
    tracker = sharpness_tracker(loss_fn, num_matvecs=MATVECS)
    sharp = tracker.init(params, key=k_track)

    @jax.jit
    def train_step(params, sharp, key):
        idx = jax.random.choice(key, N, (BATCH,), replace=False)
        batch = (X[idx], y[idx])
        loss, grads, sharp = tracker.value_grad_and_update(sharp, params, batch)
        params = jax.tree_util.tree_map(lambda p, g: p - ETA * g, params, grads)
        return params, sharp, loss, batch

    _, unravel = ravel_pytree(params)

    @jax.jit
    def dense_top(flat, batch):
        """The top eigenvalue of the dense batch Hessian (compiled once)."""
        Hb = jax.hessian(lambda f: loss_fn(unravel(f), batch))(flat)
        return jnp.linalg.eigvalsh(Hb)[-1]

    every = STEPS // CHECKPOINTS
    in_step, checkpoints, result = [], [], None
    worst_in_step = 0.0
    t_check = 0.0
    for step, key in enumerate(jax.random.split(k_sgd, STEPS)):
        if step % every == 0 or step == STEPS - 1:
            t0 = time.perf_counter()
            op = hessian_operator(loss_fn, params, data, progress=False)
            result = jaxmc.eigenvalues(op, k=5, key=jax.random.fold_in(k_eig, step))
            jax.block_until_ready(result.values)
            t_check += time.perf_counter() - t0
            checkpoints.append((step, [float(v) for v in result.values]))
            top = ", ".join(f"{float(v):.3f}" for v in result.values)
            print(f"  step {step:5d}: top-5 of the full-data Hessian [{top}]")
        new_params, sharp, loss, batch = train_step(params, sharp, key)
        in_step.append(float(sharp.value))
        if step % every == every // 2:
            # The in-step estimate is the top eigenvalue of the batch Hessian
            # at the step's parameters: check it against the dense one.
            dense = float(dense_top(ravel_pytree(params)[0], batch))
            worst_in_step = max(worst_in_step, abs(in_step[-1] - dense) / dense)
        params = new_params

    n = ravel_pytree(params)[0].size
    print(
        f"MLP {D}-{H}-1 ({n} parameters), {N} examples; SGD eta={ETA}, batch "
        f"{BATCH}, {STEPS} steps; loss {float(loss):.4f} at the end."
    )
    print(
        f"  in-step sharpness: {MATVECS} Hessian-vector products a step; largest "
        f"relative error against the dense batch Hessian {worst_in_step:.1e}"
    )
    print(
        f"  sharpness {in_step[0]:.3f} -> {in_step[-1]:.3f} (batch), "
        f"{checkpoints[0][1][0]:.3f} -> {checkpoints[-1][1][0]:.3f} (full data); "
        f"2/eta = {2 / ETA:.1f}"
    )
    print(f"  {len(checkpoints)} checkpoints took {t_check:.2f} s in all")
    assert worst_in_step < 1e-3, worst_in_step

    fig, ax = plt.subplots(figsize=(6.5, 3.2), layout="constrained")
    ax.plot(in_step, lw=0.8, color="C0", label="in-step (batch loss)")
    steps_c = [s for s, _ in checkpoints]
    ax.plot(
        steps_c,
        [v[0] for _, v in checkpoints],
        "o",
        color="C1",
        label="top eigenvalue, full data",
    )
    ax.axhline(2 / ETA, ls="--", color="k", lw=1, label=r"$2/\eta$")
    ax.set_xlabel("SGD step")
    ax.set_ylabel(r"sharpness $\lambda_{\max}$")
    ax.legend(frameon=False)
    fig.savefig("sharpness_tracking.png", dpi=150)
    print("  wrote sharpness_tracking.png")


if __name__ == "__main__":
    main()
