"""Tests for jaxmc.symbolic.parse: syntax, kinds, shapes and error positions."""

import pytest

from jaxmc.symbolic import ParseError, Symbol, parse


@pytest.mark.parametrize(
    "text,kind,printed",
    [
        ("x'*A*x + b'*x", "scalar", "x'*A*x + b'*x"),
        ("log(det(X))", "scalar", "log(det(X))"),
        ("norm2(A*x - b)^2", "scalar", "norm2(A*x - b)^2"),
        ("tr(A*X*B)", "scalar", "tr(A*X*B)"),
        ("sum(exp(W*x))", "scalar", "sum(exp(W*x))"),
        ("inv(X)", "matrix", "inv(X)"),
        ("x.*y./z", "vector", "x.*y./z"),
        ("x.^2 + 1", "vector", "x.^2 + 1"),
        ("A^2", "matrix", "A^2"),
        ("A^-1", "matrix", "inv(A)"),
        ("x'", "row", "x'"),
        ("-x.^2", "vector", "-x.^2"),
        ("2*x/3", "vector", "2*x/3"),
        ("2.*x + 2.5*x", "vector", "2*x + 2.5*x"),
        ("(A + B)'*x", "vector", "(A + B)'*x"),
        ("diag(x)*y", "vector", "diag(x)*y"),
        ("x'*eye*x", "scalar", "x'*eye*x"),
    ],
)
def test_parse_kinds_and_printing(text, kind, printed):
    e = parse(text)
    assert e.kind == kind
    assert e.text == printed


def test_declarations():
    e = parse("t*x + s", t="scalar", s=(3,))
    assert e.kind == "vector"
    A = Symbol("A", "matrix", symmetric=True)
    assert parse("A'*x", A=A).text == "A'*x"
    with pytest.raises(ValueError, match="declaration of `x` must be one of"):
        parse("x", x="tensor")
    with pytest.raises(ValueError, match="cannot declare `exp`"):
        parse("x", exp="scalar")
    with pytest.raises(TypeError, match="argument `text` must be a string"):
        parse(3)


@pytest.mark.parametrize(
    "text,pos,words",
    [
        ("tr(A*X", 6, "expected '\\)'"),
        ("x'*A*x +", 8, "unexpected end"),
        ("x $ y", 2, "unexpected character '\\$'"),
        ("A*x*B", 3, "inner sizes must agree"),
        ("x + A", 2, "terms must have equal shapes"),
        ("tr(x)", 0, "needs a square matrix"),
        ("x.^y", 3, "exponent must be a number"),
        ("x/y", 1, "`/` divides by a scalar"),
        ("foo(x)", 0, "unknown function 'foo'"),
        ("exp()", 4, "exp\\(\\) needs an argument"),
        ("exp", 0, "needs an argument"),
        ("x y", 2, "unexpected 'y'"),
        ("", 0, "empty expression"),
        ("x.*A", 1, "equal shapes"),
        ("A^0.5", 1, "integer exponent"),
    ],
)
def test_parse_errors_point_at_the_position(text, pos, words):
    with pytest.raises(ParseError, match=words) as exc:
        parse(text)
    err = exc.value
    assert err.pos == pos
    lines = str(err).splitlines()
    assert lines[0].startswith("jaxmc.symbolic.parse: ")
    assert f"at position {pos}" in lines[0]
    assert lines[1] == "  " + text
    assert lines[2] == "  " + " " * pos + "^"
    assert isinstance(err, ValueError)
