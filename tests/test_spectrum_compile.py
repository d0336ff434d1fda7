"""Compile once: fresh operators at new checkpoints compile no new XLA programs.

Each algorithm is run on a fresh ``hessian_operator`` / ``ggn_operator`` at a
first point (warm-up: its programs compile), then at a second point (new
parameters, new data of the same shapes). The number of XLA compilations
during the second call, counted with JAX's monitoring event, must be zero.
"""

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _programs import count_compiles
from _spectrum_problems import dense_hessian, mlp_problem
from jax.extend import core as jex_core

from jaxmc.spectrum import (
    diagonal,
    eigenvalues,
    ggn_operator,
    hessian_operator,
    input_hessian_operator,
    jacobian_operator,
    kpm_density,
    layer_spectra,
    matrix_operator,
    power_iteration,
    spectral_density,
    trace,
)

N = 24
PARAMS, (X, Y), LOSS, MODEL, XENT = mlp_problem(jnp.float64, n=N, d=3, h=4, c=2)


def checkpoint(i):
    """Parameters and data of the i-th checkpoint: new values, same shapes."""
    params = jax.tree_util.tree_map(lambda p: p * (1.0 + 0.1 * i), PARAMS)
    X_i = X + 0.05 * i * jnp.cos(X)
    return params, (X_i, Y)


def hess(params, data, batch_size):
    return hessian_operator(LOSS, params, data, batch_size=batch_size)


def ggn(params, data, batch_size):
    return ggn_operator(MODEL, XENT, params, data, batch_size=batch_size)


KEY = jax.random.key(0)
ALGORITHMS = {
    "eigenvalues": lambda op: eigenvalues(op, 2, key=KEY).values,
    "power_iteration": lambda op: power_iteration(op, 1, key=KEY, max_iters=5).values,
    "trace": lambda op: trace(op, num_matvecs=6, key=KEY).estimate,
    "diagonal": lambda op: diagonal(op, num_matvecs=3, key=KEY).estimate,
    "spectral_density": lambda op: (
        spectral_density(
            op, key=KEY, num_runs=2, lanczos_steps=5, grid=20, deflate=1
        ).density
    ),
    "kpm_density": lambda op: (
        kpm_density(op, key=KEY, num_moments=6, num_probes=2, grid=20).density
    ),
    "to_dense": lambda op: op.to_dense(),
}


@pytest.mark.parametrize("batch_size", [None, 10], ids=["in_memory", "batched"])
@pytest.mark.parametrize("make", [hess, ggn], ids=["hessian", "ggn"])
def test_no_compilation_after_the_first_checkpoint(make, batch_size):
    results = {}
    for i in range(2):
        params, data = checkpoint(i)
        with count_compiles() as n:
            op = make(params, data, batch_size)
            out = {name: jax.block_until_ready(f(op)) for name, f in ALGORITHMS.items()}
        if i > 0:
            assert n[0] == 0, f"checkpoint {i} compiled {n[0]} programs"
        results[i] = out
    # The results follow the checkpoints (nothing stale was reused).
    params, data = checkpoint(1)
    H = dense_hessian(LOSS, params, data)
    if make is hess:
        np.testing.assert_allclose(results[1]["to_dense"], H, rtol=1e-10, atol=1e-12)
        top = jnp.linalg.eigvalsh(H)[::-1][:2]
        np.testing.assert_allclose(results[1]["eigenvalues"], top, rtol=1e-8)
    assert not np.allclose(results[0]["to_dense"], results[1]["to_dense"])


def test_streamed_operator_compiles_once():
    def batches_of(data):
        return lambda: [
            jax.tree_util.tree_map(lambda x, s=s: x[s : s + 8], data)
            for s in range(0, N, 8)
        ]

    for i in range(2):
        params, data = checkpoint(i)
        with count_compiles() as n:
            op = hessian_operator(LOSS, params, batches_of(data), progress=False)
            vals = eigenvalues(op, 2, key=KEY).values
            est = trace(op, num_matvecs=6, key=KEY).estimate
        if i > 0:
            assert n[0] == 0, f"checkpoint {i} compiled {n[0]} programs"
    top = jnp.linalg.eigvalsh(dense_hessian(LOSS, params, data))[::-1][:2]
    np.testing.assert_allclose(vals, top, rtol=1e-8)
    in_memory = trace(hessian_operator(LOSS, params, data), num_matvecs=6, key=KEY)
    np.testing.assert_allclose(est, in_memory.estimate, rtol=1e-10)


@pytest.mark.parametrize("batch_size", [None, 10, "stream"])
def test_jacobian_operator_compiles_once(batch_size):
    v = jnp.cos(jnp.arange(26.0))
    u = jnp.sin(jnp.arange(2.0 * N))
    for i in range(2):
        params, data = checkpoint(i)
        with count_compiles() as n:
            if batch_size == "stream":
                halves = [jax.tree_util.tree_map(lambda x: x[:16], data)]
                halves.append(jax.tree_util.tree_map(lambda x: x[16:], data))
                op = jacobian_operator(MODEL, params, lambda h=halves: h)
            else:
                op = jacobian_operator(MODEL, params, data, batch_size=batch_size)
            out = {
                "matvec": op.matvec(v),
                "rmatvec": op.rmatvec(u),
                "dense": op.to_dense(),
                "gram": op.gram().matvec(v),
                "sv": op.singular_values(2, key=KEY),
            }
            jax.block_until_ready(out)
        if i > 0:
            assert n[0] == 0, f"checkpoint {i} compiled {n[0]} programs"
    # The results follow the second checkpoint (nothing stale was reused).
    theta, unravel = jax.flatten_util.ravel_pytree(params)
    J = jax.jacobian(lambda t: MODEL(unravel(t), data).reshape(-1))(theta)
    np.testing.assert_allclose(out["dense"], J, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out["matvec"], J @ v, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out["rmatvec"], J.T @ u, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out["gram"], J.T @ (J @ v), rtol=1e-10, atol=1e-12)
    sv = np.linalg.svd(np.asarray(J), compute_uv=False)[:2]
    np.testing.assert_allclose(out["sv"], sv, rtol=1e-7)


def input_loss(p, x):
    return LOSS(p, (x, Y))


def test_layer_spectra_input_hessian_and_matrix_compile_once():
    for i in range(2):
        params, data = checkpoint(i)
        M = jnp.diag(jnp.arange(6.0) + i)
        with count_compiles() as n:
            table = layer_spectra(LOSS, params, data, key=KEY, lanczos_steps=3)
            op_x = input_hessian_operator(input_loss, params, data[0])
            top_x = eigenvalues(op_x, 1, key=KEY).values
            top_m = eigenvalues(matrix_operator(M), 1, key=KEY).values
        if i > 0:
            assert n[0] == 0, f"checkpoint {i} compiled {n[0]} programs"
    np.testing.assert_allclose(top_m, [5.0 + 1], rtol=1e-12)
    assert len(table) == 2 and np.isfinite(table[0].top[0])
    assert float(top_x[0]) > 0.0


def test_warm_start_takes_fewer_matvecs_and_gives_the_same_values():
    from _spectrum_problems import known_spectrum

    vals = np.concatenate([[10.0, 9.0, 8.5, 8.2, 8.0], np.linspace(0.0, 7.9, 95)])
    A = known_spectrum(vals, seed=1)
    E = known_spectrum(np.random.default_rng(2).standard_normal(100), seed=3)
    B = A + 1e-3 * E  # the next checkpoint: a nearby operator
    before = eigenvalues(matrix_operator(A), 5, key=KEY)
    cold = eigenvalues(matrix_operator(B), 5, key=KEY)
    ref = jnp.linalg.eigvalsh(B)[::-1][:5]
    for init in (before, before.vectors, before.vectors[0]):
        warm = eigenvalues(matrix_operator(B), 5, key=KEY, init=init)
        np.testing.assert_allclose(warm.values, ref, rtol=1e-12)
        assert bool(jnp.all(warm.converged))
    warm = eigenvalues(matrix_operator(B), 5, key=KEY, init=before)
    assert int(warm.num_matvecs) < int(cold.num_matvecs)
    np.testing.assert_allclose(cold.values, ref, rtol=1e-12)
    # Pytree vectors (a Hessian's EigenResult) warm-start a Hessian operator.
    params, data = checkpoint(0)
    r0 = eigenvalues(hess(params, data, None), 2, key=KEY)
    params, data = checkpoint(1)
    r1 = eigenvalues(hess(params, data, None), 2, key=KEY, init=r0)
    top = jnp.linalg.eigvalsh(dense_hessian(LOSS, params, data))[::-1][:2]
    np.testing.assert_allclose(r1.values, top, rtol=1e-8)
    with pytest.raises(ValueError, match=r"eigenvalues: argument `init` must"):
        eigenvalues(matrix_operator(B), 5, key=KEY, init=jnp.ones((2, 7)))


def test_warm_starts_reuse_the_cold_checkpoints_program():
    # tracking along training: the first checkpoint has no init, the later
    # ones start from the previous result; one solve program serves both
    # (the start vector is an argument), and the warm start's sum of the
    # previous vectors is one small program, compiled once. (k and tol that
    # no other test uses: the first checkpoint compiles here.)
    solve = functools.partial(eigenvalues, k=3, key=KEY, tol=2e-8)
    counts, names, results = [], [], []
    prev = None
    for i in range(3):
        params, data = checkpoint(i)
        with count_compiles() as n:
            prev = solve(hess(params, data, None), init=prev)
            jax.block_until_ready(prev.values)
        counts.append(n[0])
        names.append(n.names)
        results.append((params, data, prev))
    assert counts[0] >= 1 and counts[1:] == [1, 0], names
    assert names[1] == ["jit(_unit_sum)"], names
    for params, data, res in results:
        top = jnp.linalg.eigvalsh(dense_hessian(LOSS, params, data))[::-1][:3]
        np.testing.assert_allclose(res.values, top, rtol=1e-7)
    # a cold start is the plain Gaussian start: the values do not depend on
    # whether the solve could have been warm-started
    cold = solve(hess(*checkpoint(2), None))
    np.testing.assert_allclose(cold.values, results[2][2].values, rtol=1e-10)


@pytest.fixture
def user_options(monkeypatch):
    """jaxmc's own compile options, as a user gets them (not the suite's flags).

    The suite compiles at LLVM level 0 (tests/conftest.py), where two
    different programs need not round alike; a user's small programs compile
    at level 1 (jaxmc/_xla.py). Yields the options, for the user's jax.jit.
    """
    from jaxmc import _xla

    monkeypatch.delenv("XLA_FLAGS", raising=False)
    monkeypatch.setattr(_xla, "_dropped", set())
    monkeypatch.setattr(_xla, "_KEYS", {})
    return _xla.options(small=True)


@pytest.mark.parametrize("case", ["distinct", "repeated", "rank_deficient"])
def test_eager_solve_compiles_the_complement_search_only_when_it_runs(
    case, user_options
):
    """Issue 12: the first eager call compiles the search only when needed.

    ``eigenvalues(op, k)`` for one end of the spectrum runs the restart loop
    and the explicit residuals as one program and the complement search (for
    repeated wanted values or an invariant subspace) as a second one, only
    when the first finds it is needed. Either way the result equals the
    one-program solve that ``jax.jit`` compiles, to the last bit here (with
    the compile options a user's programs get), with the same matvec count.
    """
    from _spectrum_problems import known_spectrum

    from jaxmc.spectrum import _eigen

    # a size of its own per case: no other test compiles these programs
    n = {"distinct": 41, "repeated": 42, "rank_deficient": 43}[case]
    k = 4
    spectra = {
        "distinct": np.linspace(-2.0, 7.0, n),
        "repeated": np.r_[5.0, 5.0, 5.0, 4.0, np.linspace(-1.0, 1.0, n - 4)],
        "rank_deficient": np.r_[-3.0, 2.0, np.zeros(n - 2)],
    }
    which = "largest_magnitude" if case == "rank_deficient" else "largest"
    searched = case != "distinct"
    A = known_spectrum(spectra[case], seed=4)
    cores = []
    real = _eigen._loops.call_compiled

    def spy(core, *args, **static):
        cores.append(core.__name__)
        return real(core, *args, **static)

    B = A * 1.5
    _eigen._loops.call_compiled = spy
    try:
        with count_compiles() as n_first:
            eager = eigenvalues(matrix_operator(A), k, which=which, key=KEY)
        with count_compiles() as n_again:  # a fresh operator, same shapes
            again = eigenvalues(matrix_operator(B), k, which=which, key=KEY)
    finally:
        _eigen._loops.call_compiled = real
    wanted = ["_eigen_core", "_eigen_resume_core"] if searched else ["_eigen_core"]
    assert cores == 2 * wanted
    assert n_first[0] == len(wanted) and n_again[0] == 0
    whole = jax.jit(
        lambda M: eigenvalues(matrix_operator(M), k, which=which, key=KEY),
        compiler_options=user_options,
    )(A)
    for name in ("values", "vectors", "residuals", "converged", "num_matvecs"):
        np.testing.assert_array_equal(getattr(eager, name), getattr(whole, name))
    assert int(eager.reason) == int(whole.reason) == 0
    ref = np.linalg.eigvalsh(np.asarray(A))
    ref = ref[np.argsort(-np.abs(ref) if which == "largest_magnitude" else -ref)][:k]
    np.testing.assert_allclose(eager.values, ref, atol=1e-12)
    np.testing.assert_allclose(again.values, 1.5 * ref, atol=1e-12)


def _matvec_sites(jaxpr, n):
    """The products with an ``(n, n)`` matrix anywhere in ``jaxpr`` (sub-jaxprs too)."""
    found = 0
    for eqn in jaxpr.eqns:
        shapes = [getattr(v.aval, "shape", None) for v in eqn.invars]
        found += eqn.primitive.name == "dot_general" and (n, n) in shapes
        for sub in jex_core.jaxprs_in_params(eqn.params):
            found += _matvec_sites(getattr(sub, "jaxpr", sub), n)
    return found


@pytest.mark.parametrize("which", ["largest", "both"])
def test_a_solve_without_search_holds_one_copy_of_the_matvec(which):
    """Issue 12: the first eager program has one matvec site, not two.

    Each copy of the operator's matvec in a program is compiled again (for a
    Hessian, its whole linearised network). A solve whose program runs no
    complement search (the first program of an eager one-end solve, or
    ``check_multiplicity=False``) computes its explicit residuals in the
    restart loop's own step; a program with the search holds the search's
    loop, and with it a second copy.
    """
    from jaxmc.spectrum import _eigen

    n, k = 50, 3  # above the basis sizes (27 and 30): only A is (n, n)
    op = matrix_operator(jnp.diag(jnp.linspace(-2.0, 7.0, n)))
    static = _eigen.eigen_options("t", n, op.dtype, k, which, None, None, None)

    def sites(**options):
        jaxpr = jax.make_jaxpr(
            lambda d, key: _eigen._eigen_core(
                op.factory, d, key, jnp.zeros(n), **options, **static
            )
        )(op.dynamic, KEY)
        return _matvec_sites(jaxpr.jaxpr, n)

    if which == "largest":
        assert sites(stage="first", check_multiplicity=None) == 1
    assert sites(check_multiplicity=False) == 1
    assert sites(check_multiplicity=True) == 2


def test_fresh_operator_solve_traces_nothing_in_python():
    """Issue 12: a checkpoint's solve costs its matvecs, not a Python trace.

    The operator's output check (an abstract evaluation of the matvec, which
    for a Hessian traced the loss's linearisation; a Hessian's compiled
    solves now skip it, see the next test) runs once per factory and abstract
    arrays, as the compiled programs are keyed: along training, a fresh
    operator's ``eigenvalues`` neither compiles nor traces the loss.
    """
    traces = [0]

    def counted_loss(params, batch):
        traces[0] += 1
        return LOSS(params, batch)

    for i in range(3):
        params, data = checkpoint(i)
        op = hessian_operator(counted_loss, params, data)
        before = traces[0]
        with count_compiles() as n:
            res = eigenvalues(op, 2, key=KEY)
        if i > 0:
            assert traces[0] == before, f"checkpoint {i} traced the loss"
            assert n[0] == 0
        else:
            assert traces[0] > before  # the first call traces and compiles
        top = jnp.linalg.eigvalsh(dense_hessian(LOSS, params, data))[::-1][:2]
        np.testing.assert_allclose(res.values, top, rtol=1e-8)


@pytest.mark.filterwarnings("ignore::UserWarning")  # small budgets: unconverged
@pytest.mark.parametrize("make", [hess, ggn], ids=["hessian", "ggn"])
def test_first_call_traces_the_loss_once(make):
    """A Hessian's or GGN's first solve traces its loss once: in the solve.

    Their matvec maps (P,) to (P,) by construction (the constructor checks
    the loss), so the algorithms skip the abstract check of the matvec,
    which traced the loss's linearisation a second time (54 ms of the
    benchmark MLP's first checkpoint); it runs only to explain a failure.
    """
    calls = []
    # 51 parameters: a solve of the top 2 does not exhaust its Krylov space
    # (which would trace the matvec again, for the complement search)
    params, data, _, model, xent = mlp_problem()

    def counted_xent(outputs, batch):
        calls.append(1)
        return xent(outputs, batch)

    def counted_loss(params, batch):
        return counted_xent(model(params, batch), batch)

    for name, f in ALGORITHMS.items():
        if name == "to_dense":
            continue
        if make is hess:
            op = hessian_operator(counted_loss, params, data)
        else:
            op = ggn_operator(model, counted_xent, params, data)
        before = len(calls)
        f(op)
        assert len(calls) - before == 1, name


def _matrix_vector_products(text):
    """The matrix-vector ``dot_general``s of a lowered (StableHLO) module."""
    count = 0
    for line in text.splitlines():
        if "stablehlo.dot_general" in line:
            shapes = re.findall(r"tensor<((?:\d+x)*)f64>", line.split(" : ")[-1])
            count += sorted(s.count("x") for s in shapes[:2]) == [1, 2]
    return count


def test_eigensolver_holds_one_copy_of_each_gram_schmidt_product():
    """On the CPU each matrix-vector product compiles to its own unrolled
    kernel (about 40 ms each), so the Gram-Schmidt passes run in a loop: the
    whole solve (under jit, complement search included) holds 12, one pair
    per call site of ``orthogonalise`` (restart loop, search loop, and the
    projection against the found vectors at three places) and the matrix
    operator's own product in the two loops that call it (26 when the passes
    and the fresh direction after a breakdown were written out)."""
    A = jnp.diag(jnp.arange(40.0))
    solve = jax.jit(lambda A: eigenvalues(matrix_operator(A), 3, key=KEY).values)
    assert _matrix_vector_products(solve.lower(A).as_text()) == 12
    np.testing.assert_allclose(solve(A), [39.0, 38.0, 37.0], rtol=1e-12)
