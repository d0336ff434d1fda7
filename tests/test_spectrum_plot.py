"""Tests for the spectrum figures: rendered headless (Agg) to PNG and read back."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmc.spectrum import (
    kpm_density,
    matrix_operator,
    plot_density,
    plot_eigenvalues,
    plot_layer_spectra,
    spectral_density,
)
from jaxmc.spectrum._layers import LayerSpectra, LayerSpectrum

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.image  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402


def render(ax, path):
    ax.figure.set_size_inches(4.0, 3.0)
    ax.figure.savefig(path, dpi=50)
    plt.close(ax.figure)
    img = matplotlib.image.imread(path)
    assert img.shape[:2] == (150, 200)  # 4 x 3 inches at 50 dpi
    return img


def assert_not_blank(img):
    rgb = img[..., :3]
    assert float(rgb.std()) > 0.02  # a white canvas has zero spread
    # something other than white and black is drawn (the curve, the band)
    coloured = np.abs(rgb - rgb.mean(axis=-1, keepdims=True)).max(axis=-1) > 0.1
    assert coloured.sum() > 20


@pytest.fixture(scope="module")
def op():
    lam = np.concatenate([np.linspace(-1.0, 2.0, 57), [6.0, 8.0, 9.0]])
    Q = np.linalg.qr(np.random.default_rng(0).normal(size=(60, 60)))[0]
    return matrix_operator(jnp.asarray((Q * lam) @ Q.T))


@pytest.mark.parametrize("log", [True, False])
def test_plot_density_with_outliers(op, tmp_path, log):
    res = spectral_density(
        op, key=jax.random.key(0), num_runs=4, lanczos_steps=20, deflate=3
    )
    ax = plot_density(res, log=log, label="SLQ")
    assert ax.get_yscale() == ("log" if log else "linear")
    # three outlier lines, and the x range reaches the largest outlier
    vlines = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert len(vlines) == 3
    assert ax.get_xlim()[1] >= 9.0
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "SLQ" in labels and "band" in labels and "3 outlier(s)" in labels
    assert_not_blank(render(ax, tmp_path / "density.png"))


def test_plot_kpm_on_given_axes(op, tmp_path):
    res = kpm_density(op, key=jax.random.key(0), num_moments=30, num_probes=3)
    fig, ax = plt.subplots()
    out = plot_density(res, ax)
    assert out is ax
    assert_not_blank(render(ax, tmp_path / "kpm.png"))


def test_plot_eigenvalues(tmp_path):
    vals = jnp.array([3.0, -1.0, 2.0, 0.5])
    ax = plot_eigenvalues(vals, reference=np.array([3.0, 2.0, 0.5, -1.0, -2.0]))
    ys = ax.get_lines()[1].get_ydata()
    np.testing.assert_array_equal(ys, [3.0, 2.0, 0.5, -1.0])  # sorted, largest first
    assert_not_blank(render(ax, tmp_path / "eig.png"))
    with pytest.raises(
        ValueError, match=r"plot_eigenvalues: argument `values` must be one-dimensional"
    ):
        plot_eigenvalues(jnp.ones((2, 2)))


def test_plot_layer_spectra(op, tmp_path):
    dens = spectral_density(op, key=jax.random.key(0), num_runs=2, lanczos_steps=5)
    rows = tuple(
        LayerSpectrum(name, n, jnp.array([t]), jnp.array(tr), jnp.array(0.1 * tr), dens)
        for name, n, t, tr in [("[0]", 10, 3.0, 12.0), ("[1]", 5, 1.0, 2.0)]
    )
    ax = plot_layer_spectra(LayerSpectra(rows))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["[0]", "[1]"]
    assert ax.get_yscale() == "log"
    heights = sorted(p.get_height() for p in ax.patches)
    np.testing.assert_allclose(heights, [1.0, 2.0, 3.0, 12.0])
    assert_not_blank(render(ax, tmp_path / "layers.png"))


def test_plot_bad_inputs():
    with pytest.raises(
        TypeError, match=r"plot_density: argument `result` must be a SpectralDensity"
    ):
        plot_density(np.ones(3))
    with pytest.raises(
        TypeError,
        match=r"plot_layer_spectra: argument `table` must be a non-empty LayerSpectra",
    ):
        plot_layer_spectra([1, 2])
