"""Renders the spectrum figures kept in docs/figures/ (paper sizes).

A three-layer tanh MLP (10-32-32-4, 1,612 parameters) is trained with SGD on a
synthetic teacher-student regression; its Hessian is then analysed with every
figure function, each drawn one column wide (3.25 in) and two columns wide
(6.5 in) with matplotlib's default style. Run from the repository root:

    PYTHONPATH=. python docs/figures/spectrum_figures.py [out_dir] [--both]

It writes spectrum_<figure>.png (3.25 in wide, 200 dpi) into ``out_dir``
(default docs/figures) and, with --both, the 6.5 in versions as well.
"""

import pathlib
import sys

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from jaxmc import spectrum  # noqa: E402

jax.config.update("jax_enable_x64", True)
OUT = pathlib.Path(
    sys.argv[1] if len(sys.argv) > 1 and sys.argv[1][0] != "-" else "docs/figures"
)
SIZES = (3.25, 6.5) if "--both" in sys.argv else (3.25,)
D, H, C, N = 10, 32, 4, 512


def init(key, scale):
    """Parameters of the MLP, named by layer."""
    ks = jax.random.split(key, 3)
    shapes = {"dense_0": (D, H), "dense_1": (H, H), "head": (H, C)}
    return {
        name: {
            "w": scale * jax.random.normal(k, shape) / shape[0] ** 0.5,
            "b": jnp.zeros(shape[1]),
        }
        for k, (name, shape) in zip(ks, shapes.items(), strict=True)
    }


def predict(p, X):
    """The MLP's outputs."""
    h = jnp.tanh(X @ p["dense_0"]["w"] + p["dense_0"]["b"])
    h = jnp.tanh(h @ p["dense_1"]["w"] + p["dense_1"]["b"])
    return h @ p["head"]["w"] + p["head"]["b"]


def loss_fn(p, batch):
    """Half the mean squared error."""
    return 0.5 * jnp.mean(jnp.sum((predict(p, batch[0]) - batch[1]) ** 2, axis=1))


def main():
    """Trains, analyses and draws."""
    k = jax.random.split(jax.random.key(0), 6)
    X = jax.random.normal(k[0], (N, D))
    data = (X, predict(init(k[1], 2.0), X))
    params = init(k[2], 1.0)

    def step(p, _):
        g = jax.grad(loss_fn)(p, data)
        return jax.tree_util.tree_map(lambda a, b: a - 0.1 * b, p, g), None

    params = jax.jit(lambda p: jax.lax.scan(step, p, None, length=500)[0])(params)
    op = spectrum.hessian_operator(loss_fn, params, data)
    results = {
        "density_slq": spectrum.spectral_density(op, key=k[3]),
        "density_slq_deflated": spectrum.spectral_density(op, key=k[3], deflate=6),
        "density_kpm": spectrum.kpm_density(op, key=k[4]),
        "eigenvalues": spectrum.eigenvalues(op, 6, which="both", key=k[5]),
        "layers": spectrum.layer_spectra(
            loss_fn, params, data, key=k[5], k=2, num_runs=6, lanczos_steps=40
        ),
    }
    draw = {
        "density_slq": lambda r, ax: spectrum.plot_density(
            r, ax, title="SLQ, no deflation"
        ),
        "density_slq_deflated": lambda r, ax: spectrum.plot_density(
            r, ax, title="SLQ, top 6 deflated"
        ),
        "density_kpm": lambda r, ax: spectrum.plot_density(
            r, ax, title="KPM (Jackson kernel)"
        ),
        "eigenvalues": lambda r, ax: spectrum.plot_eigenvalues(
            r, ax, title="6 largest and 6 smallest"
        ),
        "layers": lambda r, ax: spectrum.plot_layer_spectra(r, ax, title="per layer"),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    for name, res in results.items():
        for width in SIZES:
            fig, ax = plt.subplots(figsize=(width, 0.7 * width), layout="constrained")
            draw[name](res, ax)
            suffix = "" if width == 3.25 else "_wide"
            fig.savefig(OUT / f"spectrum_{name}{suffix}.png", dpi=200)
            plt.close(fig)
    print(op, results["eigenvalues"], results["layers"], sep="\n")


if __name__ == "__main__":
    main()
