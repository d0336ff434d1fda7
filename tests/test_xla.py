"""jaxmc's compile options (jaxmc/_xla.py): set on top-level CPU calls only.

The suite runs with ``--xla_cpu_use_fusion_emitters=false`` and
``--xla_backend_optimization_level=0`` in ``XLA_FLAGS`` (tests/conftest.py),
options :func:`jaxmc._xla.options` leaves to XLA; these tests take the flags
out of the environment jaxmc reads, so jaxmc sets its options itself, as it
does for a user.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _programs import count_compiles

from jaxmc import _xla
from jaxmc.spectrum import eigenvalues, hessian_operator


@pytest.fixture
def no_flags(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    monkeypatch.setattr(_xla, "_dropped", set())
    monkeypatch.setattr(_xla, "_KEYS", {})


def f(x, y):
    return jnp.sin(x) * y + jnp.tanh(x @ x)


X = jnp.linspace(-1.0, 1.0, 6)


LEVEL_1 = ("xla_backend_optimization_level", 1)
EMITTERS = ("xla_cpu_use_fusion_emitters", False)


def test_options_on_the_cpu_unless_xla_flags_name_them(no_flags, monkeypatch):
    assert jax.default_backend() == "cpu"
    assert _xla.options() == dict([EMITTERS])
    assert _xla.options(small=True) == dict([LEVEL_1, EMITTERS])
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_fusion_emitters=true")
    assert _xla.options() == {}
    assert _xla.options(small=True) == dict([LEVEL_1])
    monkeypatch.setenv("XLA_FLAGS", "--xla_backend_optimization_level=3")
    assert _xla.options(small=True) == dict([EMITTERS])


def test_top_level_calls_compile_with_the_options_once(no_flags):
    g = _xla.jit(f, static_argnums=1)
    Y = jax.block_until_ready(X + 1.0)
    with count_compiles() as n:
        out = g(X, 2.0)
        again = g(Y, 2.0)
    assert n[0] == 1  # one program, reused
    assert list(g._with) == [(LEVEL_1, EMITTERS)]
    np.testing.assert_allclose(out, f(X, 2.0), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(again, f(Y, 2.0), rtol=1e-14, atol=1e-15)


def test_large_arguments_compile_at_xla_default_level(no_flags, monkeypatch):
    # level 1 only while the array arguments hold at most SMALL_ELEMENTS
    # numbers in all (X: 6, X[:3]: 3); static arguments do not count
    monkeypatch.setattr(_xla, "SMALL_ELEMENTS", 5)
    g = _xla.jit(f, static_argnums=1)
    head, tail = jax.block_until_ready((X[:3], X[3:]))
    with count_compiles() as n:
        large = g(X, 2.0)
        small = g(head, 2.0)
        g(tail, 2.0)  # small again: no new program
    assert n[0] == 2
    assert list(g._with) == [(EMITTERS,), (LEVEL_1, EMITTERS)]
    np.testing.assert_allclose(large, f(X, 2.0), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(small, f(head, 2.0), rtol=1e-14, atol=1e-15)
    assert _xla._is_small(({"a": np.ones(3)}, [jnp.ones(2)]))
    assert not _xla._is_small(({"a": np.ones(3)}, [jnp.ones(3)]))


@pytest.mark.parametrize(
    "transform, batched",
    [
        (lambda g: jax.jit(lambda x: g(x, 2.0)), False),
        (lambda g: jax.grad(lambda x: g(x, 2.0).sum()), False),
        (lambda g: jax.vmap(lambda x: g(x, 2.0)), True),
        (lambda g: jax.jit(jax.grad(lambda x: g(x, 2.0).sum())), False),
    ],
    ids=["jit", "grad", "vmap", "jit-grad"],
)
def test_inside_transformations_it_is_a_plain_jit(no_flags, transform, batched):
    # JAX refuses compile options on a jit nested in a traced program (and
    # under grad); there the program is the enclosing one's.
    g = _xla.jit(f, static_argnums=1)
    x = jnp.stack([X, 2 * X]) if batched else X
    got = transform(g)(x)
    want = transform(jax.jit(f, static_argnums=1))(x)
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)
    assert not g._with


def test_an_option_xla_refuses_is_dropped(no_flags, monkeypatch):
    monkeypatch.setattr(_xla, "CPU_OPTIONS", {"xla_cpu_no_such_option": False})
    monkeypatch.setattr(_xla, "SMALL_CPU_OPTIONS", {})
    g = _xla.jit(f, static_argnums=1)
    np.testing.assert_allclose(g(X, 2.0), f(X, 2.0), rtol=1e-14, atol=1e-15)
    assert _xla._dropped == {"xla_cpu_no_such_option"}
    assert _xla.options() == {}
    np.testing.assert_allclose(g(X, 3.0), f(X, 3.0), rtol=1e-14, atol=1e-15)


def test_other_errors_are_not_swallowed(no_flags):
    g = _xla.jit(lambda x: x @ x, static_argnums=())
    with pytest.raises(TypeError, match="dot_general"):
        g(jnp.ones((2, 3)))
    assert not _xla._dropped


def test_eigenvalues_with_the_options_match_dense(no_flags):
    k1, k2 = jax.random.split(jax.random.key(3))
    W = jax.random.normal(k1, (5, 4))
    data = jax.random.normal(k2, (12, 5))

    def loss(w, x):
        return jnp.mean(jnp.tanh(x @ w) ** 2)

    op = hessian_operator(loss, W, data)
    res = eigenvalues(op, 3, key=jax.random.key(0))
    H = jax.hessian(loss)(W, data).reshape(20, 20)
    np.testing.assert_allclose(res.values, jnp.linalg.eigvalsh(H)[::-1][:3], rtol=1e-9)
    assert bool(res.converged.all())
