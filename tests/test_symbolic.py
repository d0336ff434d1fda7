"""Tests for jaxmc.symbolic: closed-form derivatives against autodiff and known forms."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tol

import jaxmc
from jaxmc import symbolic as sym
from jaxmc.cli import main
from jaxmc.symbolic import (
    Symbol,
    UnsupportedDerivative,
    VerificationError,
    derive,
    differential,
    parse,
    symbols,
    to_jax,
)


@functools.cache
def _derive_cached(text, wrt, hessian, layout, decl):
    return derive(text, wrt=wrt, hessian=hessian, layout=layout, **dict(decl))


def D(text, wrt, *, hessian=False, layout="mixed", **decl):
    """derive(...) of a string, cached across tests (each derivation is verified)."""
    return _derive_cached(text, wrt, hessian, layout, tuple(sorted(decl.items())))


def rand(seed, *shape, dtype=np.float64):
    """NumPy test data (no compilation), deterministic in the seed."""
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def close(a, b, dtype=jnp.float64):
    rtol, atol = tol(dtype)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


# ------------------------------------------- printed closed forms (the list)

PRINTED = [
    # (expression, wrt, declarations, text of the closed form)
    ("x'*A*x + b'*x", "x", {}, "(A + A')*x + b"),
    ("x'*A*x", "x", {"A": "symmetric"}, "2*A*x"),
    ("norm2(A*x - b)^2", "x", {}, "2*A'*(A*x - b)"),
    ("log(det(X))", "X", {}, "inv(X')"),
    ("log(det(S))", "S", {"S": "spd"}, "inv(S)"),
    ("tr(A*X*B)", "X", {}, "A'*B'"),
    ("sum(exp(W*x))", "x", {}, "W'*exp(W*x)"),
    ("tr(A'*A) + tr(B'*B)", "A", {}, "2*A"),
    ("tr(X'*A*X)", "X", {}, "(A + A')*X"),
    ("a'*X*b", "X", {}, "a*b'"),
    ("det(X)", "X", {}, "det(X)*inv(X')"),
    ("x'*x", "x", {}, "2*x"),
]


@pytest.mark.parametrize("text,wrt,decl,expected", PRINTED, ids=[p[0] for p in PRINTED])
def test_printed_closed_forms(text, wrt, decl, expected):
    d = D(text, wrt, **decl)
    assert d.text == expected
    assert d.kind == "gradient" and d.error is not None and d.error <= 1e-8


def test_latex_forms():
    assert D("x'*A*x", "x").latex == r"\left(A + A^\top\right) x"
    assert D("log(det(X))", "X").latex == r"X^{-\top}"
    assert D("norm2(A*x - b)^2", "x").latex == (r"2 A^\top \left(A x - b\right)")
    assert parse("x.*y./z").latex == r"x \odot y \oslash z"
    assert parse("sigmoid(x)'*exp(y)").latex == (
        r"\sigma\left(x\right)^\top \exp\left(y\right)"
    )


def test_hessians_printed():
    assert D("x'*A*x", "x", hessian=True).text == "A + A'"
    assert D("norm2(A*x - b)^2", "x", hessian=True).text == "2*A'*A"
    assert D("sum(exp(W*x))", "x", hessian=True).text == ("W'*diag(exp(W*x))*W")
    logistic = "sum(log(1 + exp(X*w))) - y'*X*w"
    assert D(logistic, "w").text == "X'*(sigmoid(X*w) - y)"
    assert D(logistic, "w", hessian=True).text == (
        "X'*diag(sigmoid(X*w).*(1 - sigmoid(X*w)))*X"
    )
    h = D("-sum(log(sigmoid(y.*(X*w))))", "w", hessian=True)
    assert h.text == "X'*diag(sigmoid(y.*(X*w)).*(1 - sigmoid(y.*(X*w))).*y.^2)*X"


# ------------------------------------------- the seed notes' worked examples


SEED_ANSWERS = [
    # (expression, wrt, closed form the teaching notes derive by hand)
    ("norm2(X*w - y)^2", "w", "2*X'*(X*w - y)"),  # Example 1
    ("(X*w - y)'*(X*w - y)", "w", "2*X'*(X*w - y)"),  # Example 1, expanded
    ("x'*(A*x)", "x", "(A + A')*x"),  # Example 4, product rule
    ("norm2(A*x)^2", "x", "2*A'*A*x"),  # Practice 1
    ("tr(A*X*B)", "X", "A'*B'"),  # Practice 3
    ("norm2(W*X - Y)^2", "W", "2*(W*X - Y)*X'"),  # Practice 4
    ("det(X)", "X", "det(X)*inv(X')"),  # Practice 5
    ("log(1 + exp(w'*x))", "x", "sigmoid(w'*x)*w"),  # Practice 6
]


@pytest.mark.parametrize("text,wrt,expected", SEED_ANSWERS)
def test_seed_worked_examples(text, wrt, expected):
    assert D(text, wrt).text == expected


def test_seed_neural_network_layer_example_numbers():
    """Example 3: W = [[1,2],[3,4]], x = [1,1], y = [5,11]."""
    W, x, y = np.array([[1.0, 2], [3, 4]]), np.ones(2), np.array([5.0, 11])
    loss = "0.5*norm2(relu(W*x) - y)^2"
    assert D(loss, "W").text == "(relu(W*x) - y).*step(W*x)*x'"
    np.testing.assert_array_equal(D(loss, "W").fn(W, x, y), [[-2, -2], [-4, -4]])
    np.testing.assert_array_equal(D(loss, "x").fn(W, x, y), [-14, -20])


# ------------------------------------------------- the failures of SymPy, right


def test_sympy_failure_log_det_is_inverse_transpose():
    d = D("log(det(X))", "X")
    X = rand(0, 4, 4)
    close(d.fn(X), np.linalg.inv(X).T)
    assert float(np.max(np.abs(d.fn(X)))) > 0.1  # not zero


def test_sympy_failure_sum_of_traces_is_2A():
    d = D("tr(A'*A) + tr(B'*B)", "A")
    A, B = rand(1, 3, 4), rand(2, 5, 2)
    close(d.fn(A, B), 2 * A)


# ------------------------------------- numerical match to hand-written closed forms


def test_gradients_match_hand_written_closed_forms():
    n, m = 4, 6
    A, X, B = rand(0, n, n), rand(1, n, n), rand(2, n, n)
    W, x, b, a = rand(3, m, n), rand(4, n), rand(5, n), rand(6, m)
    Xi = np.linalg.inv(X)
    cases = [
        ("x'*A*x + b'*x", "x", (x, A, b), (A + A.T) @ x + b),
        ("norm2(W*x - a)^2", "x", (W, x, a), 2 * W.T @ (W @ x - a)),
        ("log(det(X))", "X", (X,), Xi.T),
        ("tr(A*X*B)", "X", (A, X, B), A.T @ B.T),
        ("sum(exp(W*x))", "x", (W, x), W.T @ np.exp(W @ x)),
        ("tr(inv(X)*A)", "X", (X, A), -Xi.T @ A.T @ Xi.T),
        ("norm2(x)", "x", (x,), x / np.linalg.norm(x)),
    ]
    for text, wrt, args, expected in cases:
        d = D(text, wrt)
        close(d.fn(*args), expected)
        close(jax.jit(d.fn)(*args), expected)


def test_hessians_match_hand_written_and_jax_hessian():
    n, m = 5, 7
    A, Xd, x, y = rand(0, n, n), rand(1, m, n), rand(2, n), rand(3, m)
    b = rand(4, m)
    h1 = D("x'*A*x", "x", hessian=True)
    close(h1.fn(x, A), A + A.T)
    h2 = D("norm2(X*x - b)^2", "x", hessian=True)
    close(h2.fn(Xd, x, b), 2 * Xd.T @ Xd)
    f = "sum(log(1 + exp(X*w))) - y'*X*w"  # logistic regression, labels in {0, 1}
    h3 = D(f, "w", hessian=True)
    s = 1 / (1 + np.exp(-(Xd @ x)))
    close(h3.fn(Xd, x, y), Xd.T @ np.diag(s * (1 - s)) @ Xd)
    g3 = D(f, "w")
    close(g3.fn(Xd, x, y), Xd.T @ (s - y))

    def loss(w):
        return jnp.sum(jnp.log1p(jnp.exp(Xd @ w))) - y @ Xd @ w

    close(h3.fn(Xd, x, y), jax.jit(jax.hessian(loss))(x))


def test_symmetric_variable_gets_the_unconstrained_gradient():
    """X' is not replaced by X while differentiating in a symmetric X."""
    d = D("tr(A*(X + X')/2)", "X", X="symmetric")
    assert d.text == "0.5*(A + A')"
    A, X = rand(0, 3, 3), rand(1, 3, 3)
    close(d.fn(A, X + X.T), (A + A.T) / 2)
    assert D("tr(X'*X)", "X", X="symmetric").text == "2*X"


def test_ones_of_different_shapes_stay_apart():
    """vector(1) as a row and as a column in one closed form (batched layer)."""
    d = D("0.5*norm2(X*W' + vector(1)*b' - T)^2", "b")
    X, W, b, T = rand(0, 5, 3), rand(1, 2, 3), rand(2, 2), rand(3, 5, 2)
    close(d.fn(X, W, b, T), (X @ W.T + b[None, :] - T).sum(axis=0))


def test_jacobians_and_hessians_through_matrices_of_the_variable():
    """inv(A + x x') and diag(x) depend on x: read off through J' v = grad(v' f)."""
    A, b, x = rand(0, 4, 4) + 4 * np.eye(4), rand(1, 4), rand(2, 4)
    d = D("inv(A + x*x')*b", "x")
    ref = jax.jit(jax.jacfwd(lambda x: jnp.linalg.solve(A + jnp.outer(x, x), b)))
    close(d.fn(A, x, b), ref(x))
    h = D("x'*diag(x)*A*x", "x", hessian=True)
    assert h.text == "2*(A'*diag(x) + diag(A*x) + diag(x)*A)"
    close(h.fn(x, A), 2 * (np.diag(A @ x) + A.T * x[None, :] + x[:, None] * A))
    g = D("log(det(eye + x*x'))", "x", hessian=True)
    M = np.linalg.inv(np.eye(4) + np.outer(x, x))
    close(g.fn(x), 2 * (M - (x @ M @ x) * M - M @ np.outer(x, x) @ M))


def test_differential_of_the_inverse():
    d = differential("inv(X)", wrt="X")
    assert d.text == "-inv(X)*dX*inv(X)"
    assert d.args == ("X", "dX")
    X, dX = rand(0, 4, 4), rand(1, 4, 4)
    Xi = np.linalg.inv(X)
    close(d.fn(X, dX), -Xi @ dX @ Xi)
    assert differential("X*X", wrt="X").text == "X*dX + dX*X"


def _sig(u):
    return 1 / (1 + np.exp(-u))


ELEMENTWISE = {
    "exp": lambda u: np.exp(u),
    "log": lambda u: 1 / u,
    "sin": lambda u: np.cos(u),
    "cos": lambda u: -np.sin(u),
    "tanh": lambda u: 1 - np.tanh(u) ** 2,
    "sigmoid": lambda u: _sig(u) * (1 - _sig(u)),
    "relu": lambda u: (u > 0).astype(u.dtype),
    "abs": lambda u: np.sign(u),
    "sqrt": lambda u: 0.5 / np.sqrt(u),
}


@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_elementwise_jacobians(name):
    d = D(f"{name}(A*x)", "x")
    assert d.kind == "jacobian"
    A, x = rand(0, 5, 3), rand(1, 3)
    if name in ("log", "sqrt"):
        A, x = np.abs(A), np.abs(x)
    u = A @ x
    close(d.fn(A, x), ELEMENTWISE[name](u)[:, None] * A)
    f = getattr(jax.nn if name in ("sigmoid", "relu") else jnp, name)
    close(d.fn(A, x), jax.jit(jax.jacfwd(lambda x: f(A @ x)))(x))


def test_elementwise_operators_and_powers():
    x, y, z = rand(0, 4), rand(1, 4), np.abs(rand(2, 4)) + 0.5
    d = D("sum(x.*y./z)", "z")
    close(d.fn(x, y, z), -x * y / z**2)
    d = D("sum(z.^3)", "z")
    assert d.text == "3*z.^2"
    close(d.fn(z), 3 * z**2)
    d = D("sum(sqrt(z))/2", "z")
    close(d.fn(z), 0.25 / np.sqrt(z))


def test_scalar_variable_and_vector_valued_expressions():
    t = D("exp(t*x)", "t", t="scalar")
    x, tv = rand(0, 3), np.asarray(0.3)
    assert t.kind == "jacobian"
    close(t.fn(tv, x), x * np.exp(tv * x))
    g = D("t^2*x'*x", "t", t="scalar")
    assert g.text == "2*t*x'*x"
    close(g.fn(tv, x), 2 * tv * x @ x)


def test_layouts():
    A, x, X = rand(0, 3, 3), rand(1, 3), rand(2, 3, 4)
    B = rand(3, 4, 3)
    g = D("tr(X*B)", "X", layout="numerator")
    assert g.text == "B"
    close(g.fn(X, B), B)
    j = D("A*x", "x")
    assert j.text == "A"
    jd = D("A*x", "x", layout="denominator")
    assert jd.text == "A'"
    close(jd.fn(A, x), A.T)
    h = D("x'*A*x", "x", hessian=True, layout="denominator")
    close(h.fn(x, A), A + A.T)


@pytest.mark.parametrize("layout", ["mixed", "numerator", "denominator", "vec", "jax"])
def test_layouts_through_jaxmc_layout(layout):
    """Every layout's values equal jaxmc.convert_layout of JAX's derivative."""
    X, B, A, x = rand(0, 3, 4), rand(1, 4, 3), rand(2, 5, 4), rand(3, 4)
    g = D("tr(X*B)", "X", layout=layout)
    ref = jaxmc.convert_layout(
        B.T, in_shape=(3, 4), out_shape=(), src="jax", dst=layout
    )
    close(g.fn(X, B), ref)
    j = D("tanh(A*x)", "x", layout=layout)
    Jx = jax.jit(jax.jacfwd(lambda v: jnp.tanh(A @ v)))(x)
    ref = jaxmc.convert_layout(Jx, in_shape=(4,), out_shape=(5,), src="jax", dst=layout)
    close(j.fn(A, x), ref)
    assert j.fn(A, x).shape == jaxmc.layout_shape((4,), (5,), layout)


def test_python_api_matches_the_parser():
    x, A, b = symbols("x A b")
    expr = x.T @ A @ x + b.T @ x
    assert expr.text == "x'*A*x + b'*x"
    assert derive(expr, wrt=x).text == "(A + A')*x + b"
    W = Symbol("W", "matrix")
    e = sym.sum(sym.exp(W @ x))
    assert e.text == "sum(exp(W*x))"
    assert derive(e, wrt="x").text == "W'*exp(W*x)"
    S = Symbol("S", "matrix", spd=True)
    assert derive(sym.logdet(S) + sym.tr(S @ A), wrt=S).text == "A' + inv(S)"
    y = Symbol("y", "vector")
    assert (2 * x * y - y / 3).text == "2*x.*y - y/3"
    assert sym.norm2(x - 1).text == "norm2(x - 1)"
    assert str(x**2) == "x.^2" and str(abs(x)) == "abs(x)"
    assert repr(S) == "Symbol('S', 'matrix', spd=True)"


def test_shapes_are_declarable_and_checked():
    x = Symbol("x", "vector", shape=(3,))
    A = Symbol("A", "matrix", shape=(2, 3))
    d = derive(sym.norm2(A @ x) ** 2, wrt=x)
    assert d.fn(jnp.ones((2, 3)), jnp.ones(3)).shape == (3,)
    with pytest.raises(ValueError, match="argument `A` must have size 2 along axis 0"):
        d.fn(jnp.ones((4, 3)), jnp.ones(3))
    y = Symbol("y", "vector", shape=(4,))
    with pytest.raises(ValueError, match="inner sizes must agree"):
        A @ y


def test_generated_functions_jit_vmap_and_float32():
    d = D("norm2(A*x - b)^2", "x")
    A, x, b = rand(0, 5, 3), rand(1, 3), rand(2, 5)
    expected = 2 * A.T @ (A @ x - b)
    close(jax.jit(d.fn)(A, x, b), expected)
    close(d.fn(A=A, x=x, b=b), expected)
    xs = rand(3, 7, 3)
    batched = jax.vmap(d.fn, in_axes=(None, 0, None))(A, xs, b)
    close(batched[4], 2 * A.T @ (A @ xs[4] - b))
    got32 = d.fn(A.astype(np.float32), x.astype(np.float32), b.astype(np.float32))
    assert got32.dtype == jnp.float32
    close(got32, expected, dtype=jnp.float32)
    f = to_jax(parse("x'*A*x"), args=["A", "x"])
    close(f(A[:3], x), x @ A[:3] @ x)
    close(jax.grad(f, argnums=1)(A[:3], x), (A[:3] + A[:3].T) @ x)


def test_large_transposes_are_exact():
    """Big matrices are transposed tile by tile in the generated code."""
    from jaxmc.symbolic._codegen import _transpose

    for shape in [(512, 768), (640, 512), (521, 600), (3, 4)]:
        X = rand(0, *shape)
        np.testing.assert_array_equal(jax.jit(_transpose)(X), X.T)
    A = rand(1, 512, 512)
    np.testing.assert_array_equal(D("x'*A*x", "x", hessian=True).fn(A[0], A), A + A.T)


def test_round_trip_text_parses_to_the_same_values():
    for text, wrt, hessians in [
        ("x'*A*x + b'*x", "x", (False,)),
        ("-sum(log(sigmoid(y.*(X*w))))", "w", (False, True)),
        ("sqrt(x'*x)", "x", (True,)),
    ]:
        for hessian in hessians:
            d = D(text, wrt, hessian=hessian)
            decl = {s.name: s for s in d.f.symbols}
            back = to_jax(parse(d.text, **decl), args=d.f.symbols)
            vals = [rand(i, 4) if s.kind == "vector" else rand(i, 4, 4) for i, s in enumerate(d.f.symbols)]  # fmt: skip
            close(back(*vals), d.fn(*vals))


def test_a_wrong_rule_cannot_pass_silently(monkeypatch):
    from jaxmc.symbolic import _diff

    right = _diff._fprime

    def wrong(name, u):
        return sym.sin(u) if name == "sin" else right(name, u)

    monkeypatch.setattr(_diff, "_fprime", wrong)
    with pytest.raises(VerificationError, match="disagrees with JAX autodiff"):
        derive("sum(sin(x))", wrt="x")
    d = derive("sum(sin(x))", wrt="x", verify=False)  # switched off: no check
    assert d.error is None and "not verified" in repr(d)


def _random_expression(rng, depth):
    """A random scalar expression in x (vector), A (square matrix), b (vector)."""
    if depth == 0:
        return str(rng.choice(["x'*A*x", "b'*x", "x'*x", "b'*A*x"]))
    a = _random_expression(rng, depth - 1)
    v = str(rng.choice(["A*x", "x", "A'*x - b", "x.*b"]))
    forms = [
        f"({a})*({a})",
        f"{a} + sum({rng.choice(['exp', 'sin', 'tanh', 'sigmoid', 'cos'])}({v}))",
        f"sqrt(1 + ({a})^2)",
        f"norm2({v})^2 - 2*({a})",
        f"({a})/(2 + x'*x)",
        f"tr(A*inv(eye + x*x'))*({a})",
        f"log(1 + exp({a}))",
        f"sum(({v}).^3) + {a}",
    ]
    return str(rng.choice(forms))


@pytest.mark.slow
def test_random_expressions_verify():
    """Random compositions of the rules: gradient and Hessian match autodiff."""
    rng = np.random.default_rng(0)
    for _ in range(3):
        text = _random_expression(rng, 1)
        assert derive(text, wrt="x").error <= 1e-8, text
        assert derive(text, wrt="x", hessian=True).error <= 1e-8, text


def test_verification_is_deterministic_given_the_key():
    a = derive("x'*x", wrt="x", key=jax.random.key(3))
    b = derive("x'*x", wrt="x", key=jax.random.key(3))
    assert a.error == b.error


# ------------------------------------------------------------------- bad inputs


def test_bad_inputs():
    with pytest.raises(TypeError, match="jaxmc.symbolic.derive: argument `f`"):
        derive(3, wrt="x")
    with pytest.raises(ValueError, match="`wrt`: 'z' does not occur"):
        derive("x'*x", wrt="z")
    with pytest.raises(ValueError, match="argument `layout` must be one of"):
        derive("x'*x", wrt="x", layout="sideways")
    with pytest.raises(TypeError, match="declarations"):
        derive(parse("x'*x"), wrt="x", x="vector")
    with pytest.raises(UnsupportedDerivative, match="matrix-valued"):
        derive("inv(X)", wrt="X")
    with pytest.raises(UnsupportedDerivative, match="Hessian of `tr"):
        derive("tr(X'*X)", wrt="X", hessian=True)
    with pytest.raises(ValueError, match="hessian=True needs a scalar"):
        derive("A*x", wrt="x", hessian=True)
    with pytest.raises(UnsupportedDerivative, match="matrix-valued intermediate"):
        derive("exp(x*x')*b", wrt="x")
    with pytest.raises(TypeError, match="argument `key` must be a PRNG key"):
        derive("x'*x", wrt="x", key=0)
    with pytest.raises(ValueError, match="Symbol: argument `name`"):
        Symbol("2x", "vector")
    with pytest.raises(ValueError, match="apply to matrices"):
        Symbol("x", "vector", symmetric=True)
    with pytest.raises(ValueError, match="argument `kind`"):
        Symbol("x", "tensor")
    with pytest.raises(TypeError, match="cannot combine an expression"):
        Symbol("x", "vector") + "y"
    with pytest.raises(ValueError, match="argument `args` must list every symbol"):
        to_jax(parse("x'*A*x"), args=["x"])
    d = D("x'*A*x", "x")
    with pytest.raises(ValueError, match="rank 1"):
        d.fn(jnp.ones((3, 3)), jnp.ones((3, 3)))
    with pytest.raises(ValueError, match="ties it to"):
        d.fn(jnp.ones(3), jnp.ones((4, 4)))


# ------------------------------------------------------------------- the command


def test_cli_derive(capsys):
    assert main(["derive", "x'*A*x", "--wrt", "x", "--latex"]) == 0
    out = capsys.readouterr().out
    assert "df/dx = (A + A')*x" in out and r"\left(A + A^\top\right) x" in out
    assert "verified" in out
    assert (
        main(["derive", "x'*A*x", "--wrt", "x", "--hessian", "--symmetric", "A"]) == 0
    )
    assert "d2f/dx2 = 2*A" in capsys.readouterr().out
    assert main(["derive", "t*x", "--wrt", "t", "--scalar", "t", "--no-verify"]) == 0
    assert "not verified" in capsys.readouterr().out
    assert main(["derive", "inv(X)", "--wrt", "X", "--differential"]) == 0
    assert "df = -inv(X)*dX*inv(X)" in capsys.readouterr().out
    assert main(["derive", "tr(A*X", "--wrt", "X"]) == 2
    err = capsys.readouterr().err
    assert "position 6 of 'tr(A*X'" in err and err.count("\n") == 1


def test_top_level_export():
    assert jaxmc.derive is derive
