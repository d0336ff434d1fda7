"""Operator algebra, CG inverses, SLQ log-determinants, Jacobians, subspaces, flax."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest
from _spectrum_problems import dense_hessian, known_spectrum, mlp_problem

from jaxmc.spectrum import (
    RectangularOperator,
    eigenvalues,
    flax_model_fn,
    ggn_operator,
    gradient_subspace_fraction,
    hessian_operator,
    inverse,
    jacobian_operator,
    kfac_operator,
    logdet,
    matrix_operator,
)


@pytest.fixture(scope="module")
def mlp64():
    params, data, loss, model, xent = mlp_problem(jnp.float64, n=24)
    return params, data, loss, model, xent, dense_hessian(loss, params, data)


def test_sum_scale_damped_match_dense(mlp64):
    params, data, loss, model, xent, H = mlp64
    h = hessian_operator(loss, params, data)
    g = ggn_operator(model, xent, params, data)
    G = g.to_dense()
    combo = 2.0 * h + g * 0.5 - h
    np.testing.assert_allclose(combo.to_dense(), H + 0.5 * G, rtol=1e-10, atol=1e-12)
    damped = g.damped(0.1)
    np.testing.assert_allclose(
        damped.to_dense(), G + 0.1 * np.eye(G.shape[0]), rtol=1e-10, atol=1e-12
    )
    v = jax.tree_util.tree_map(jnp.ones_like, params)  # pytree matvecs still work
    flat = jax.flatten_util.ravel_pytree(damped.matvec(v))[0]
    np.testing.assert_allclose(flat, (G + 0.1 * np.eye(51)) @ np.ones(51), rtol=1e-10)
    # under jit, with a traced damping
    f = jax.jit(lambda lam, x: g.damped(lam).flat_matvec(x))
    np.testing.assert_allclose(f(0.3, jnp.ones(51)), G @ np.ones(51) + 0.3, rtol=1e-10)
    with pytest.raises(ValueError, match="same size"):
        _ = h + matrix_operator(jnp.eye(3))
    with pytest.raises(TypeError, match="real scalar"):
        _ = h * jnp.ones(3)


def test_blocks_between_layers(mlp64):
    params, data, loss, *_, H = mlp64
    h = hessian_operator(loss, params, data)
    # ravel order: layer1/b (6), layer1/w (24), layer2[0] (18), layer2[1] (3)
    l1 = lambda path, leaf: "layer1" in jax.tree_util.keystr(path)  # noqa: E731
    l2 = {"layer1": {"w": False, "b": False}, "layer2": [True, True]}
    diag = h.block(l1)
    np.testing.assert_allclose(diag.to_dense(), H[:30, :30], rtol=1e-10, atol=1e-12)
    cross = h.block(l1, l2)
    assert isinstance(cross, RectangularOperator) and cross.shape == (30, 21)
    np.testing.assert_allclose(cross.to_dense(), H[:30, 30:], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cross.T.to_dense(), H[30:, :30], rtol=1e-10, atol=1e-12)
    idx = h.block(np.array([0, 7, 50]), np.array([3, 4]))
    np.testing.assert_allclose(
        idx.to_dense(), H[np.ix_([0, 7, 50], [3, 4])], rtol=1e-10, atol=1e-12
    )
    with pytest.raises(ValueError, match="indices in"):
        h.block(np.array([51]))


@pytest.mark.parametrize("dtype, tol", [(jnp.float64, 1e-10), (jnp.float32, 1e-4)])
def test_inverse_solves_to_its_tolerance(dtype, tol, transform):
    A = known_spectrum(np.geomspace(1e-2, 10.0, 40), dtype=dtype)
    inv = inverse(matrix_operator(A), tol=tol)
    b = jnp.cos(jnp.arange(40, dtype=dtype))
    res = transform(inv.solve)(b)
    assert bool(res.converged) and 0 < int(res.iterations) <= 400
    resid = np.linalg.norm(np.asarray(b - A @ res.x, np.float64)) / np.linalg.norm(b)
    assert float(res.residual) <= tol and resid <= 2 * tol
    np.testing.assert_allclose(transform(inv.matvec)(b), res.x, rtol=1e-6)
    x_ref = np.linalg.solve(np.asarray(A, np.float64), np.asarray(b, np.float64))
    err = np.linalg.norm(res.x - x_ref) / np.linalg.norm(x_ref)
    assert err <= 1e3 * tol  # condition number 1e3
    if dtype == jnp.float64:  # the same solution through lineax's CG
        sol = lx.linear_solve(
            matrix_operator(A).to_lineax(positive_semidefinite=True),
            b,
            lx.CG(rtol=tol, atol=0.0, max_steps=400),
        )
        assert np.linalg.norm(sol.value - x_ref) / np.linalg.norm(x_ref) <= 1e3 * tol


def test_inverse_of_a_damped_streamed_ggn(mlp64):
    params, (X, y), loss, model, xent, _ = mlp64
    batches = [(X[:10], y[:10]), (X[10:], y[10:])]
    g = ggn_operator(model, xent, params, lambda: batches, progress=False)
    G = np.asarray(ggn_operator(model, xent, params, (X, y)).to_dense())
    inv = inverse(g.damped(0.05), tol=1e-9)
    res = inv.solve(jnp.ones(51))
    x = np.linalg.solve(G + 0.05 * np.eye(51), np.ones(51))
    assert bool(res.converged) and not inv.traceable
    np.testing.assert_allclose(res.x, x, rtol=1e-6)


def test_logdet_within_standard_errors_of_slogdet():
    vals = np.geomspace(0.1, 10.0, 60)
    A = known_spectrum(vals, seed=3)
    est = logdet(matrix_operator(A), key=jax.random.key(0), num_probes=40)
    ref = float(np.sum(np.log(vals)))
    assert float(est.std_error) > 0 and est.num_matvecs == 40 * 30
    assert abs(float(est.estimate) - ref) <= 4 * float(est.std_error)
    # A damped K-FAC: SLQ against the exact log-determinant.
    params, data, loss, model, xent = mlp_problem(jnp.float64, n=24)
    k = kfac_operator(model, params, data)
    est = logdet(k.damped(1e-2), key=jax.random.key(1), num_probes=30)
    exact = float(k.logdet(1e-2))
    assert abs(float(est.estimate) - exact) <= 4 * float(est.std_error)
    with pytest.raises(ValueError, match="positive definite"):
        logdet(matrix_operator(-A), key=jax.random.key(0), num_probes=2)


def _dense_jacobian(model, params, data):
    theta, unravel = jax.flatten_util.ravel_pytree(params)
    return jax.jacobian(lambda t: model(unravel(t), data).reshape(-1))(theta)


@pytest.mark.parametrize(
    ("batch_size", "linearize"),
    [(None, True), (None, False), (5, True), (6, False), ("stream", True)],
)
def test_jacobian_operator_matches_jax_jacobian(mlp64, batch_size, linearize):
    params, (X, y), _, model, *_ = mlp64
    J = _dense_jacobian(model, params, (X, y))
    if batch_size == "stream":
        data = lambda: [(X[:9], y[:9]), (X[9:], y[9:])]  # noqa: E731
        op = jacobian_operator(model, params, data, linearize=linearize)
    else:
        op = jacobian_operator(
            model, params, (X, y), batch_size=batch_size, linearize=linearize
        )
    assert op.shape == (24 * 3, 51)
    np.testing.assert_allclose(op.to_dense(), J, rtol=1e-10, atol=1e-12)
    u = jnp.sin(jnp.arange(72.0))
    np.testing.assert_allclose(op.rmatvec(u), J.T @ u, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(op.gram().to_dense(), J.T @ J, rtol=1e-10, atol=1e-12)
    if batch_size in (None, 5):
        # A A^T through the transpose (the linearised maps, swapped)
        np.testing.assert_allclose(
            op.T.gram().matvec(u), J @ (J.T @ u), rtol=1e-10, atol=1e-12
        )
    if batch_size is None and linearize:
        sv = op.singular_values(3, key=jax.random.key(0), tol=1e-10)
        ref = np.linalg.svd(np.asarray(J), compute_uv=False)[:3]
        np.testing.assert_allclose(sv, ref, rtol=1e-9)
        with pytest.raises(ValueError, match="shape"):
            op.matvec(jnp.ones(50))


def test_jacobian_operator_outputs_filter_float32_jit_vmap(mlp64):
    params, (X, y), _, model, *_ = mlp64

    def model3(p, b):  # outputs (n, 2, 3), flattened per example in C order
        z = model(p, b)
        return jnp.stack([z, jnp.tanh(z)], axis=1)

    J = _dense_jacobian(model3, params, (X, y))
    op = jacobian_operator(model3, params, (X, y), batch_size=7)
    assert op.shape == (24 * 6, 51)
    np.testing.assert_allclose(op.to_dense(), J, rtol=1e-10, atol=1e-12)
    # param_filter keeps the columns of the selected leaves (layer2: the last 21)
    in_layer2 = lambda path, leaf: "layer2" in jax.tree_util.keystr(path)  # noqa: E731
    opf = jacobian_operator(model3, params, (X, y), param_filter=in_layer2)
    np.testing.assert_allclose(opf.to_dense(), J[:, 30:], rtol=1e-10, atol=1e-12)
    # built and applied inside jax.jit, and vmapped over vectors
    v, u = jnp.cos(jnp.arange(51.0)), jnp.sin(jnp.arange(144.0))
    f = jax.jit(lambda p, v: jacobian_operator(model3, p, (X, y), batch_size=5) @ v)
    np.testing.assert_allclose(f(params, v), J @ v, rtol=1e-10, atol=1e-12)
    V = jnp.stack([u, 2.0 * u])
    np.testing.assert_allclose(jax.vmap(op.rmatvec)(V), V @ J, rtol=1e-10, atol=1e-12)
    # float32: the operator keeps the parameters' dtype
    p32 = jax.tree_util.tree_map(lambda x: x.astype(jnp.float32), params)
    op32 = jacobian_operator(model3, p32, (X.astype(jnp.float32), y), batch_size=5)
    assert op32.dtype == jnp.float32 and op32.rmatvec(u).dtype == jnp.float32
    np.testing.assert_allclose(op32.to_dense(), J, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(op32.rmatvec(u), J.T @ u, rtol=1e-4, atol=1e-4)


def test_streamed_operators_outlive_the_operator_they_come_from(mlp64):
    params, (X, y), loss, model, *_, H = mlp64
    J = np.asarray(_dense_jacobian(model, params, (X, y)))
    data = lambda: [(X[:9], y[:9]), (X[9:], y[9:])]  # noqa: E731
    # the derived operators hold the stream's handle: dropping the operator they
    # come from (garbage-collected at once) leaves them working
    gram = jacobian_operator(model, params, data).gram()
    Jt = jacobian_operator(model, params, data).T
    scaled = 2.0 * hessian_operator(loss, params, data, progress=False)
    top = np.linalg.eigvalsh(J.T @ J)[-1]
    np.testing.assert_allclose(
        eigenvalues(gram, 1, key=jax.random.key(0)).values, [top], rtol=1e-8
    )
    u = jnp.sin(jnp.arange(72.0))
    np.testing.assert_allclose(Jt @ u, J.T @ u, rtol=1e-10, atol=1e-12)
    v = jnp.cos(jnp.arange(51.0))
    np.testing.assert_allclose(scaled @ v, 2.0 * H @ v, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="jacobian_operator: streamed `data`"):
        jax.jit(lambda p: jacobian_operator(model, p, data) @ v)(params)


def test_gradient_subspace_fraction_against_dense(mlp64):
    params, data, loss, *_, H = mlp64
    op = hessian_operator(loss, params, data)
    grad = jax.grad(loss)(params, data)
    res = gradient_subspace_fraction(op, grad, 3, key=jax.random.key(0))
    g = np.asarray(jax.flatten_util.ravel_pytree(grad)[0])
    w, V = np.linalg.eigh(np.asarray(H))
    top = V[:, np.argsort(w)[::-1][:3]]
    ref = np.sum((top.T @ g) ** 2) / np.sum(g**2)
    np.testing.assert_allclose(res.fraction, ref, rtol=1e-8)
    assert set(res.per_layer) == {"['layer1']", "['layer2']"}
    for name, sl in (("['layer1']", slice(0, 30)), ("['layer2']", slice(30, 51))):
        wb, Vb = np.linalg.eigh(np.asarray(H[sl, sl]))
        topb = Vb[:, np.argsort(wb)[::-1][:3]]
        refb = np.sum((topb.T @ g[sl]) ** 2) / np.sum(g[sl] ** 2)
        np.testing.assert_allclose(res.per_layer[name], refb, rtol=1e-8)


class _BNDropNet(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool, dropout: bool = False):
        x = nn.Dense(6, param_dtype=jnp.float64)(x)
        x = nn.BatchNorm(use_running_average=not train, param_dtype=jnp.float64)(x)
        x = nn.Dropout(0.3, deterministic=not dropout)(jnp.tanh(x))
        return nn.Dense(3, param_dtype=jnp.float64)(x)


def test_flax_batchnorm_and_dropout_recipe(mlp64):
    _, (X, y), *_ = mlp64
    net = _BNDropNet()
    variables = net.init(jax.random.key(0), X, train=False)
    # Running statistics that are not the defaults, held fixed.
    variables = {
        "params": variables["params"],
        "batch_stats": jax.tree_util.tree_map(
            lambda s: s + 0.2, variables["batch_stats"]
        ),
    }

    def xent_y(z, b):
        picked = jnp.take_along_axis(z, b[1][:, None], axis=1)[:, 0]
        return jnp.mean(jax.nn.logsumexp(z, axis=-1) - picked)

    dropout_on = {
        "train": False,
        "dropout": True,
        "rngs": {"dropout": jax.random.key(5)},
    }
    for kwargs in ({"train": False}, dropout_on):
        model, params = flax_model_fn(net, variables, **kwargs)
        loss = lambda p, b: xent_y(model(p, b), b)  # noqa: E731,B023
        H = dense_hessian(loss, params, (X, y))
        op = hessian_operator(loss, params, (X, y))
        np.testing.assert_allclose(op.to_dense(), H, rtol=1e-10, atol=1e-12)
        # K-FAC covers the two Dense layers, not BatchNorm's scale and bias.
        k = kfac_operator(model, params, (X, y))
        assert [la.weight for la in k.layers] == [
            "['Dense_0']['kernel']",
            "['Dense_1']['kernel']",
        ]
        assert not k.param_filter["BatchNorm_0"]["scale"]
    with pytest.raises(TypeError, match="'params' collection"):
        flax_model_fn(net, {"batch_stats": {}})


def test_streamed_jacobian_whose_loader_changes_size_is_refused():
    """A loader yielding fewer examples than at construction: a clear error."""
    X = jnp.arange(12.0).reshape(6, 2)
    short = [False]

    def stream():
        yield X[:3]
        if not short[0]:
            yield X[3:]

    J = jacobian_operator(lambda w, x: x @ w, jnp.ones(2), stream)
    np.testing.assert_allclose(J.matvec(jnp.ones(2)), X @ jnp.ones(2))
    short[0] = True
    # raised in the host callback: JAX re-raises it with the message inside
    for what, f, v in [
        ("matvec", J.matvec, jnp.ones(2)),
        ("rmatvec", J.rmatvec, jnp.ones(6)),
    ]:
        with pytest.raises(
            Exception,
            match=f"JacobianOperator.{what}: the streamed `data` yielded 3 examples, but 6",
        ):
            f(v)
