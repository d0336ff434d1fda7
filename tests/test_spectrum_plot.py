"""Tests for the spectrum figures: rendered headless (Agg) to PNG and read back."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmc.spectrum import (
    EigenResult,
    kpm_density,
    matrix_operator,
    plot_density,
    plot_eigenvalues,
    plot_layer_spectra,
    spectral_density,
)
from jaxmc.spectrum._layers import LayerSpectra, LayerSpectrum
from jaxmc.spectrum._plot import _stem_heights, readable_names

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
    ax = plot_density(res, log=log, label="SLQ", title="a title")
    assert ax.get_yscale() == ("log" if log else "linear")
    assert ax.get_title() == "a title"
    # a labelled rug: one stem per outlier, numbered by rank, low in the axes;
    # the x range reaches the largest outlier
    (stems,) = [c for c in ax.collections if type(c).__name__ == "LineCollection"]
    segs = stems.get_segments()
    xs = [seg[0][0] for seg in segs]
    np.testing.assert_allclose(xs, [9.0, 8.0, 6.0], rtol=1e-6)
    heights = [seg[1][1] for seg in segs]
    assert all(0.0 < h < 0.5 for h in heights)
    assert sorted(t.get_text() for t in ax.texts) == ["1", "2", "3"]
    assert ax.get_xlim()[1] >= 9.0
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["SLQ", "band", "3 outliers"]
    # no floor line: on a log axis, values far below the peak are left out
    ys = ax.get_lines()[0].get_ydata()
    if log:
        peak = float(np.max(res.density))
        assert np.all(np.isnan(ys) | (ys >= 1e-8 * peak))
        assert np.isnan(ys).any()  # the Gaussian tails fall below 1e-8 of the peak
        assert ax.get_ylim()[0] == pytest.approx(1e-8 * float(np.max(res.upper)))
    else:
        np.testing.assert_array_equal(ys, np.asarray(res.density))
    assert_not_blank(render(ax, tmp_path / "density.png"))


def test_close_outlier_stems_are_staggered():
    xs = np.array([100.0, 60.0, 9.1, 9.0, 6.2, 6.0, 4.0])
    h = _stem_heights(xs, 100.0)
    # 4, 6, 6.2, 9, 9.1 are within 3% of the range of a neighbour: five levels
    np.testing.assert_allclose(h[[6, 5, 4, 3, 2]], [0.08, 0.15, 0.22, 0.29, 0.36])
    np.testing.assert_allclose(h[[0, 1]], [0.08, 0.08])


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


def _result(values, n):
    """An EigenResult for diag(arange(n)) holding the given eigenvalues."""
    values = jnp.asarray(values, jnp.float32)
    vectors = jax.nn.one_hot(values.astype(int), n)
    zeros = jnp.zeros(values.shape)
    return EigenResult(values, vectors, zeros, zeros == 0, jnp.array(10))


@pytest.mark.parametrize(
    "values, which, ranks",
    [
        ([99, 98, 97, 0, 1, 2], None, [1, 2, 3, 98, 99, 100]),  # which="both"
        ([0, 1, 2], None, [98, 99, 100]),  # which="smallest"
        ([99, 98, 97], None, [1, 2, 3]),
        ([99, 0], "both", [1, 100]),  # k = 1: ambiguous, so named
    ],
)
def test_plot_eigenvalues_ranks_both_ends(values, which, ranks):
    ax = plot_eigenvalues(_result(values, 100), which=which)
    xs, ys = ax.get_lines()[0].get_data()
    np.testing.assert_array_equal(xs, ranks)
    # diag(arange(100)): the eigenvalue at rank r is 100 - r
    np.testing.assert_array_equal(ys, 100 - np.asarray(ranks))
    plt.close(ax.figure)


def test_plot_eigenvalues_needs_the_size_for_the_smallest():
    with pytest.raises(ValueError, match=r"plot_eigenvalues: .* pass size=n"):
        plot_eigenvalues(np.array([0.0, 1.0]), which="smallest")
    ax = plot_eigenvalues(np.array([0.0, 1.0]), which="smallest", size=10)
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [9, 10])
    plt.close(ax.figure)
    # largest magnitude: positive values ranked from the top, negative from below
    ax = plot_eigenvalues(
        np.array([5.0, -4.0, 3.0]), which="largest_magnitude", size=10
    )
    np.testing.assert_array_equal(
        ax.get_lines()[0].get_data(), [[1, 2, 10], [5, 3, -4]]
    )
    plt.close(ax.figure)
    with pytest.raises(ValueError, match=r"`which` must be one of"):
        plot_eigenvalues(np.array([0.0, 1.0]), which="top")


def test_plot_layer_spectra(op, tmp_path):
    dens = spectral_density(op, key=jax.random.key(0), num_runs=2, lanczos_steps=5)
    rows = tuple(
        LayerSpectrum(name, n, jnp.array([t]), jnp.array(tr), jnp.array(0.1 * tr), dens)
        for name, n, t, tr in [
            ("['params']['dense_0']", 10, 3.0, 12.0),
            ("['params']['head']", 5, 1.0, 2.0),
        ]
    )
    ax = plot_layer_spectra(LayerSpectra(rows), title="per layer")
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == ["dense_0\n(10)", "head\n(5)"]
    assert ax.get_yscale() == "log"
    assert ax.get_title() == "per layer"
    heights = sorted(p.get_height() for p in ax.patches)
    np.testing.assert_allclose(heights, [1.0, 2.0, 3.0, 12.0])
    assert_not_blank(render(ax, tmp_path / "layers.png"))
    # a negative value: a symmetric-log axis, linear up to the smallest magnitude
    neg = (dataclasses.replace(rows[0], trace=jnp.array(-0.5)), rows[1])
    ax = plot_layer_spectra(LayerSpectra(neg))
    assert ax.get_yscale() == "symlog"
    assert ax.yaxis.get_transform().linthresh == pytest.approx(0.5)
    plt.close(ax.figure)


@pytest.mark.parametrize(
    "names, readable",
    [
        (["['params']['dense_0']", "['params']['head']"], ["dense_0", "head"]),
        (["[0]", "[1]"], ["0", "1"]),
        (["['a']['w']", "['b']"], ["a/w", "b"]),
        # flax nnx State paths end in .value
        (
            [".layers[0].kernel.value", ".layers[1].kernel.value"],
            ["0/kernel", "1/kernel"],
        ),
        (["encoder", "decoder"], ["encoder", "decoder"]),  # user names kept
    ],
)
def test_readable_block_names(names, readable):
    assert readable_names(names) == readable


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
