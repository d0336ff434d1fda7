"""Tests for layer_spectra (per-block Hessian spectra) and the CLI density report."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _density_problems import mlp_problem
from jax.flatten_util import ravel_pytree

from jaxmc.spectrum import LayerSpectra, layer_spectra


@pytest.fixture(scope="module")
def problem():
    loss, params, data = mlp_problem(jnp.float64)
    flat, unravel = ravel_pytree(params)
    H = np.asarray(jax.hessian(lambda f: loss(unravel(f), data))(flat))
    # ravel_pytree order: [0]['b'] (24), [0]['w'] (144), [1]['b'] (3), [1]['w'] (72)
    sizes = {"[0]['b']": 24, "[0]['w']": 144, "[1]['b']": 3, "[1]['w']": 72}
    offsets = np.cumsum([0, *sizes.values()])
    index = {
        name: np.arange(offsets[i], offsets[i + 1]) for i, name in enumerate(sizes)
    }
    return loss, params, data, H, index


def block(H, idx):
    return H[np.ix_(idx, idx)]


def test_layers_top_and_trace_against_dense_blocks(problem):
    loss, params, data, H, index = problem
    table = layer_spectra(
        loss, params, data, key=jax.random.key(0), k=2, num_runs=6, lanczos_steps=73
    )
    assert isinstance(table, LayerSpectra) and [r.name for r in table] == ["[0]", "[1]"]
    layer0 = np.concatenate([index["[0]['b']"], index["[0]['w']"]])
    layer1 = np.concatenate([index["[1]['b']"], index["[1]['w']"]])
    for row, idx in zip(table, (layer0, layer1), strict=True):
        B = block(H, idx)
        evals = np.linalg.eigvalsh(B)
        assert row.size == idx.size
        np.testing.assert_allclose(row.top, evals[::-1][:2], rtol=1e-6)
        assert abs(float(row.trace) - np.trace(B)) <= 4 * float(row.trace_stderr) + 1e-9
        np.testing.assert_allclose(row.density.outliers, evals[::-1][:2], rtol=1e-6)
    # layer 1 (75 parameters <= lanczos_steps + k) is decomposed exactly
    assert float(table["[1]"].trace_stderr) == 0.0
    np.testing.assert_allclose(
        float(table["[1]"].trace), np.trace(block(H, layer1)), rtol=1e-10
    )
    text = str(table)
    assert "block" in text and "trace" in text and "[0]" in text and "168" in text
    assert repr(table).startswith("LayerSpectra(")


@pytest.fixture(scope="module")
def tiny():
    loss, params, data = mlp_problem(jnp.float64, d=3, h=4, c=2, N=16)
    flat, unravel = ravel_pytree(params)
    H = np.asarray(jax.hessian(lambda f: loss(unravel(f), data))(flat))
    sizes = {"[0]['b']": 4, "[0]['w']": 12, "[1]['b']": 2, "[1]['w']": 8}
    offsets = np.cumsum([0, *sizes.values()])
    index = {
        name: np.arange(offsets[i], offsets[i + 1]) for i, name in enumerate(sizes)
    }
    return loss, params, data, H, index


def test_leaf_and_custom_blocks(tiny):
    loss, params, data, H, index = tiny
    table = layer_spectra(
        loss, params, data, key=jax.random.key(1), blocks="leaves", k=3, num_runs=2
    )
    assert [r.name for r in table] == list(index)
    for row in table:  # blocks this small are decomposed exactly
        evals = np.linalg.eigvalsh(block(H, index[row.name]))[::-1]
        np.testing.assert_allclose(
            row.top[: evals.size], evals[:3], rtol=1e-10, atol=1e-12
        )
        np.testing.assert_allclose(row.trace, evals.sum(), rtol=1e-10, atol=1e-14)
    # fewer parameters than k: the missing eigenvalues are NaN
    assert np.isnan(np.asarray(table["[1]['b']"].top)[2])

    def out_weights(path, leaf):
        return jax.tree_util.keystr(path) == "[1]['w']"

    table = layer_spectra(
        loss, params, data, key=jax.random.key(2), blocks={"out": out_weights}, k=2
    )
    B = block(H, index["[1]['w']"])
    np.testing.assert_allclose(
        table["out"].top, np.linalg.eigvalsh(B)[::-1][:2], rtol=1e-10, atol=1e-12
    )
    with pytest.raises(KeyError, match="no block named 'nope'"):
        table["nope"]


def test_layer_spectra_bad_inputs(tiny):
    loss, params, data, _, _ = tiny
    key = jax.random.key(0)
    fn = "jaxmc.spectrum.layer_spectra"
    with pytest.raises(
        ValueError, match=f"{fn}: argument `blocks` must be one of 'layers', 'leaves'"
    ):
        layer_spectra(loss, params, data, key=key, blocks="rows")
    with pytest.raises(
        TypeError, match=r"`blocks` must be 'layers', 'leaves' or a dict"
    ):
        layer_spectra(loss, params, data, key=key, blocks=3)
    with pytest.raises(ValueError, match=r"`blocks` must name at least one block"):
        layer_spectra(loss, params, data, key=key, blocks={})
    with pytest.raises(ValueError, match=r"`k` must be an int >= 1"):
        layer_spectra(loss, params, data, key=key, k=0)
    with pytest.raises(TypeError, match=r"`key` must be a PRNG key"):
        layer_spectra(loss, params, data, key=1)


def test_cli_spectrum_plot_and_layers(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    import matplotlib.image

    from jaxmc.cli import _spectrum_density, build_parser, main

    out = tmp_path / "density.png"
    argv = ["spectrum", "--hidden", "4", "--examples", "32", "--steps", "5"]
    argv += ["--k", "2", "--trace-matvecs", "12", "--plot", str(out), "--layers"]
    argv += ["--density-runs", "3", "--density-steps", "10", "--deflate", "2"]
    assert main(argv) == 0
    img = matplotlib.image.imread(out)
    assert img.ndim == 3 and img.shape[0] > 100 and float(img[..., :3].std()) > 0.02
    text = capsys.readouterr().out
    assert "outliers [" in text and "per-layer spectra" in text and "[1]" in text
    args = build_parser().parse_args(["spectrum"])
    assert not _spectrum_density.wants_report(args)
