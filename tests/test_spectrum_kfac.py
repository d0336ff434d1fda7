"""K-FAC against the exact Fisher (dense, float64) and against its own dense matrix."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmc.spectrum import (
    KFACOperator,
    flax_model_fn,
    ggn_operator,
    kfac_operator,
)


def readme_mlp(dtype=jnp.float64, sizes=(4, 5, 3), seed=0):
    """The README's MLP: a list of {"w", "b"} dicts, batch = (X, y)."""
    keys = jax.random.split(jax.random.key(seed), 2 * len(sizes))
    params = [
        {
            "w": jax.random.normal(keys[2 * i], (sizes[i], sizes[i + 1]), dtype)
            / np.sqrt(sizes[i]),
            "b": 0.3 * jax.random.normal(keys[2 * i + 1], (sizes[i + 1],), dtype),
        }
        for i in range(len(sizes) - 1)
    ]

    return params, readme_model


def readme_model(params, batch):
    x = batch[0]
    for layer in params[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"][None, :])
    return x @ params[-1]["w"] + params[-1]["b"][None, :]


def xent(logits, batch):
    # The GGN of the cross-entropy in the logits is the categorical Fisher
    # (its Hessian does not depend on the label).
    return jnp.mean(jax.nn.logsumexp(logits, axis=-1) - logits[:, 0])


def data(n, d=4, dtype=jnp.float64, seed=1):
    k1, k2 = jax.random.split(jax.random.key(seed))
    return jax.random.normal(k1, (n, d), dtype), jax.random.randint(k2, (n,), 0, 3)


def layer_blocks(op):
    """Flat indices of each K-FAC layer's block in the operator's vector."""
    return [np.asarray(i) for i in op._idx]


def assert_layer_blocks_equal(op, F, rtol, atol):
    K = np.asarray(op.to_dense())
    covered = np.zeros(F.shape, bool)
    for idx in layer_blocks(op):
        np.testing.assert_allclose(
            K[np.ix_(idx, idx)], F[np.ix_(idx, idx)], rtol=rtol, atol=atol
        )
        covered[np.ix_(idx, idx)] = True
    assert np.all(K[~covered] == 0)  # block-diagonal over layers


def test_one_example_equals_exact_fisher_blocks_readme_mlp():
    params, model = readme_mlp()
    batch = data(1)
    op = kfac_operator(model, params, batch)
    assert isinstance(op, KFACOperator) and op.size == 25 + 18
    assert [(layer.weight, layer.bias) for layer in op.layers] == [
        ("[0]['w']", "[0]['b']"),
        ("[1]['w']", "[1]['b']"),
    ]
    assert [layer.A.shape for layer in op.layers] == [(5, 5), (6, 6)]
    F = np.asarray(ggn_operator(model, xent, params, batch).to_dense())
    assert_layer_blocks_equal(op, F, rtol=1e-10, atol=1e-13)


def test_one_example_equals_exact_fisher_blocks_flax_dense():
    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Dense(5, param_dtype=jnp.float64)(x))
            return nn.Dense(3, param_dtype=jnp.float64)(x)

    x = data(1)[0]
    net = MLP()
    variables = net.init(jax.random.key(0), x)
    model, params = flax_model_fn(net, variables)
    op = kfac_operator(model, params, x)
    assert [layer.weight for layer in op.layers] == [
        "['Dense_0']['kernel']",
        "['Dense_1']['kernel']",
    ]
    F = np.asarray(ggn_operator(model, xent, params, x).to_dense())
    assert_layer_blocks_equal(op, F, rtol=1e-10, atol=1e-13)


def test_transposed_weights_in_a_jitted_layer_and_gaussian():
    @jax.jit
    def dense(w, b, x):  # torch layout, inside jax.jit
        return x @ w.T + b[None, :]

    def model(p, x):
        return dense(p["w2"], p["b2"], jnp.tanh(dense(p["w1"], p["b1"], x)))

    k = jax.random.split(jax.random.key(3), 3)
    p = {
        "w1": jax.random.normal(k[0], (5, 4), jnp.float64),
        "b1": jax.random.normal(k[1], (5,), jnp.float64),
        "w2": jax.random.normal(k[2], (2, 5), jnp.float64),
        "b2": jnp.zeros(2, jnp.float64),
    }
    x = data(1)[0]
    sigma = 0.5
    op = kfac_operator(model, p, x, likelihood="gaussian", noise_scale=sigma)
    assert [(la.d_in, la.d_out) for la in op.layers] == [(4, 5), (5, 2)]

    def sq(z, x):
        return jnp.mean(jnp.sum(z**2, axis=-1)) / (2 * sigma**2)

    F = np.asarray(ggn_operator(model, sq, p, x).to_dense())
    assert_layer_blocks_equal(op, F, rtol=1e-10, atol=1e-13)


@pytest.fixture(scope="module")
def kfac64():
    params, model = readme_mlp(sizes=(4, 6, 5, 3))
    return params, model, kfac_operator(model, params, data(20))


def test_eigenvalues_equal_eigh_of_dense(kfac64):
    *_, op = kfac64
    K = op.to_dense()
    ref = np.sort(np.linalg.eigvalsh(np.asarray(K)))[::-1]
    ev = op.eigenvalues()
    assert ev.shape == (op.size,) == (30 + 35 + 18,)
    np.testing.assert_allclose(ev, ref, rtol=1e-10, atol=1e-13 * ref[0])
    per_layer = op.layer_eigenvalues()
    assert sorted(np.concatenate(list(per_layer.values())).tolist()) == sorted(
        ev.tolist()
    )


def test_inverse_and_logdet_are_exact(kfac64):
    *_, op = kfac64
    d = 1e-3
    K = np.asarray(op.to_dense()) + d * np.eye(op.size)
    inv = op.inverse(d)
    np.testing.assert_allclose(inv.to_dense(), np.linalg.inv(K), rtol=1e-8, atol=1e-8)
    v = jnp.arange(op.size, dtype=jnp.float64)
    np.testing.assert_allclose(K @ inv.matvec(v), v, rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(op.logdet(d), np.linalg.slogdet(K)[1], rtol=1e-11)
    with pytest.raises(ValueError, match="damping"):
        op.logdet(-1.0)


def test_batched_and_streamed_factors_match_in_memory(kfac64):
    params, model, op = kfac64
    X, y = data(20)
    batched = kfac_operator(model, params, (X, y), batch_size=6)
    streamed = kfac_operator(
        model, params, lambda: [(X[:7], y[:7]), (X[7:], y[7:])], progress=False
    )
    for other in (batched, streamed):
        for a, b in zip(op.layers, other.layers, strict=True):
            np.testing.assert_allclose(a.A, b.A, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(a.G, b.G, rtol=1e-12, atol=1e-14)


def test_monte_carlo_factors_converge_at_the_sqrt_rate(kfac64):
    params, model, op = kfac64
    batch = data(20)
    errs = []
    for S in (4, 64):
        runs = [
            kfac_operator(model, params, batch, mc_samples=S, key=jax.random.key(s))
            for s in range(6)
        ]
        errs.append(
            np.sqrt(
                np.mean(
                    [
                        np.sum((np.asarray(r.layers[-1].G) - op.layers[-1].G) ** 2)
                        for r in runs
                    ]
                )
            )
        )
        # The A factor does not depend on the labels.
        np.testing.assert_allclose(runs[0].layers[0].A, op.layers[0].A, rtol=1e-12)
    # RMS error ~ 1/sqrt(S): 16x the samples, about 4x smaller (loose bounds).
    assert 2.0 < errs[0] / errs[1] < 8.0


def test_float32_matches_float64():
    p64, model = readme_mlp(sizes=(4, 6, 3))
    p32 = jax.tree_util.tree_map(lambda x: x.astype(jnp.float32), p64)
    X, y = data(16)
    op64 = kfac_operator(model, p64, (X, y))
    op32 = kfac_operator(model, p32, (X.astype(jnp.float32), y))
    assert op32.dtype == jnp.float32
    ev64 = op64.eigenvalues()
    # float32 factors and eigh: errors near 1e-6 of the largest eigenvalue.
    np.testing.assert_allclose(op32.eigenvalues(), ev64, atol=1e-5 * float(ev64[0]))


def test_param_filter_keeps_one_layer_and_unravel_zero_elsewhere(kfac64):
    params, model, _ = kfac64
    batch = data(20)
    op = kfac_operator(
        model,
        params,
        batch,
        param_filter=lambda path, leaf: jax.tree_util.keystr(path).startswith("[1]"),
    )
    assert [la.weight for la in op.layers] == ["[1]['w']"] and op.size == 7 * 5
    v = op.unravel(jnp.ones(op.size))
    assert float(jnp.sum(jnp.abs(v[0]["w"]))) == 0.0
    assert op.param_filter[1]["w"] and not op.param_filter[0]["w"]


def test_matvec_under_jit(kfac64):
    *_, op = kfac64
    v = jnp.linspace(-1.0, 1.0, op.size)
    np.testing.assert_allclose(
        jax.jit(op.matvec)(v), op.to_dense() @ v, rtol=1e-10, atol=1e-13
    )
