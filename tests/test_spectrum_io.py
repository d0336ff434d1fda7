"""save / load / to_dict / from_dict: every result type round-trips bitwise."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _density_problems import mlp_problem

from jaxmc import spectrum
from jaxmc.spectrum import (
    DiagonalEstimate,
    EigenResult,
    KPMDensity,
    LayerSpectra,
    LayerSpectrum,
    SpectralDensity,
    TraceEstimate,
    from_dict,
    load,
    save,
)


def assert_bitwise(a, b):
    """Same structure, container and leaf types, dtypes, shapes and bits."""
    from jaxmc.spectrum._io import _plain

    def same(x, y, where):
        assert type(x) is type(y), (where, type(x), type(y))
        if isinstance(x, dict):
            assert list(x) == list(y), where
            for k in x:
                same(x[k], y[k], f"{where}[{k!r}]")
        elif isinstance(x, (list, tuple)):
            assert len(x) == len(y), where
            for i, (u, v) in enumerate(zip(x, y, strict=True)):
                same(u, v, f"{where}[{i}]")
        elif isinstance(x, (np.ndarray, np.generic)):
            assert x.dtype == y.dtype and x.shape == y.shape, where
            assert x.tobytes() == y.tobytes(), where
        else:
            assert x == y or (x != x and y != y), (where, x, y)

    same(_plain(a), _plain(b), "result")


def roundtrip(result, tmp_path, name="r"):
    path = result.save(tmp_path / name)
    assert path == tmp_path / f"{name}.json" and path.exists()
    back = load(path)
    assert type(back) is type(result)
    assert_bitwise(back, result)
    # to_dict / from_dict invert each other as well, without files
    assert_bitwise(from_dict(result.to_dict()), result)
    return back, path


def _arrays(dtype, *shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [jnp.asarray(rng.normal(size=s), dtype) for s in shapes]


def slq_density(dtype, seed=0):
    grid, dens, lo, hi, nodes, weights = _arrays(
        dtype, (50,), (50,), (50,), (50,), (3, 12), (3, 12), seed=seed
    )
    return SpectralDensity(
        grid,
        dens,
        lo,
        hi,
        nodes,
        weights,
        jnp.array([9.0, 6.0], dtype),
        jnp.asarray(0.01, dtype),
        jnp.asarray(28 / 30, dtype),
    )


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_every_result_type_roundtrips_bitwise(dtype, tmp_path):
    vals, vecs, res = _arrays(dtype, (6,), (6, 30), (6,))
    eig = EigenResult(vals, vecs, res, res < 0.5, jnp.asarray(23))
    back, path = roundtrip(eig, tmp_path, "eig")
    assert back.values.dtype == dtype and repr(back) == repr(eig)
    doc = json.loads(path.read_text())
    assert doc["format"] == "jaxmc.spectrum/1" and doc["jaxmc_version"]
    values = doc["result"]["values"]
    assert values["dtype"] == np.dtype(dtype).name and values["shape"] == [6]
    # the JSON lists small arrays readably, and reads back to the same numbers
    np.testing.assert_array_equal(np.asarray(values["data"], dtype), vals)
    tr = TraceEstimate(jnp.asarray(-1.92, dtype), jnp.asarray(7.4, dtype), 30)
    back, _ = roundtrip(tr, tmp_path, "trace")
    assert back.num_matvecs == 30 and repr(back) == repr(tr)
    est, se = _arrays(dtype, (30,), (30,))
    roundtrip(DiagonalEstimate(est, se, 12), tmp_path, "diag")
    slq = slq_density(dtype)
    back, _ = roundtrip(slq, tmp_path, "slq")
    assert repr(back) == repr(slq)
    g, d, lo, hi, mom = _arrays(dtype, (40,), (40,), (40,), (40,), (20,))
    kpm = KPMDensity(g, d, lo, hi, mom, jnp.array([-1.0, 9.5], dtype), jnp.zeros(0))
    roundtrip(kpm, tmp_path, "kpm")
    rows = tuple(
        LayerSpectrum(
            name,
            size,
            jnp.array([1.5], dtype),
            jnp.asarray(0.3, dtype),
            jnp.asarray(0.0, dtype),
            slq_density(dtype, seed=size),
        )
        for name, size in (("[0]", 168), ("[1]", 75))
    )
    table = LayerSpectra(rows)
    back, _ = roundtrip(table, tmp_path, "layers")
    assert str(back) == str(table) and back["[1]"].size == 75
    roundtrip(rows[0], tmp_path, "row")


def test_computed_results_and_pytree_vectors_roundtrip(tmp_path):
    loss, params, data = mlp_problem(jnp.float64, d=3, h=4, c=2, N=16)
    op = spectrum.hessian_operator(loss, params, data)
    key = jax.random.key(3)
    res = spectrum.eigenvalues(op, 2, key=key)
    back, _ = roundtrip(res, tmp_path, "hess")
    # Hessian eigenvectors are parameter pytrees (a list of dicts): kept as such
    assert isinstance(back.vectors, list) and set(back.vectors[0]) == {"w", "b"}
    assert repr(back) == repr(res)


def test_containers_scalars_and_other_pytree_nodes(tmp_path):
    est = TraceEstimate(jnp.float32(1.5), jnp.float32(0.5), 7)
    bundle = {
        "trace": est,
        "runs": [est, None],
        "pair": (1, 2.5, "x", True),
        "int_keys": {0: np.arange(3), 1: np.float32(2.0)},
        "tricky": {"__array__": "not an array"},
        "big": np.arange(5000, dtype=np.int16),
        "bf16": jnp.ones(3, jnp.bfloat16),
        "nan": np.array([np.nan, np.inf, -0.0]),
    }
    path = save(bundle, tmp_path / "bundle.json")
    back = load(tmp_path / "bundle.npz")  # either file of the pair
    assert_bitwise(back, bundle)
    assert type(back["runs"]) is list and type(back["pair"]) is tuple
    assert isinstance(back["int_keys"][1], np.float32)
    doc = json.loads(path.read_text())
    assert "data" not in doc["result"]["big"]  # large arrays only in the .npz
    # pytree node types beyond dict/list/tuple come back keyed by their path
    from flax.core import FrozenDict

    res = EigenResult(
        jnp.ones(1),
        FrozenDict({"a": jnp.zeros((1, 2))}),
        jnp.ones(1),
        jnp.ones(1) > 0,
        3,
    )
    back = load(res.save(tmp_path / "frozen"))
    assert list(back.vectors) == ["['a']"]
    np.testing.assert_array_equal(back.vectors["['a']"], np.zeros((1, 2)))


def test_load_works_whatever_x64_says(tmp_path):
    res = TraceEstimate(np.float64(1.0) / 3, np.float64(1e-300), 4)
    path = res.save(tmp_path / "t")
    with jax.enable_x64(False):
        back = load(path)
    assert back.estimate.dtype == np.float64
    assert back.estimate.tobytes() == np.float64(1.0 / 3).tobytes()


def test_json_alone_suffices_for_small_results(tmp_path):
    res = TraceEstimate(jnp.float32(0.1), jnp.float32(0.2), 3)
    path = res.save(tmp_path / "t.json")
    (tmp_path / "t.npz").unlink()
    assert_bitwise(load(path), res)


def test_bad_files_and_values(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load(tmp_path / "missing.json")
    (tmp_path / "other.json").write_text('{"a": 1}')
    with pytest.raises(ValueError, match="not a jaxmc results file"):
        load(tmp_path / "other.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="is not JSON"):
        load(tmp_path / "bad.json")
    path = EigenResult(
        jnp.ones(2), jnp.ones((2, 2000)), jnp.ones(2), jnp.ones(2) > 0, 3
    ).save(tmp_path / "e")
    doc = json.loads(path.read_text())
    doc["result"]["__type__"] = "Nonsense"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="unknown result type 'Nonsense'"):
        load(path)
    doc["result"]["__type__"] = "TraceEstimate"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="does not match TraceEstimate's fields"):
        load(path)
    path.write_text(json.dumps(doc))
    path.with_suffix(".npz").unlink()
    with pytest.raises(ValueError, match=r"\.npz file is missing"):
        load(path)
    with pytest.raises(TypeError, match="cannot store a object"):
        save({"f": object()}, tmp_path / "x")
    with pytest.raises(TypeError, match="argument `result` must be one of"):
        spectrum.to_dict({"a": 1})
