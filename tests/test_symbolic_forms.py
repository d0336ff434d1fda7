"""jaxmc.symbolic: closed forms as a person writes them, Kronecker forms, bad inputs.

The table ``FORMS`` holds closed forms written by hand in the form a textbook
uses (Magnus & Neudecker, the Matrix Cookbook): canonical term order (positive
terms first), common factors taken out, division instead of negative powers,
no double negation. Each row must come out as exactly that text. The table is
derived without verification (the text equals a known-correct form); the rows
that exercise the newer rules are also derived with verification against
autodiff in ``test_forms_verify_against_autodiff``.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tol

from jaxmc import symbolic as sym
from jaxmc.cli import main
from jaxmc.symbolic import (
    ParseError,
    UnsupportedDerivative,
    VerificationError,
    derive,
    parse,
)

# (expression, variable, declarations, options, the closed form by hand)
FORMS = [
    ("x'*A*x + b'*x", "x", {}, {}, "(A + A')*x + b"),
    ("x'*A*x", "x", {"A": "symmetric"}, {}, "2*A*x"),
    ("norm2(A*x - b)^2", "x", {}, {}, "2*A'*(A*x - b)"),
    ("norm2(b - A*x)^2", "x", {}, {}, "2*A'*(A*x - b)"),
    ("norm2(x - a)", "x", {}, {}, "(x - a)/norm2(x - a)"),
    ("norm2(x)", "x", {}, {}, "x/norm2(x)"),
    ("sum(log(y))", "y", {}, {}, "1./y"),
    ("sum(y.*log(x))", "x", {}, {}, "y./x"),
    ("sum(1./x)", "x", {}, {}, "-1./x.^2"),
    ("sum(x./y)", "y", {}, {}, "-x./y.^2"),
    ("log(det(X))", "X", {}, {}, "inv(X')"),
    ("logdet(S)", "S", {"S": "spd"}, {}, "inv(S)"),
    ("det(X)", "X", {}, {}, "det(X)*inv(X')"),
    ("tr(A*X*B)", "X", {}, {}, "A'*B'"),
    ("trace(A*X)", "X", {}, {}, "A'"),
    ("tr(X'*A*X)", "X", {}, {}, "(A + A')*X"),
    ("tr(X'*A*X)", "X", {"A": "symmetric"}, {}, "2*A*X"),
    ("tr(X*A*X')", "X", {}, {}, "X*(A + A')"),
    ("a'*X*b", "X", {}, {}, "a*b'"),
    ("a'*X'*b", "X", {}, {}, "b*a'"),
    ("tr(inv(X)*A)", "X", {}, {}, "-inv(X')*A'*inv(X')"),
    ("norm2(X - U*V')^2", "U", {}, {}, "2*(U*V' - X)*V"),
    ("norm2(X - U*V')^2", "V", {}, {}, "2*(V*U' - X')*U"),
    ("norm2(W*X - Y)^2", "W", {}, {}, "2*(W*X - Y)*X'"),
    ("sum(exp(W*x))", "x", {}, {}, "W'*exp(W*x)"),
    ("x'*x", "x", {}, {}, "2*x"),
    ("tr(A'*A) + tr(B'*B)", "A", {}, {}, "2*A"),
    ("log(1 + exp(w'*x))", "x", {}, {}, "sigmoid(w'*x)*w"),
    ("sum(log(1 + exp(X*w))) - y'*X*w", "w", {}, {}, "X'*(sigmoid(X*w) - y)"),
    ("1/(x'*x)", "x", {}, {}, "-2*x/(x'*x)^2"),
    ("sqrt(x'*x)", "x", {}, {}, "x/sqrt(x'*x)"),
    ("tr(X^3)", "X", {}, {}, "3*X'^2"),
    ("tr(A^200)", "A", {}, {}, "200*A'^199"),
    ("norm1(x)", "x", {}, {}, "sign(x)"),
    ("x'*inv(S)*x", "x", {"S": "spd"}, {}, "2*inv(S)*x"),
    ("x'*inv(S)*x", "S", {"S": "spd"}, {}, "-inv(S)*x*x'*inv(S)"),
    ("exp(x'*A*x)", "x", {}, {}, "exp(x'*A*x)*(A + A')*x"),
    (
        "b'*inv(A + x*x')*b",
        "x",
        {"A": "symmetric"},
        {},
        "-2*b'*inv(A + x*x')*x*inv(A + x*x')*b",
    ),
    ("x'*A*x", "x", {}, {"hessian": True}, "A + A'"),
    ("norm2(A*x - b)^2", "x", {}, {"hessian": True}, "2*A'*A"),
    ("sum(exp(W*x))", "x", {}, {"hessian": True}, "W'*diag(exp(W*x))*W"),
    ("tr(X'*A*X)", "X", {}, {"hessian": True, "layout": "vec"}, "kron(eye, A + A')"),
    ("A*X*B", "X", {}, {"layout": "vec"}, "kron(B', A)"),
    ("A*X", "X", {}, {"layout": "vec"}, "kron(eye, A)"),
    ("X*B", "X", {}, {"layout": "vec"}, "kron(B', eye)"),
    ("X'", "X", {}, {"layout": "vec"}, "commutation_matrix(rows(X), cols(X))"),
    ("inv(X)", "X", {}, {"layout": "vec"}, "-kron(inv(X'), inv(X))"),
    ("X^2", "X", {}, {"layout": "vec"}, "kron(X', eye) + kron(eye, X)"),
    ("x*x'", "x", {}, {"layout": "vec"}, "kron(eye, x) + kron(x, eye)"),
    ("log(sum(exp(x)))", "x", {}, {}, "exp(x)/sum(exp(x))"),
    ("sum(sigmoid(x))", "x", {}, {}, "sigmoid(x).*(1 - sigmoid(x))"),
    ("sum(tanh(W*x))", "x", {}, {}, "W'*(1 - tanh(W*x).^2)"),
    ("(a'*x)*(b'*x)", "x", {}, {}, "a'*x*b + b'*x*a"),
    ("tr(A*X'*B*X)", "X", {}, {}, "B'*X*A' + B*X*A"),
    ("x'*A*x", "A", {}, {}, "x*x'"),
    ("log(det(A + x*x'))", "x", {"A": "symmetric"}, {}, "2*inv(A + x*x')*x"),
    (
        "x'*inv(A + x*x')*x",
        "x",
        {"A": "symmetric"},
        {},
        "2*(inv(A + x*x') - inv(A + x*x')*x*x'*inv(A + x*x'))*x",
    ),
]


@pytest.mark.parametrize(
    "text,wrt,decl,opts,expected", FORMS, ids=[f"{r[0]}|{r[1]}" for r in FORMS]
)
def test_textbook_forms(text, wrt, decl, opts, expected):
    d = derive(text, wrt=wrt, verify=False, **decl, **opts)
    assert d.text == expected


def test_the_table_is_large_enough():
    assert len(FORMS) >= 40


VERIFIED = [
    "norm2(X - U*V')^2",  # no double negation
    "norm2(b - A*x)^2",
    "norm2(x - a)",  # division
    "sum(y.*log(x))",
    "exp(x'*A*x)",  # a scalar factor taken out
    "tr(A^200)",  # a matrix power
    "x'*inv(A + x*x')*x",  # merged inverses
    "A*X*B",  # Kronecker forms
    "X'",
    "tr(X'*A*X)",
]


@pytest.mark.slow
def test_forms_verify_against_autodiff():
    rows = {r[0]: r for r in FORMS}
    for text in VERIFIED:
        _, wrt, decl, opts, expected = rows[text]
        d = derive(text, wrt=wrt, **decl, **opts)
        assert d.text == expected
        assert d.error is not None and d.error <= 1e-8


# --------------------------------------------------------- Kronecker (vec) forms


def rand(seed, *shape):
    return np.random.default_rng(seed).standard_normal(shape)


def close(a, b, dtype=jnp.float64):
    rtol, atol = tol(dtype)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


def test_kronecker_forms_values_and_notation():
    """d vec(A X B) = (B' kron A) d vec(X), d vec(X') = K d vec(X), ..."""
    from jaxmc.vec import commutation_matrix

    A, X, B = rand(0, 2, 3), rand(1, 3, 4), rand(2, 4, 5)
    d = derive("A*X*B", wrt="X", layout="vec", verify=False)
    assert d.kind == "jacobian" and d.latex == r"B^\top \otimes A"
    close(d.fn(A, X, B), np.kron(B.T, A))
    t = derive("X'", wrt="X", layout="vec", verify=False)
    assert t.latex == "K_{m_X,n_X}"
    close(t.fn(X), commutation_matrix(3, 4))
    S = rand(3, 4, 4) + 4 * np.eye(4)
    i = derive("inv(X)", wrt="X", layout="vec", verify=False)
    assert i.latex == r"-\left(X^{-\top} \otimes X^{-1}\right)"
    Si = np.linalg.inv(S)
    close(i.fn(S), -np.kron(Si.T, Si))
    # The "jax" layout: the same values as jax.jacfwd.
    j = derive("inv(X)", wrt="X", layout="jax", verify=False)
    close(j.fn(S), jax.jacfwd(jnp.linalg.inv)(S))


def test_hessian_by_a_matrix():
    """tr(X' A X) has the Hessian I kron (A + A') with respect to X."""
    A, X = rand(0, 4, 4), rand(1, 4, 3)
    h = derive("tr(X'*A*X)", wrt="X", hessian=True, layout="vec", verify=False)
    assert h.kind == "hessian" and h.text == "kron(eye, A + A')"
    assert h.latex == r"I \otimes \left(A + A^\top\right)"
    close(h.fn(X, A), np.kron(np.eye(3), A + A.T))
    assert h.fn(X, A).shape == (12, 12)


def test_matrix_valued_f_of_a_vector_and_scalar():
    x = rand(0, 3)
    d = derive("x*x'", wrt="x", layout="vec", verify=False)
    ref = jax.jacfwd(lambda v: jnp.outer(v, v))(x).reshape(9, 3, order="F")
    close(d.fn(x), ref)
    s = derive("t*A", wrt="t", layout="vec", t="scalar", verify=False)
    A = rand(1, 2, 3)
    close(s.fn(np.asarray(0.5), A), A.reshape(-1, 1, order="F"))


def test_notation_norms_and_aliases():
    X, x = sym.Symbol("X"), sym.Symbol("x", "vector")
    assert sym.norm2(X).latex == r"\lVert X\rVert_F"
    assert sym.norm2(x).latex == r"\lVert x\rVert_2"
    assert sym.norm1(x).latex == r"\lVert x\rVert_1"
    assert parse("trace(A*B)").text == "tr(A*B)"
    assert sym.trace(X).text == "tr(X)"
    assert parse("logdet(X)").text == "log(det(X))"
    assert parse("kron(A, B)").text == "kron(A, B)"
    assert parse("vec(A)").latex == r"\operatorname{vec}\left(A\right)"
    n1 = derive("norm1(A*x - b)", wrt="x", verify=False)
    assert n1.text == "A'*sign(A*x - b)"
    A, xv, b = rand(0, 3, 2), rand(1, 2), rand(2, 3)
    close(n1.fn(A, xv, b), A.T @ np.sign(A @ xv - b))


def test_tr_of_a_high_matrix_power():
    """A^200 is one node: parsed, printed and differentiated without recursion."""
    d = derive("tr(A^200)", wrt="A", verify=False)
    assert d.text == "200*A'^199" and d.latex == r"200 \left(A^\top\right)^{199}"
    A = rand(0, 3, 3) / 4
    close(d.fn(A), 200 * np.linalg.matrix_power(A.T, 199))


def test_fn_accepts_columns_as_jaxmc_jacobian_does():
    d = derive("x'*A*x", wrt="x", verify=False)
    A, x = rand(0, 3, 3), rand(1, 3)
    g = d.fn(x[:, None], A)
    assert g.shape == (3, 1)
    close(g[:, 0], (A + A.T) @ x)
    j = derive("A*x", wrt="x", verify=False)
    close(j.fn(A, x[:, None]), A)
    with pytest.raises(ValueError, match="rank 1"):
        d.fn(np.ones((3, 2)), A)


# ------------------------------------------- numerics of the generated code


@functools.cache
def _log_det_gradient():
    return derive("log(det(X))", wrt="X")


def _ill_conditioned(seed, smallest, n=4):
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return U @ np.diag([1.0, 0.7, 0.3, smallest]) @ V.T


@pytest.mark.parametrize("dtype,smallest", [(np.float64, 1e-8), (np.float64, 1e-12),
                                            (np.float32, 1e-3)])  # fmt: skip
def test_log_det_gradient_at_ill_conditioned_points(dtype, smallest):
    """The generated inv(X') is inv(X)' (one LU of X), as accurate as jax.grad."""
    d = _log_det_gradient()
    ref = jax.jit(jax.grad(lambda X: jnp.linalg.slogdet(X)[1]))
    eps = np.finfo(dtype).eps
    for seed in range(3):
        X = _ill_conditioned(seed, smallest).astype(dtype)
        got, want = np.asarray(d.fn(X)), np.asarray(ref(X))
        assert np.all(np.isfinite(got)) and got.dtype == dtype
        err = np.max(np.abs(got - want)) / np.max(np.abs(want))
        assert err <= 10 * eps / smallest, (seed, err)
    jaxpr = str(jax.make_jaxpr(d.fn)(X))
    assert "lu" in jaxpr and "transpose" in jaxpr.split("lu")[-1]


# ------------------------------------------------------------ bad inputs


def test_division_by_zero_is_a_parse_error_with_its_position():
    for text, pos in [("sum(x)/0", 6), ("x/0", 1), ("sum(x)./0", 6),
                      ("sum(x)*(1/0)", 9), ("x./(y - y)", 1)]:  # fmt: skip
        with pytest.raises(ParseError, match="division by zero") as info:
            derive(text, wrt="x")
        assert info.value.pos == pos


def test_deep_nesting_is_limited_clearly():
    deep = "(" * 200 + "x" + ")" * 200
    with pytest.raises(ParseError, match="nested more than 100 levels"):
        parse(deep)
    assert parse("(" * 90 + "x" + ")" * 90 + "'*x").text == "x'*x"


def test_singular_everywhere_is_reported_as_singular():
    with pytest.raises(VerificationError, match="singular") as info:
        derive("log(det(A*A'))", wrt="A", A=(3, 2))
    assert "bug in a rule" not in str(info.value)
    # Singular at odd sizes only: other sizes are tried, and it verifies.
    d = derive("log(det(X - X'))", wrt="X")
    assert d.error is not None and d.error <= 1e-8


def test_options_are_booleans_and_inputs_real():
    with pytest.raises(TypeError, match="`verify` must be a bool"):
        derive("x'*x", wrt="x", verify="no")
    d = derive("x'*x", wrt="x", verify=False)
    with pytest.raises(TypeError, match="must be real"):
        d.fn(jnp.ones(3, jnp.complex64))
    with pytest.raises(UnsupportedDerivative, match="3-way tensor"):
        derive("diag(x)", wrt="x")


def test_cli_one_line_errors_and_vec_layout(capsys):
    assert main(["derive", "sum(x)/0", "--wrt", "x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "identically zero at position 6" in err
    assert main(["derive", "A*X*B", "--wrt", "X", "--layout", "vec"]) == 0
    assert "df/dX = kron(B', A)" in capsys.readouterr().out
