"""Programs with host callbacks run from the host (``jaxmc.spectrum._hosted``).

The streamed operators' solves run this way; here the interpreter itself is
checked on a program with a callback inside every construct it runs as a
Python loop (a ``fori_loop``, a ``while_loop``, a ``scan`` with stacked
outputs, both branches of a ``cond``, a nested ``jit``) against the same
program compiled whole, callbacks inside it.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _programs import count_compiles

from jaxmc.spectrum import _hosted

CALLS = []


def _host(x):
    CALLS.append(_hosted.from_host())
    return np.tanh(np.asarray(x)) + 1.0


def _cb(x):
    return jax.pure_callback(_host, jax.ShapeDtypeStruct(x.shape, x.dtype), x)


@functools.partial(jax.jit, static_argnums=0)
def program(scale, x, xs, flag):
    y = jax.lax.fori_loop(0, 3, lambda i, v: 0.5 * _cb(v) + i, x * scale)
    y = jax.lax.while_loop(lambda c: c[0] < 2, lambda c: (c[0] + 1, _cb(c[1])), (0, y))[
        1
    ]

    def step(c, row):
        out = _cb(c + row)
        return out * 0.25, out.sum()

    y, sums = jax.lax.scan(step, y, xs)
    y = jax.lax.cond(flag, lambda v: _cb(v) * 2.0, lambda v: v - 1.0, y)
    y = jax.jit(lambda v: _cb(v) + 3.0)(y)
    return {"y": y, "sums": sums}


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("flag", [True, False])
def test_host_run_equals_the_compiled_program(dtype, flag):
    with jax.enable_x64(dtype == jnp.float64):
        x = jnp.linspace(-1.0, 1.0, 5, dtype=dtype)
        xs = jnp.arange(15, dtype=dtype).reshape(3, 5) / 10
        CALLS.clear()
        want = program(2, x, xs, flag)
        assert CALLS and not any(CALLS)  # inside the compiled program
        CALLS.clear()
        got = _hosted.call(program, 2, x, xs, flag)
        # 3 + 2 + 3 + (1 if flag) + 1 callbacks, each from the host
        assert CALLS == [True] * (9 + flag)
        assert got["y"].dtype == dtype and got["sums"].shape == (3,)
        tol = 1e-6 if dtype == jnp.float32 else 1e-14
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=tol, atol=tol)
        # a second run (new values, same shapes) compiles nothing
        x1 = x + 1
        with count_compiles() as n:
            again = _hosted.call(program, 2, x1, xs, flag)
        assert n[0] == 0
        np.testing.assert_allclose(
            again["y"], program(2, x1, xs, flag)["y"], rtol=tol, atol=tol
        )


def test_programs_without_callbacks_and_traced_calls_run_compiled():
    f = jax.jit(lambda s, x: x * s, static_argnums=0)
    np.testing.assert_allclose(_hosted.call(f, 3, jnp.ones(2)), [3.0, 3.0])
    CALLS.clear()
    out = jax.jit(lambda x: _hosted.call(program, 1, x, jnp.ones((2, 4)), True)["y"])(
        jnp.zeros(4)
    )
    assert out.shape == (4,) and CALLS and not any(CALLS)


@jax.jit
def counted_loops(x, lo, hi):
    # a fori_loop with traced bounds is a `while` counting up to a bound
    # carried unchanged; the other three loops only look like one
    y = jax.lax.fori_loop(lo, hi, lambda i, v: 0.5 * _cb(v) + i, x)
    y = jax.lax.while_loop(
        lambda c: c[0] < 4, lambda c: (c[0] + 2, _cb(c[1])), (lo, y)
    )[1]
    y = jax.lax.while_loop(
        lambda c: c[0] < c[2], lambda c: (c[0] + 1, _cb(c[1]), c[2] - 1), (lo, y, hi)
    )[1]
    # a float counter: 0, 1, 2 < 2.5 is 3 trips, not int(2.5) - 0
    y = jax.lax.while_loop(
        lambda c: c[0] < 2.5, lambda c: (c[0] + 1, _cb(c[1])), (jnp.zeros(()), y)
    )[1]
    return y


@pytest.mark.parametrize(("lo", "hi"), [(0, 3), (2, 7), (5, 5), (6, 1), (-2, 1)])
def test_fori_loops_run_their_trip_count_without_reading_the_condition(
    lo, hi, monkeypatch
):
    jaxpr = counted_loops.trace(jnp.ones(3), 0, 0).jaxpr.jaxpr
    whiles = [e for e in jaxpr.eqns if e.primitive.name == "while"]
    counted = [_hosted._counted(e) is not None for e in whiles]
    assert counted == [True, False, False, False]
    x = jnp.linspace(-1.0, 1.0, 3)
    want = counted_loops(x, lo, hi)
    conds = {id(_hosted._sub(e.params["cond_jaxpr"])): 0 for e in whiles}
    closed = _hosted._closed

    def counting(j, args):
        if id(_hosted._sub(j)) in conds:
            conds[id(_hosted._sub(j))] += 1
        return closed(j, args)

    monkeypatch.setattr(_hosted, "_closed", counting)
    CALLS.clear()
    run = jax.jit(lambda _, *a: counted_loops(*a), static_argnums=0)
    got = _hosted.call(run, None, x, lo, hi)
    # the fori_loop's condition is never evaluated; the others' once a trip
    # and once more at the end
    second = len(range(lo, 4, 2))
    third = max(0, (hi - lo + 1) // 2)
    assert list(conds.values()) == [0, second + 1, third + 1, 3 + 1]
    trips = max(0, hi - lo) + second + third + 3
    assert CALLS == [True] * trips
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-14)
