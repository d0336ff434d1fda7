"""Tests for hessian_operator and ggn_operator against dense jax.hessian."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _spectrum_problems import dense_hessian, mlp_problem

from jaxmc.spectrum import _hessian, eigenvalues, ggn_operator, hessian_operator, trace


@pytest.fixture(scope="module")
def problem64():
    params, data, loss, model, xent = mlp_problem(jnp.float64)
    return params, data, loss, model, xent, dense_hessian(loss, params, data)


@pytest.mark.parametrize(
    ("batch_size", "hvp", "linearize"),
    [
        (None, "fwd-rev", True),
        (10, "fwd-rev", True),
        (64, "rev-rev", True),
    ],
)
def test_dense_matches_jax_hessian_for_any_batch_size(
    problem64, batch_size, hvp, linearize
):
    params, data, loss, *_, H = problem64
    op = hessian_operator(
        loss, params, data, batch_size=batch_size, hvp=hvp, linearize=linearize
    )
    assert op.size == H.shape[0] == 51 and op.dtype == jnp.float64
    np.testing.assert_allclose(op.to_dense(chunk_size=16), H, rtol=1e-10, atol=1e-12)


def test_streamed_batches_and_pytree_matvec(problem64):
    params, (X, y), loss, *_, H = problem64
    batches = [(X[:32], y[:32]), (X[32:], y[32:])]
    op = hessian_operator(loss, params, lambda: batches, progress=False)
    assert not op.traceable
    np.testing.assert_allclose(op.to_dense(), H, rtol=1e-10, atol=1e-12)

    class Loader:  # a re-iterable data loader
        def __iter__(self):
            return iter(batches)

    op2 = hessian_operator(loss, params, Loader(), progress=False)
    v = jax.tree_util.tree_map(jnp.ones_like, params)
    Hv = op2.matvec(v)
    assert jax.tree_util.tree_structure(Hv) == jax.tree_util.tree_structure(params)
    flat = jax.flatten_util.ravel_pytree(Hv)[0]
    np.testing.assert_allclose(flat, H @ jnp.ones(51), rtol=1e-10, atol=1e-12)


def _host_tanh(x):
    """A feature of the batch computed on the host: no vmap rule."""
    return jax.pure_callback(np.tanh, jax.ShapeDtypeStruct(x.shape, x.dtype), x)


@pytest.mark.parametrize("how", ["together", "one at a time", "not vectorisable"])
def test_streamed_group_computed_together_or_one_at_a_time(problem64, monkeypatch, how):
    """A group of streamed batches is vectorised when small, else a scan; same H."""
    params, (X, y), loss, *_, H = problem64
    monkeypatch.setattr(_hessian, "_TOGETHER", {})
    if how == "one at a time":  # a group too large to hold at once
        monkeypatch.setattr(_hessian, "_TOGETHER_BYTES", 0)
    if how == "not vectorisable":
        base = loss

        def loss(p, batch):
            return base(p, (_host_tanh(batch[0]), batch[1]))

        H = dense_hessian(base, params, (jnp.tanh(X), y))
    batches = [(X[i : i + 16], y[i : i + 16]) for i in range(0, 64, 16)]
    op = hessian_operator(loss, params, lambda: batches, progress=False)
    np.testing.assert_allclose(op.to_dense(), H, rtol=1e-10, atol=1e-12)
    assert list(_hessian._TOGETHER.values()) == [how == "together"]


def test_fresh_operators_check_the_loss_once_per_shapes(problem64, monkeypatch):
    """A checkpoint loop's fresh operators skip the abstract checks they passed."""
    params, data, loss, *_ = problem64
    checks = []
    eval_shape = jax.eval_shape

    def counted(*args, **kwargs):
        checks.append(1)
        return eval_shape(*args, **kwargs)

    monkeypatch.setattr(jax, "eval_shape", counted)
    monkeypatch.setattr(_hessian, "_LOSS_OK", _hessian.CheckedSignatures())
    monkeypatch.setattr(_hessian, "_FLAT", {})
    first = hessian_operator(loss, params, data)
    assert len(checks) == 2  # the flat size, the scalar loss
    moved = jax.tree_util.tree_map(lambda x: x + 0.5, params)
    op = hessian_operator(loss, moved, data)
    assert len(checks) == 2  # same shapes and dtypes: nothing checked again
    assert op.size == first.size == 51 and op.dtype == jnp.float64
    np.testing.assert_allclose(
        op.to_dense(), dense_hessian(loss, moved, data), rtol=1e-10, atol=1e-12
    )
    n = len(checks)
    fewer = jax.tree_util.tree_map(lambda x: x[:10], data)
    hessian_operator(loss, params, fewer)
    assert len(checks) == n + 1  # a new batch shape: the loss is checked again
    with pytest.raises(ValueError, match="must return a scalar"):
        hessian_operator(lambda p, b: jnp.ones(2), params, data)


def test_param_filter_gives_the_hessian_block(problem64):
    params, data, loss, *_, H = problem64
    # ravel_pytree order: layer1/b (6), layer1/w (24), layer2[0] (18), layer2[1] (3)
    by_path = hessian_operator(
        loss,
        params,
        data,
        param_filter=lambda path, leaf: jax.tree_util.keystr(path).startswith(
            "['layer2']"
        ),
    )
    np.testing.assert_allclose(by_path.to_dense(), H[30:, 30:], rtol=1e-10, atol=1e-12)
    mask = {"layer1": {"w": True, "b": False}, "layer2": [False, False]}
    by_mask = hessian_operator(loss, params, data, param_filter=mask)
    np.testing.assert_allclose(
        by_mask.to_dense(), H[6:30, 6:30], rtol=1e-10, atol=1e-12
    )
    full = by_mask.unravel(jnp.ones(24))
    assert float(jnp.sum(full["layer1"]["b"])) == 0.0 and full["layer1"]["w"].shape == (
        4,
        6,
    )


def test_ggn_matches_dense_gauss_newton(problem64):
    params, data, _, model, xent, _ = problem64
    theta, unravel = jax.flatten_util.ravel_pytree(params)
    J = jax.jacfwd(lambda t: model(unravel(t), data))(theta)
    z = model(params, data)
    HL = jax.hessian(lambda zz: xent(zz, data))(z)
    G = jnp.einsum("iap,iajb,jbq->pq", J, HL, J)
    for bs, lin in ((None, False), (24, True)):
        op = ggn_operator(model, xent, params, data, batch_size=bs, linearize=lin)
        np.testing.assert_allclose(op.to_dense(), G, rtol=1e-10, atol=1e-12)


def test_top5_float64_against_dense_eigh(problem64, transform):
    params, data, loss, *_, H = problem64
    ref = np.linalg.eigvalsh(np.asarray(H))

    def top5(params, data, key):
        op = hessian_operator(loss, params, data)
        return eigenvalues(op, 5, which="both", key=key)

    res = transform(top5)(params, data, jax.random.key(0))
    np.testing.assert_allclose(res.values[:5], ref[::-1][:5], rtol=1e-8)
    np.testing.assert_allclose(
        res.values[5:], ref[:5], rtol=1e-8, atol=1e-8 * ref.max()
    )
    assert jax.tree_util.tree_structure(res.vectors) == jax.tree_util.tree_structure(
        params
    )
    assert res.vectors["layer1"]["w"].shape == (10, 4, 6)


def test_top5_float32_against_dense_eigh(problem64):
    params, data, loss, *_, H = problem64
    ref = np.linalg.eigvalsh(np.asarray(H))[::-1][:5]
    to32 = lambda x: x.astype(jnp.float32) if x.dtype == jnp.float64 else x  # noqa: E731
    # linearize=False: the forward pass is recomputed in each matvec.
    op = hessian_operator(
        loss,
        jax.tree_util.tree_map(to32, params),
        jax.tree_util.tree_map(to32, data),
        linearize=False,
    )
    assert op.dtype == jnp.float32
    res = eigenvalues(op, 5, key=jax.random.key(0))
    np.testing.assert_allclose(res.values, ref, rtol=1e-4)


def test_trace_of_the_hessian(problem64):
    params, data, loss, *_, H = problem64
    op = hessian_operator(loss, params, data)
    exact = float(jnp.trace(H))
    est = trace(op, method="hutch++", num_matvecs=51, key=jax.random.key(0))
    assert abs(float(est.estimate) - exact) <= 4 * float(est.std_error) + 1e-8


def test_bad_inputs(problem64):
    params, (X, y), loss, *_ = problem64
    fn = "jaxmc.spectrum.hessian_operator"
    with pytest.raises(ValueError, match=fn + r": `loss_fn` must return a scalar"):
        hessian_operator(lambda p, b: model_out(p, b), params, (X, y))
    with pytest.raises(
        ValueError,
        match=r"calling `loss_fn` on `params` and the first batch of `data` failed",
    ):
        hessian_operator(loss, params, (X[:, :3], y))
    with pytest.raises(
        ValueError,
        match=r"same leading \(example\) axis; got sizes \[0\]: 64, \[1\]: 63",
    ):
        hessian_operator(loss, params, (X, y[:63]))
    with pytest.raises(TypeError, match=r"one-shot iterator"):
        hessian_operator(loss, params, iter([(X, y)]))
    with pytest.raises(TypeError, match=r"`params` must hold floating arrays"):
        hessian_operator(lambda p, b: jnp.sum(b[0]) * 1.0, {"n": jnp.arange(3)}, (X, y))
    with pytest.raises(ValueError, match=r"`param_filter` selects no parameters"):
        hessian_operator(loss, params, (X, y), param_filter=lambda path, leaf: False)
    with pytest.raises(ValueError, match=r"`hvp` must be one of"):
        hessian_operator(loss, params, (X, y), hvp="fwd-fwd")
    with pytest.raises(ValueError, match=r"`batch_size` must be an int >= 1"):
        hessian_operator(loss, params, (X, y), batch_size=0)

    def bad_loss(p, b):  # finite loss, NaN curvature in layer2 only
        return loss(p, b) + jnp.sum(
            jnp.sqrt(jnp.abs(p["layer2"][1]) - jnp.abs(p["layer2"][1]))
        )

    op = hessian_operator(bad_loss, params, (X, y))
    with pytest.raises(
        ValueError,
        match=r"non-finite values \(NaN or inf\) in the parameters \['layer2'\]\[1\]",
    ):
        trace(op, method="hutchinson", num_matvecs=2, key=jax.random.key(0))


def model_out(p, b):
    z = jnp.tanh(b[0] @ p["layer1"]["w"] + p["layer1"]["b"][None, :])
    return z @ p["layer2"][0] + p["layer2"][1][None, :]


def test_list_of_batches_error_points_to_streaming():
    X, y = jnp.ones((13, 2)), jnp.ones(13)
    batches = [(X[:5], y[:5]), (X[5:], y[5:])]

    def loss(w, batch):
        Xb, yb = batch
        return jnp.mean((Xb @ w - yb) ** 2)

    with pytest.raises(ValueError, match=r"to stream a list of batches, pass `lambda"):
        hessian_operator(loss, jnp.zeros(2), batches)
    op = hessian_operator(loss, jnp.zeros(2), lambda: batches, progress=False)
    assert op.size == 2
