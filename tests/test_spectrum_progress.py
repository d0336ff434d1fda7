"""Solve-level progress: one bar per solve of a streamed operator, not per matvec."""

import re

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
from _programs import count_compiles
from _spectrum_problems import mlp_problem

from jaxmc.spectrum import eigenvalues, hessian_operator, trace

PARAMS, (X, Y), LOSS, *_ = mlp_problem(jnp.float64, n=24, d=3, h=4, c=2)
BATCHES = [(X[i : i + 8], Y[i : i + 8]) for i in range(0, 24, 8)]


def streamed(progress=True):
    return hessian_operator(LOSS, PARAMS, lambda: BATCHES, progress=progress)


def bars(err):
    """The final state of each tqdm bar in ``err`` (carriage-return updates)."""
    lines = [seg for line in err.split("\n") for seg in line.split("\r") if seg]
    return lines


def final_count(lines, name):
    """The last ``name: ... N/M`` or ``N matvec`` count drawn for the bar."""
    counts = []
    for seg in lines:
        if seg.startswith(name):
            m = re.search(r"\|\s*(\d+)/(\d+)|\s(\d+)matvec", seg)
            if m:
                counts.append(int(m.group(1) or m.group(3)))
    return counts[-1] if counts else None


def check_bar(err, name, total, budget=None):
    """One solve bar named ``name`` ending at ``total``, no per-matvec bars."""
    lines = bars(err)
    assert not any("HessianOperator matvec" in s for s in lines), err[-2000:]
    assert final_count(lines, name) == total, err[-2000:]
    if budget is not None:
        assert total <= budget and f"{total}/{budget}" in err, err[-2000:]
        assert re.search(r"residual=\d\.\d\de[-+]\d\d", err), err[-2000:]


def test_one_bar_per_solve_eager_and_jit_with_count_and_residual(capsys):
    key = jax.random.key(0)

    def solve(o):
        # a small basis, so that the solve restarts: 26 parameters, 8 vectors
        return eigenvalues(o, 2, key=key, krylov_dim=8, max_matvecs=60)

    res = solve(streamed())
    check_bar(capsys.readouterr().err, "eigenvalues", int(res.num_matvecs), 60)
    # the values are the dense Hessian's
    theta, unravel = jax.flatten_util.ravel_pytree(PARAMS)
    dense = jax.hessian(lambda t: LOSS(unravel(t), (X, Y)))(theta)
    top = jnp.linalg.eigvalsh(dense)[::-1][:2]
    np.testing.assert_allclose(res.values, top, rtol=1e-8)
    # a fresh operator with the same factory: no new program, a fresh bar
    with count_compiles() as n:
        again = solve(streamed())
    assert n[0] == 0
    check_bar(capsys.readouterr().err, "eigenvalues", int(again.num_matvecs), 60)
    # under jit: the same bar, from the compiled restart loop
    op = streamed()
    jitted = jax.jit(lambda: solve(op))()
    check_bar(capsys.readouterr().err, "eigenvalues", int(jitted.num_matvecs), 60)
    np.testing.assert_allclose(jitted.values, res.values, rtol=1e-12)
    # a lone matvec outside a solve keeps its bar over the batches
    op.matvec(jnp.ones(op.size))
    assert "HessianOperator matvec" in capsys.readouterr().err
    # algorithms without a budget count their matvecs
    est = trace(streamed(), num_matvecs=4, key=key)
    check_bar(capsys.readouterr().err, "trace", 4)
    assert np.isfinite(float(est.estimate))
