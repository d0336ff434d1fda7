"""Tests for jaxmc.layout: derivative layouts and exact conversion between them."""

import functools
import itertools
import math
import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tol
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxmc
from jaxmc import (
    commutation_matrix,
    convert_layout,
    gradient,
    jacobian,
    layout_shape,
    vec,
)
from jaxmc.layout import LAYOUTS, _choose_mode, layout_table

DTYPES = [jnp.float32, jnp.float64]
ROOT = pathlib.Path(__file__).parent.parent


def rand(seed, shape, dtype=jnp.float64):
    # NumPy's generator: jax.random would compile a sampler for every new shape.
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), dtype)


def close(actual, expected, dtype, scale=10.0):
    rtol, atol = tol(dtype)
    assert actual.shape == jnp.shape(expected), (actual.shape, jnp.shape(expected))
    assert actual.dtype == jnp.dtype(dtype)
    np.testing.assert_allclose(actual, expected, rtol=rtol * scale, atol=atol * scale)


def in_every_layout(f, x, dtype, transform, expected, argnums=0, args=None):
    """Checks jacobian(f, layout=L) against expected[L] for every layout given."""
    args = (x,) if args is None else args
    for i, (layout, value) in enumerate(expected.items()):
        # The mode only changes how the JAX-layout derivative is built: try all
        # three once, then "auto" for the other layouts.
        for mode in ("auto", "forward", "reverse") if i == 0 else ("auto",):
            J = transform(jacobian(f, argnums, layout=layout, mode=mode))(*args)
            close(J, value, dtype)


# ------------------------------------------------------------------ layout_shape


@pytest.mark.parametrize(
    ("in_shape", "out_shape", "expected"),
    [
        ((), (), {"numerator": (), "denominator": (), "mixed": (), "vec": (1, 1)}),
        ((3,), (), {"numerator": (1, 3), "denominator": (3, 1), "mixed": (3,)}),
        ((3, 1), (), {"numerator": (1, 3), "denominator": (3, 1), "mixed": (3, 1)}),
        ((2, 3), (), {"numerator": (3, 2), "denominator": (2, 3), "mixed": (2, 3)}),
        ((), (4,), {"numerator": (4, 1), "denominator": (1, 4), "mixed": (4,)}),
        ((3,), (4,), {"numerator": (4, 3), "denominator": (3, 4), "mixed": (4, 3)}),
        ((3, 1), (4, 1), {"numerator": (4, 3), "mixed": (4, 3), "jax": (4, 1, 3, 1)}),
        ((), (4, 5), {"numerator": (4, 5), "denominator": (5, 4), "vec": (20, 1)}),
        ((2, 3), (4, 5), {"vec": (20, 6), "jax": (4, 5, 2, 3)}),
        ((2, 3, 4), (), {"mixed": (2, 3, 4), "vec": (1, 24), "jax": (2, 3, 4)}),
        ((1, 3), (), {"numerator": (3, 1), "denominator": (1, 3)}),  # a 1 x 3 matrix
    ],
)
def test_layout_shape_values(in_shape, out_shape, expected):
    for layout, shape in expected.items():
        assert layout_shape(in_shape, out_shape, layout) == shape


@pytest.mark.parametrize(
    ("in_shape", "out_shape"),
    [((2, 3), (4,)), ((3,), (4, 5)), ((2, 3), (4, 5)), ((2, 3, 4), (5,))],
)
@pytest.mark.parametrize("layout", ["numerator", "denominator", "mixed"])
def test_layout_shape_unsupported_points_to_vec_and_jax(in_shape, out_shape, layout):
    with pytest.raises(ValueError, match=r"layout='vec'.*layout='jax'") as err:
        layout_shape(in_shape, out_shape, layout)
    assert f"layout {layout!r} has no standard form" in str(err.value)
    assert "jaxmc.layout_shape" in str(err.value)


def test_readme_table_is_generated_from_layout_shape():
    readme = (ROOT / "README.md").read_text()
    assert layout_table() in readme


def test_module_docstring_table_matches_layout_shape():
    """The reST table in the module docstring says what layout_shape computes."""
    doc = jaxmc.layout.__doc__
    rows = [
        line
        for line in doc.splitlines()
        if re.match(r"^(scalar|vector|matrix) by ", line)
    ]
    assert len(rows) == 9
    generated = layout_table().splitlines()[2:]
    for row, gen in zip(rows, generated, strict=True):
        doc_cells = re.findall(r"\([^)]*\)|--", row)
        gen_cells = [c.strip("`") for c in gen.split(" | ")[1:]]
        gen_cells[-1] = gen_cells[-1].rstrip(" |").strip("`")
        gen_cells = ["--" if c == "—" else c for c in gen_cells]
        assert doc_cells == gen_cells, row


def test_cli_prints_the_table(capsys):
    from jaxmc.cli import main

    assert main(["layouts"]) == 0
    assert capsys.readouterr().out.strip() == layout_table()


# ------------------------------------------------------------------ conversion

# Shapes of every kind: scalar, vector, column, matrix (incl. 1 x n), rank 3.
shape_st = st.one_of(
    st.just(()),
    st.tuples(st.integers(1, 4)),
    st.tuples(st.integers(1, 4), st.just(1)),
    st.tuples(st.integers(1, 4), st.integers(1, 4)),
    st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)),
)


def supported(in_shape, out_shape):
    out = []
    for layout in LAYOUTS:
        try:
            out.append((layout, layout_shape(in_shape, out_shape, layout)))
        except ValueError:
            pass
    return out


@settings(max_examples=15)
@given(in_shape=shape_st, out_shape=shape_st, seed=st.integers(0, 2**31 - 1))
def test_round_trips_between_every_pair_are_bitwise(in_shape, out_shape, seed):
    Jj = rand(seed, out_shape + in_shape)
    layouts = supported(in_shape, out_shape)
    assert {"vec", "jax"} <= {name for name, _ in layouts}
    conv = functools.partial(convert_layout, in_shape=in_shape, out_shape=out_shape)
    in_layout = {name: conv(Jj, src="jax", dst=name) for name, _ in layouts}
    for (src, src_shape), (dst, dst_shape) in itertools.product(layouts, layouts):
        J = in_layout[src]
        assert J.shape == src_shape
        there = conv(J, src=src, dst=dst)
        assert there.shape == dst_shape and there.dtype == J.dtype
        np.testing.assert_array_equal(there, in_layout[dst])  # path-independent
        np.testing.assert_array_equal(conv(there, src=dst, dst=src), J)


@given(in_shape=shape_st, out_shape=shape_st, seed=st.integers(0, 2**31 - 1))
def test_vec_layout_entries_are_column_major(in_shape, out_shape, seed):
    """vec layout[i, j] = d vec(Y)_i / d vec(X)_j, both vecs column-major."""
    Jj = rand(seed, out_shape + in_shape)
    V = convert_layout(Jj, in_shape=in_shape, out_shape=out_shape, src="jax", dst="vec")
    V, Jj = np.asarray(V), np.asarray(Jj)
    m, n = math.prod(out_shape), math.prod(in_shape)
    for i, j in [(0, 0), (m - 1, n - 1), (m // 2, n // 3)]:
        iy = np.unravel_index(i, out_shape, order="F") if out_shape else ()
        ix = np.unravel_index(j, in_shape, order="F") if in_shape else ()
        assert V[i, j] == Jj[tuple(iy) + tuple(ix)]


def test_convert_layout_jit_vmap_and_dtypes(transform):
    for dtype in DTYPES:
        Jj = rand(0, (4, 5, 2, 3), dtype)
        conv = transform(
            functools.partial(
                convert_layout, in_shape=(2, 3), out_shape=(4, 5), src="jax", dst="vec"
            )
        )
        V = conv(Jj)
        assert V.dtype == jnp.dtype(dtype) and V.shape == (20, 6)
        np.testing.assert_array_equal(V[:, 0], vec(Jj[:, :, 0, 0]))
    batch = rand(1, (6, 3, 2))  # a batch of numerator-layout (3, 2) = X^T shapes
    to_mixed = jax.vmap(
        lambda J: convert_layout(
            J, in_shape=(2, 3), out_shape=(), src="numerator", dst="mixed"
        )
    )
    np.testing.assert_array_equal(transform(to_mixed)(batch), batch.transpose(0, 2, 1))


def test_numerator_and_denominator_are_transposes():
    A = rand(0, (4, 3))
    D = convert_layout(
        A, in_shape=(3,), out_shape=(4,), src="numerator", dst="denominator"
    )
    np.testing.assert_array_equal(D, A.T)
    g = rand(1, (2, 5))  # gradient of a scalar by a (2, 5) matrix, mixed layout
    N = convert_layout(g, in_shape=(2, 5), out_shape=(), src="mixed", dst="numerator")
    np.testing.assert_array_equal(N, g.T)


# ------------------------------------------------------------------ textbook values


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_map_jacobian_is_A(dtype, transform):
    """d(Ax)/dx = A (numerator), A^T (denominator); the seed's A = [[1,2,3],[4,5,6]]."""
    A = jnp.array([[1.0, 2, 3], [4, 5, 6]], dtype=dtype)
    x = jnp.array([1.0, 2, 3], dtype=dtype)
    expected = {"numerator": A, "denominator": A.T, "mixed": A, "vec": A, "jax": A}
    in_every_layout(lambda x: A @ x, x, dtype, transform, expected)
    # Columns (n, 1) are vectors: the same Jacobian, except in the jax layout.
    xc = x[:, None]
    expected["jax"] = A[:, None, :, None]
    in_every_layout(lambda x: A @ x, xc, dtype, transform, expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_form_and_quadratic_form(dtype, transform):
    """d(a^T x)/dx = a and d(x^T A x)/dx = (A + A^T) x, as a row or a column."""
    a, x = rand(0, (4,), dtype), rand(1, (4,), dtype)
    A = rand(2, (4, 4), dtype)
    expected = {
        "numerator": a[None, :],
        "denominator": a[:, None],
        "mixed": a,
        "vec": a[None, :],
        "jax": a,
    }
    in_every_layout(lambda x: a @ x, x, dtype, transform, expected)
    g = (A + A.T) @ x
    for layout, value in {
        "numerator": g[None, :],
        "denominator": g[:, None],
        "mixed": g,
    }.items():
        close(transform(gradient(lambda x: x @ A @ x, layout=layout))(x), value, dtype)
        close(transform(jacobian(lambda x: x @ A @ x, layout=layout))(x), value, dtype)
    # x^T x -> 2x and ||x - a||^2 -> 2(x - a) (the seed's L2 loss)
    close(gradient(lambda x: x @ x)(x), 2 * x, dtype)
    close(gradient(lambda x: jnp.sum((x - a) ** 2))(x), 2 * (x - a), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_trace_derivatives(dtype, transform):
    """d tr(AX)/dX = A^T (mixed, denominator) and A (numerator); seed trace rules."""
    A, X = rand(0, (3, 2), dtype), rand(1, (2, 3), dtype)
    expected = {
        "numerator": A,
        "denominator": A.T,
        "mixed": A.T,
        "vec": vec(A.T)[None, :],
        "jax": A.T,
    }
    in_every_layout(lambda X: jnp.trace(A @ X), X, dtype, transform, expected)
    S, B = rand(2, (3, 3), dtype), rand(3, (3, 5), dtype)
    A2 = rand(4, (5, 2), dtype)
    cases = [
        (lambda X: jnp.trace(X.T @ A.T), A.T),  # tr(X^T C) -> C
        (lambda X: jnp.trace(X @ S @ X.T), X @ S.T + X @ S),
        (lambda X: jnp.trace(X.T @ A.T @ A @ X), 2 * A.T @ A @ X),
        (lambda X: jnp.trace(X.T @ X), 2 * X),  # ||X||_F^2
        (lambda X: jnp.trace(A2 @ X @ B), A2.T @ B.T),  # tr(AXB)
    ]
    for f, value in cases:
        close(transform(gradient(f))(X), value, dtype)
        close(transform(gradient(f, layout="numerator"))(X), value.T, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_scalar_by_matrix_seed_identities(dtype, transform):
    """a^T X b -> a b^T; log det X -> X^{-T}; det X -> det(X) X^{-T}; inverse."""
    a, b = rand(0, (3,), dtype), rand(1, (3,), dtype)
    X = rand(2, (3, 3), dtype) + 3 * jnp.eye(3, dtype=dtype)
    Xinv_T = jnp.linalg.inv(X).T
    cases = [
        (lambda X: a @ X @ b, jnp.outer(a, b)),
        (lambda X: jnp.linalg.slogdet(X)[1], Xinv_T),
        (jnp.linalg.det, jnp.linalg.det(X) * Xinv_T),
        (lambda X: a @ jnp.linalg.solve(X, b), -Xinv_T @ jnp.outer(a, b) @ Xinv_T),
    ]
    for k, (f, value) in enumerate(cases):
        close(transform(gradient(f))(X), value, dtype, 100)
        if k < 2:
            for layout, expected in [("denominator", value), ("numerator", value.T)]:
                close(transform(gradient(f, layout=layout))(X), expected, dtype, 100)


@pytest.mark.parametrize("dtype", DTYPES)
def test_scalar_expansion_rules(dtype, transform):
    """d(x + z)/dx = I, d(x + z)/dz = 1, d(xz)/dx = I z, d(xz)/dz = x (seed 004)."""
    x, z = rand(0, (4,), dtype), jnp.asarray(0.7, dtype)
    eye, ones = jnp.eye(4, dtype=dtype), jnp.ones(4, dtype)
    in_every_layout(
        lambda x, z: x + z,
        x,
        dtype,
        transform,
        {"numerator": eye, "denominator": eye},
        0,
        (x, z),
    )
    column = {
        "numerator": ones[:, None],
        "denominator": ones[None, :],
        "mixed": ones,
        "vec": ones[:, None],
        "jax": ones,
    }
    in_every_layout(lambda x, z: x + z, x, dtype, transform, column, 1, (x, z))
    in_every_layout(
        lambda x, z: x * z, x, dtype, transform, {"numerator": eye * z}, 0, (x, z)
    )
    column = {
        "numerator": x[:, None],
        "denominator": x[None, :],
        "mixed": x,
        "vec": x[:, None],
        "jax": x,
    }
    in_every_layout(lambda x, z: x * z, x, dtype, transform, column, 1, (x, z))


@pytest.mark.parametrize("dtype", DTYPES)
def test_scalar_by_scalar_and_matrix_by_scalar(dtype, transform):
    t = jnp.asarray(0.3, dtype)
    c = jnp.cos(t)
    in_every_layout(
        jnp.sin,
        t,
        dtype,
        transform,
        {"numerator": c, "denominator": c, "mixed": c, "vec": c[None, None], "jax": c},
    )
    A = rand(0, (2, 3), dtype)
    dY = 2 * t * A  # d(t^2 A)/dt
    expected = {
        "numerator": dY,
        "denominator": dY.T,
        "mixed": dY,
        "vec": vec(dY)[:, None],
        "jax": dY,
    }
    in_every_layout(lambda t: t**2 * A, t, dtype, transform, expected)
    # vector by scalar: d sin(t w)/dt = w cos(t w)
    w = rand(1, (3,), dtype)
    J = transform(jacobian(lambda t: jnp.sin(t * w), layout="numerator"))(t)
    close(J, (w * jnp.cos(t * w))[:, None], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_vector_by_vector_seed_jacobians(dtype, transform):
    """Elementwise maps are diagonal; w * x by w is diag(x); 2 A diag(Ax+b) A."""
    x, w, b = rand(0, (4,), dtype), rand(1, (4,), dtype), rand(2, (4,), dtype)
    A = rand(3, (4, 4), dtype)
    s = jax.nn.sigmoid(x)
    cases = [
        (jax.nn.sigmoid, x, jnp.diag(s * (1 - s))),
        (lambda w: w * x, w, jnp.diag(x)),
        (lambda w: w / x, w, jnp.diag(1 / x)),
        (lambda w: w - x, w, jnp.eye(4, dtype=dtype)),
        (
            lambda x: A @ ((A @ x + b) * (A @ x + b)) + b,
            x,
            2 * A @ jnp.diag(A @ x + b) @ A,
        ),
        (lambda x: x @ A, x, A.T),  # d(x^T A)/dx = A^T
    ]
    for f, arg, value in cases:
        close(transform(jacobian(f, layout="numerator"))(arg), value, dtype, 100)
        close(transform(jacobian(f, layout="denominator"))(arg), value.T, dtype, 100)
    # The seed's practice problem 2: f(x) = [x1^2 + x2, sin(x1 x2)].
    x2 = jnp.array([0.5, -1.2], dtype)
    c = jnp.cos(x2[0] * x2[1])
    expected = jnp.array([[2 * x2[0], 1.0], [x2[1] * c, x2[0] * c]], dtype)
    f = lambda x: jnp.stack([x[0] ** 2 + x[1], jnp.sin(x[0] * x[1])])  # noqa: E731
    close(transform(jacobian(f, layout="numerator"))(x2), expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_backprop_worked_example(dtype, transform):
    """Seed 002, example 3: W = [[1,2],[3,4]], x = [1,1], y = [5,11]."""
    W = jnp.array([[1.0, 2], [3, 4]], dtype)
    x = jnp.array([1.0, 1], dtype)
    y = jnp.array([5.0, 11], dtype)

    def loss(W, x):
        return 0.5 * jnp.sum((jax.nn.relu(W @ x) - y) ** 2)

    gW, gx = transform(gradient(loss, (0, 1)))(W, x)
    close(gW, jnp.array([[-2.0, -2], [-4, -4]], dtype), dtype)
    close(gx, jnp.array([-14.0, -20], dtype), dtype)
    gW_num, gx_num = transform(gradient(loss, (0, 1), layout="numerator"))(W, x)
    close(gW_num, gW.T, dtype)
    close(gx_num, gx[None, :], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_vec_layout_kronecker_and_commutation(dtype, transform):
    """d vec(AXB) = (B^T kron A), d vec(X^T) = K_pq, d vec(X^{-1}) = -(X^-T kron X^-1)."""
    A, X, B = rand(0, (4, 2), dtype), rand(1, (2, 3), dtype), rand(2, (3, 5), dtype)
    vec_jac = lambda f, **kw: transform(jacobian(f, layout="vec", **kw))  # noqa: E731
    for mode in ("auto", "forward", "reverse"):
        close(vec_jac(lambda X: A @ X @ B, mode=mode)(X), jnp.kron(B.T, A), dtype)
        K = commutation_matrix(2, 3, dtype=dtype)
        np.testing.assert_array_equal(vec_jac(lambda X: X.T, mode=mode)(X), K)
    S = rand(3, (3, 3), dtype) + 3 * jnp.eye(3, dtype=dtype)
    Si = jnp.linalg.inv(S)
    close(vec_jac(jnp.linalg.inv)(S), -jnp.kron(Si.T, Si), dtype, 100)
    close(
        vec_jac(lambda X: X @ X)(S),
        jnp.kron(jnp.eye(3, dtype=dtype), S) + jnp.kron(S.T, jnp.eye(3, dtype=dtype)),
        dtype,
    )
    # vector by matrix: d(X a)/d vec(X)^T = a^T kron I; matrix by vector: vec(x b^T) = (b kron I) x
    a, x, bb = rand(4, (3,), dtype), rand(5, (2,), dtype), rand(6, (4,), dtype)
    close(
        vec_jac(lambda X: X @ a)(X),
        jnp.kron(a[None, :], jnp.eye(2, dtype=dtype)),
        dtype,
    )
    close(
        vec_jac(lambda x: jnp.outer(x, bb))(x),
        jnp.kron(bb[:, None], jnp.eye(2, dtype=dtype)),
        dtype,
    )
    # d tr(AX)/dX in vec layout is vec(A^T)^T: the trace is an inner product of vecs.
    A3 = rand(7, (3, 2), dtype)
    close(vec_jac(lambda X: jnp.trace(A3 @ X))(X), vec(A3.T)[None, :], dtype)


def test_multiple_argnums_return_a_tuple(transform):
    A, x = rand(0, (3, 4)), rand(1, (4,))
    JA, Jx = transform(jacobian(lambda A, x: A @ x, (0, 1), layout="vec"))(A, x)
    np.testing.assert_allclose(JA, jnp.kron(x[None, :], jnp.eye(3)), rtol=1e-12)
    np.testing.assert_allclose(Jx, A, rtol=1e-12)
    (Jx_only,) = jacobian(lambda A, x: A @ x, (1,), layout="denominator")(A, x)
    np.testing.assert_allclose(Jx_only, A.T, rtol=1e-12)


def test_keyword_arguments_pass_through():
    A = rand(0, (2, 3))
    J = jacobian(lambda x, *, M: M @ x, layout="denominator")(jnp.ones(3), M=A)
    np.testing.assert_allclose(J, A.T, rtol=1e-12)


def test_choose_mode():
    assert _choose_mode(3, 3) == "forward"
    assert _choose_mode(2, 10) == "forward"
    assert _choose_mode(10, 1) == "reverse"


def test_rank3_in_mixed_vec_and_jax():
    T = rand(0, (2, 3, 4))
    g = gradient(lambda T: jnp.sum(T**3))(T)
    np.testing.assert_allclose(g, 3 * T**2, rtol=1e-12)
    V = gradient(lambda T: jnp.sum(T**3), layout="vec")(T)
    np.testing.assert_allclose(
        V, (3 * T**2).transpose(2, 1, 0).reshape(1, -1), rtol=1e-12
    )


# ------------------------------------------------------------------ bad inputs


def test_unknown_layout_lists_the_valid_ones():
    match = r"jaxmc.jacobian: argument `layout` must be one of 'numerator', 'denominator', 'mixed', 'vec', 'jax'; got 'row'"
    with pytest.raises(ValueError, match=match):
        jacobian(jnp.sin, layout="row")
    with pytest.raises(ValueError, match=r"jaxmc.gradient: argument `layout`"):
        gradient(jnp.sum, layout="Numerator")
    with pytest.raises(ValueError, match=r"jaxmc.layout_shape: argument `layout`"):
        layout_shape((2,), (), "column")
    with pytest.raises(ValueError, match=r"jaxmc.convert_layout: argument `dst`"):
        convert_layout(jnp.ones(2), in_shape=(2,), out_shape=(), src="jax", dst="x")


def test_unknown_mode():
    with pytest.raises(
        ValueError, match=r"argument `mode` must be one of 'auto', 'forward', 'reverse'"
    ):
        jacobian(jnp.sin, mode="backward")


def test_unsupported_combination_in_jacobian():
    X = rand(0, (2, 3))
    with pytest.raises(
        ValueError,
        match=r"jaxmc.jacobian: layout 'numerator' has no standard form for the derivative of a matrix \(shape \(3, 2\)\) by a matrix \(shape \(2, 3\)\); use layout='vec' \(the \(6, 6\) matrix",
    ):
        jacobian(lambda X: X.T, layout="numerator")(X)
    with pytest.raises(
        ValueError,
        match=r"layout 'mixed' has no standard form.*a vector \(shape \(3,\)\) by a matrix",
    ):
        jax.jit(jacobian(lambda X: X[0], layout="mixed"))(X)


def test_gradient_of_non_scalar_names_the_shape():
    with pytest.raises(
        ValueError,
        match=r"jaxmc.gradient: argument `f` must return a scalar \(shape \(\)\); got an output of shape \(3,\).*jaxmc.jacobian",
    ):
        gradient(jnp.sin)(jnp.ones(3))
    with pytest.raises(ValueError, match=r"got an output of shape \(1, 1\)"):
        gradient(lambda x: x[None, :] @ x[:, None])(jnp.ones(3))


def test_convert_layout_wrong_shape():
    with pytest.raises(
        ValueError,
        match=r"jaxmc.convert_layout: argument `J` must have shape \(1, 3\), the 'numerator' layout of the derivative of a scalar \(shape \(\)\) by a vector \(shape \(3,\)\); got shape \(3,\)",
    ):
        convert_layout(
            jnp.ones(3), in_shape=(3,), out_shape=(), src="numerator", dst="mixed"
        )
    with pytest.raises(ValueError, match=r"has no standard form"):
        convert_layout(
            jnp.ones((4, 6)),
            in_shape=(2, 3),
            out_shape=(4,),
            src="vec",
            dst="numerator",
        )
    with pytest.raises(
        TypeError,
        match=r"jaxmc.convert_layout: argument `in_shape` must be a tuple of ints",
    ):
        convert_layout(jnp.ones(3), in_shape="3", out_shape=(), src="jax", dst="vec")
    with pytest.raises(
        ValueError, match=r"argument `out_shape\[0\]` must be an int >= 0"
    ):
        layout_shape((3,), (-1,), "vec")


def test_bad_functions_and_arguments():
    with pytest.raises(
        TypeError, match=r"jaxmc.jacobian: argument `f` must be callable"
    ):
        jacobian(3.0)
    with pytest.raises(
        TypeError,
        match=r"jaxmc.jacobian: argument `args\[0\]` must have a floating dtype",
    ):
        jacobian(lambda x: x * 1.0)(jnp.arange(3))
    with pytest.raises(
        ValueError, match=r"jaxmc.jacobian: argnums index 2 is out of range"
    ):
        jacobian(lambda x, y: x * y, 2)(jnp.ones(2), jnp.ones(2))
    with pytest.raises(
        TypeError,
        match=r"jaxmc.jacobian: argument `f` must return a single array; got tuple",
    ):
        jacobian(lambda x: (x, x))(jnp.ones(2))
    with pytest.raises(
        TypeError, match=r"jaxmc.gradient: argument `f` must return a floating array"
    ):
        gradient(lambda x: jnp.sum(x).astype(jnp.int32))(jnp.ones(2))
    with pytest.raises(
        TypeError, match=r"jaxmc.jacobian: argument `argnums` must be an int"
    ):
        jacobian(jnp.sin, argnums="0")
    with pytest.raises(ValueError, match=r"argnums` must not repeat"):
        jacobian(jnp.sin, argnums=(0, 0))
    with pytest.raises(
        ValueError, match=r"argnums` must be an int or a non-empty tuple"
    ):
        gradient(jnp.sum, argnums=())


def test_jacobian_under_vmap_and_python_scalars():
    A = rand(0, (3, 4))
    xs = rand(1, (5, 4))
    Js = jax.vmap(jacobian(lambda x: jnp.tanh(A @ x), layout="denominator"))(xs)
    assert Js.shape == (5, 4, 3)
    for x, J in zip(xs, Js, strict=True):
        np.testing.assert_allclose(
            J, (jnp.diag(1 - jnp.tanh(A @ x) ** 2) @ A).T, rtol=1e-12
        )
    # A Python float is a scalar variable.
    np.testing.assert_allclose(
        jacobian(jnp.sin, layout="vec")(0.5), [[np.cos(0.5)]], rtol=1e-12
    )
