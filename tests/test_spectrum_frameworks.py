"""Parameters as the frameworks give them: equinox Modules, flax linen and nnx.

References: ``jax.hessian`` of the loss on the flattened inexact arrays
(``eqx.partition``), in float64 on models of a few dozen parameters.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from jaxmc.spectrum import ggn_operator, hessian_operator, layer_spectra
from jaxmc.spectrum._params import _Recombined, adapt_params, list_of_batches_hint

eqx = pytest.importorskip("equinox")


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def _data(n=16, d=3, c=2):
    k1, k2 = jax.random.split(jax.random.key(1))
    return jax.random.normal(k1, (n, d)), jax.random.randint(k2, (n,), 0, c)


def _xent(logits, batch):
    picked = jnp.take_along_axis(logits, batch[1][:, None], 1)[:, 0]
    return jnp.mean(jax.nn.logsumexp(logits, axis=-1) - picked)


def _dense(loss, params, data):
    theta, unravel = ravel_pytree(params)
    return jax.hessian(lambda t: loss(unravel(t), data))(theta)


def test_equinox_module_as_params():
    # eqx.nn.MLP keeps its activation (a custom_jvp object) as a pytree leaf
    mlp = eqx.nn.MLP(3, 2, 4, 1, activation=jax.nn.softplus, key=jax.random.key(0))
    mlp = jax.tree_util.tree_map(
        lambda x: x.astype(jnp.float64) if eqx.is_inexact_array(x) else x, mlp
    )
    data = _data()

    def model(m, batch):
        return jax.vmap(m)(batch[0])

    def loss(m, batch):
        return _xent(model(m, batch), batch)

    dynamic, static = eqx.partition(mlp, eqx.is_inexact_array)
    H = _dense(lambda d, b: loss(eqx.combine(d, static), b), dynamic, data)
    op = hessian_operator(loss, mlp, data)
    assert op.size == 3 * 4 + 4 + 4 * 2 + 2
    np.testing.assert_allclose(op.to_dense(), H, rtol=1e-10, atol=1e-12)
    # vectors are the Module's array part, as eqx.partition gives it
    v = op.unravel(jnp.arange(op.size, dtype=jnp.float64))
    assert isinstance(v, type(mlp)) and v.activation is None
    np.testing.assert_allclose(
        ravel_pytree(op.matvec(v))[0], H @ jnp.arange(op.size, dtype=jnp.float64)
    )
    # the GGN and a pytree param_filter shaped like the whole Module
    ggn = ggn_operator(model, _xent, mlp, data)
    assert ggn.size == op.size
    first = jax.tree_util.tree_map(lambda _: False, mlp)
    first = eqx.tree_at(
        lambda m: (m.layers[0].weight, m.layers[0].bias), first, (True, True)
    )
    sub = hessian_operator(loss, mlp, data, param_filter=first)
    np.testing.assert_allclose(sub.to_dense(), H[:16, :16], rtol=1e-10, atol=1e-12)


def test_recombined_loss_equal_across_fresh_modules():
    # a training step makes a new Module: the wrapped loss is equal (same hash),
    # so programs keyed on the loss are reused
    def loss(m, b):
        return jnp.sum(m(b))

    m1 = eqx.nn.MLP(2, 1, 3, 1, key=jax.random.key(0))
    m2 = jax.tree_util.tree_map(lambda x: x + 1 if eqx.is_inexact_array(x) else x, m1)
    _, f1, _ = adapt_params("f", m1, loss)
    _, f2, _ = adapt_params("f", m2, loss)
    assert isinstance(f1, _Recombined)
    assert f1 == f2 and hash(f1) == hash(f2)
    _, f3, _ = adapt_params("f", m1, lambda m, b: loss(m, b))
    assert f1 != f3
    # a Module of arrays only passes through unchanged
    lin = eqx.nn.Linear(2, 1, key=jax.random.key(0))
    assert adapt_params("f", lin, loss)[1] is loss


def test_flax_nnx_state_grouped_by_layer():
    nnx = pytest.importorskip("flax.nnx")

    class Net(nnx.Module):
        def __init__(self, rngs):
            self.dense_0 = nnx.Linear(3, 4, rngs=rngs, param_dtype=jnp.float64)
            self.head = nnx.Linear(4, 2, rngs=rngs, param_dtype=jnp.float64)

        def __call__(self, x):
            return self.head(jnp.tanh(self.dense_0(x)))

    graphdef, state = nnx.split(Net(nnx.Rngs(0)))
    data = _data()

    def loss(s, batch):
        return _xent(nnx.merge(graphdef, s)(batch[0]), batch)

    table = layer_spectra(loss, state, data, key=jax.random.key(0), k=2)
    assert [r.name for r in table] == ["['dense_0']", "['head']"]
    assert [r.size for r in table] == [16, 10]
    # each block's spectrum is that of the dense Hessian's diagonal block (the
    # flat order is bias then kernel within a layer, dense_0 first)
    H = _dense(loss, state, data)
    for row, block in zip(table, (slice(0, 16), slice(16, 26)), strict=True):
        evals = np.linalg.eigvalsh(np.asarray(H[block, block]))
        np.testing.assert_allclose(row.top, evals[::-1][:2], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(row.trace, evals.sum(), rtol=1e-9, atol=1e-12)


def test_linen_variables_with_batch_stats_warn():
    nn = pytest.importorskip("flax.linen")

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x, train=False):
            x = nn.Dense(4, param_dtype=jnp.float64)(x)
            x = nn.BatchNorm(use_running_average=not train, param_dtype=jnp.float64)(x)
            return nn.Dense(2, param_dtype=jnp.float64)(jnp.tanh(x))

    net = Net()
    data = _data()
    variables = net.init(jax.random.key(0), data[0])

    def loss_all(v, batch):
        return _xent(net.apply(v, batch[0]), batch)

    with pytest.warns(UserWarning, match=r"collections \['batch_stats'\].*BatchNorm"):
        op = hessian_operator(loss_all, variables, data)
    assert op.size == 42  # 34 parameters and 8 running statistics
    # the documented recipe: differentiate params, hold the statistics fixed
    stats = variables["batch_stats"]

    def loss(p, batch):
        return loss_all({"params": p, "batch_stats": stats}, batch)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        op = hessian_operator(loss, variables["params"], data)
    assert op.size == 34
    # flax keeps batch_stats in float32 whatever param_dtype is, and XLA
    # rounds their normalisation differently under jit than op by op (3e-8
    # here), so the reference is compiled too
    H = jax.jit(_dense, static_argnums=0)(loss, variables["params"], data)
    np.testing.assert_allclose(op.to_dense(), H, rtol=1e-10, atol=1e-12)


def test_list_of_batches_hint_only_for_lists_of_batches():
    X, y = _data()

    def loss(w, batch):
        return jnp.mean((batch[0] @ w - batch[1]) ** 2)

    w = jnp.zeros(3)
    hint = "A list or tuple is read as one in-memory batch"
    # (X, y) with an error inside the loss: no hint
    with pytest.raises(ValueError) as info:
        hessian_operator(lambda w, b: loss(w[:2], b), w, (X, y))
    assert hint not in str(info.value)
    # a list of (X, y) batches read as one batch: the hint
    batches = [(X[:8], y[:8].astype(float)), (X[8:], y[8:].astype(float))]
    with pytest.raises(ValueError, match=hint):
        hessian_operator(loss, w, batches)
    # the rule itself: same structure, dtypes and trailing shapes
    assert list_of_batches_hint((X, y)) == ""
    assert list_of_batches_hint((X, X)) != ""

    def dict_loss(w, batch):
        return jnp.mean(batch["x"] @ w)

    assert list_of_batches_hint((X, X), dict_loss, w) == ""  # fails on X
