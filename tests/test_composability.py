"""Public functions of vec, layout, differentials and cost under JAX transforms.

Each function is compared with a plain ``jax.numpy`` reference, eagerly and
under ``jax.jit``, ``jax.vmap`` and ``jax.grad`` (and ``jax.jacfwd`` for the
differential readers, which once failed there), so a transform can change
neither the value nor the derivative. Then pytree and list arguments to
``jaxmc.gradient`` / ``jaxmc.jacobian``, and ``choose_mode`` under ``jax.jit``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmc
from jaxmc.cost import choose_mode

RTOL, ATOL = 1e-10, 1e-12
W = jax.random.normal(jax.random.key(1), (2, 3))
B = jax.random.normal(jax.random.key(2), (2, 2))
V6 = jax.random.normal(jax.random.key(3), (6,))
E = jax.random.normal(jax.random.key(4), (3, 3))


def _vech(a):
    return jnp.concatenate([a[j:, j] for j in range(a.shape[0])])


def _unvech3(v):
    rows, cols = np.triu_indices(3)
    S = jnp.zeros((3, 3), v.dtype).at[cols, rows].set(v)
    return S + jnp.tril(S, -1).T


def _tanh_layer(x):
    return jnp.tanh(W @ x)


def _flat(tree):
    return jnp.concatenate([jnp.ravel(x) for x in jax.tree_util.tree_leaves(tree)])


def _scalar(x):
    return jnp.sum(jnp.sin(x) * x)


# name -> (function of one array, plain-jnp reference, input shape)
CASES = {
    "vec": (jaxmc.vec, lambda a: a.T.reshape(-1), (3, 4)),
    "unvec": (lambda a: jaxmc.unvec(a, (3, 4)), lambda a: a.reshape(4, 3).T, (12,)),
    "vech": (jaxmc.vech, _vech, (3, 3)),
    "unvech": (jaxmc.unvech, _unvech3, (6,)),
    "kron_matvec": (
        lambda a: jaxmc.kron_matvec(a, B, V6),
        lambda a: jnp.kron(a, B) @ V6,
        (2, 3),
    ),
    "commute": (
        lambda a: jaxmc.commute(a, 3, 4),
        lambda a: a.reshape(4, 3).T.reshape(-1),  # vec(A^T) for vec(A) = a
        (12,),
    ),
    "commutation_matrix": (
        lambda a: jaxmc.commutation_matrix(3, 4) @ a,
        lambda a: a.reshape(4, 3).T.reshape(-1),
        (12,),
    ),
    "duplication_matrix": (
        lambda a: jaxmc.duplication_matrix(3) @ a,
        lambda a: _unvech3(a).T.reshape(-1),
        (6,),
    ),
    "elimination_matrix": (
        lambda a: jaxmc.elimination_matrix(3) @ a,
        lambda a: _vech(a.reshape(3, 3).T),
        (9,),
    ),
    "convert_layout": (
        lambda a: jaxmc.convert_layout(
            a, in_shape=(3,), out_shape=(2,), src="numerator", dst="denominator"
        ),
        lambda a: a.T,
        (2, 3),
    ),
    "symmetric_gradient_sym": (
        jaxmc.symmetric_gradient,
        lambda a: (a + a.T) / 2,
        (3, 3),
    ),
    "symmetric_gradient_vech": (
        lambda a: jaxmc.symmetric_gradient(a, convention="vech"),
        lambda a: _vech(a + a.T - jnp.diag(jnp.diag(a))),
        (3, 3),
    ),
    "jacobian_numerator": (
        jaxmc.jacobian(_tanh_layer, layout="numerator"),
        jax.jacfwd(_tanh_layer),
        (3,),
    ),
    "gradient_denominator": (
        jaxmc.gradient(_scalar, layout="denominator"),
        lambda a: jax.grad(_scalar)(a)[:, None],
        (3,),
    ),
    "gradient_pytree": (
        lambda a: _flat(
            jaxmc.gradient(lambda p: _scalar(p["w"]) * p["b"])({"w": a, "b": a[0]})
        ),
        lambda a: _flat(
            jax.grad(lambda p: _scalar(p["w"]) * p["b"])({"w": a, "b": a[0]})
        ),
        (3,),
    ),
    "hessian_chunked": (
        jaxmc.hessian(_scalar, chunk_size=2),
        jax.hessian(_scalar),
        (3,),
    ),
    "differential": (
        lambda a: jaxmc.differential(lambda X: X @ X)(a, E),
        lambda a: a @ E + E @ a,
        (3, 3),
    ),
    "gradient_from_differential": (
        lambda a: jaxmc.gradient_from_differential(
            lambda dX: jnp.trace(a @ dX), jnp.zeros((3, 3))
        ),
        lambda a: a.T,
        (3, 3),
    ),
    "jacobian_from_differential": (
        lambda a: jaxmc.jacobian_from_differential(lambda dX: a @ dX, jnp.ones((3, 2))),
        lambda a: jnp.kron(jnp.eye(2), a),
        (3, 3),
    ),
    "hessian_from_second_differential": (
        lambda a: jaxmc.hessian_from_second_differential(
            lambda dx: dx @ a @ dx, jnp.zeros(3)
        ),
        lambda a: (a + a.T) / 2,
        (3, 3),
    ),
}
# The differential readers failed under jax.jacfwd once: they get it too.
JACFWD = ("gradient_from_differential", "jacobian_from_differential", "differential")


def _loss(fn):
    return lambda a: jnp.sum(jnp.sin(fn(a)))


# vmap, grad and jacfwd run inside jax.jit: one compilation per case, and
# the transform itself is what is tested (jit alone is its own row).
TRANSFORMS = {
    "eager": lambda fn: fn,
    "jit": jax.jit,
    "vmap": lambda fn: jax.jit(lambda a: jax.vmap(fn)(jnp.stack([a, 2.0 * a, -a]))),
    "grad": lambda fn: jax.jit(jax.grad(_loss(fn))),
    "jacfwd": lambda fn: jax.jit(jax.jacfwd(fn)),
}
# The constant matrix builders are linear in nothing: jit and vmap only.
BUILDERS = ("commutation_matrix", "duplication_matrix", "elimination_matrix")


def _applies(name, t):
    if t == "jacfwd":
        return name in JACFWD
    if t == "eager":  # the other modules' own tests run them eagerly
        return name in JACFWD
    return t in ("jit", "vmap") or name not in BUILDERS


PARAMS = [
    pytest.param(name, t, id=f"{name}-{t}")
    for name in CASES
    for t in TRANSFORMS
    if _applies(name, t)
]


@pytest.mark.parametrize(("name", "transform"), PARAMS)
def test_transform_matches_reference(name, transform):
    fn, ref, shape = CASES[name]
    a = jax.random.normal(jax.random.key(0), shape)
    got = TRANSFORMS[transform](fn)(a)
    # The plain jax.numpy reference, under the same transform (jitted).
    want = TRANSFORMS["jit" if transform == "eager" else transform](ref)(a)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_commute_reference_is_the_transpose():
    A = jnp.arange(12.0).reshape(3, 4)
    fn, ref, _ = CASES["commute"]
    np.testing.assert_array_equal(ref(jaxmc.vec(A)), jaxmc.vec(A.T))
    np.testing.assert_array_equal(fn(jaxmc.vec(A)), jaxmc.vec(A.T))


# ------------------------------------------------------------ pytrees and lists


PARAMS_TREE = {"W": jnp.arange(6.0).reshape(2, 3) / 5, "b": jnp.array([0.3, -0.2])}


def _tree_loss(p, x):
    return jnp.sum(jnp.tanh(p["W"] @ x + p["b"]) ** 2)


@pytest.mark.parametrize("layout", ["mixed", "jax", "numerator", "denominator", "vec"])
def test_gradient_of_a_pytree_is_a_pytree_in_the_layout(layout):
    x = jnp.array([1.0, -0.5, 2.0])
    got = jaxmc.gradient(_tree_loss, layout=layout)(PARAMS_TREE, x)
    want = jax.grad(_tree_loss)(PARAMS_TREE, x)
    assert set(got) == {"W", "b"}
    for k, leaf in want.items():
        expected = jaxmc.convert_layout(
            leaf, in_shape=leaf.shape, out_shape=(), src="jax", dst=layout
        )
        np.testing.assert_allclose(got[k], expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("chunk_size", [None, 3])
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_jacobian_of_a_pytree_argument(chunk_size, mode):
    x = jnp.array([1.0, -0.5, 2.0])

    def f(p, x):
        return jnp.tanh(p["W"] @ x + p["b"])

    got = jaxmc.jacobian(f, layout="vec", mode=mode, chunk_size=chunk_size)(
        PARAMS_TREE, x
    )
    want = jax.jacfwd(f)(PARAMS_TREE, x)
    np.testing.assert_allclose(got["b"], want["b"], rtol=RTOL, atol=ATOL)
    # d vec(y) / d vec(W)^T: W's column-major entries
    vec_W = want["W"].transpose(0, 2, 1).reshape(2, 6)
    np.testing.assert_allclose(got["W"], vec_W, rtol=RTOL, atol=ATOL)


def test_lists_and_python_scalars_are_converted():
    np.testing.assert_allclose(
        jaxmc.jacobian(lambda x: 2.0 * x)([1.0, 2.0]), 2.0 * jnp.eye(2)
    )
    np.testing.assert_allclose(
        jaxmc.gradient(lambda x: jnp.sum(x**2))([[1.0, 2.0], [3.0, 4.0]]),
        2.0 * jnp.array([[1.0, 2.0], [3.0, 4.0]]),
    )
    assert float(jaxmc.gradient(lambda x: x**3)(2.0)) == 12.0
    # A list of arrays is a pytree, as for jax.grad.
    g = jaxmc.gradient(lambda p: jnp.sum(p[0] * p[1]))([jnp.ones(2), 3.0 * jnp.ones(2)])
    assert isinstance(g, list)
    np.testing.assert_allclose(g[0], 3.0 * jnp.ones(2))


def test_nan_propagation_is_jax_semantics():
    # Documented: NaN from the user's function (sqrt at x < 0) passes through,
    # exactly as jax.grad gives it; jaxmc does not hide or replace it.
    g = jaxmc.gradient(lambda x: jnp.sum(jnp.sqrt(x)))(-jnp.ones(2))
    assert bool(jnp.all(jnp.isnan(g)))


# ------------------------------------------------------------------ choose_mode


def test_choose_mode_is_a_static_decision_under_jit():
    def f(x):
        return jnp.outer(x, x)

    def g(x):
        mode = choose_mode(f, x)  # a Python str while tracing
        jac = jax.jacfwd(f) if mode == "forward" else jax.jacrev(f)
        return jac(x)

    x = jnp.arange(3.0)
    assert choose_mode(f, x) == "forward"
    np.testing.assert_allclose(jax.jit(g)(x), jax.jacfwd(f)(x), rtol=RTOL)
    assert jax.jit(lambda x: jnp.float64(choose_mode(jnp.sum, x) == "reverse"))(x)
