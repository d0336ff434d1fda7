"""Tests for jaxmc.cost: the cost report, mode choice, blocked Hessians/Jacobians."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tol

import jaxmc
from jaxmc import _compiled
from jaxmc.cost import MODES, choose_mode, cost_report, dense_jacobian, hessian


def rand(seed, shape, dtype=jnp.float64):
    return jax.random.normal(jax.random.key(seed), shape, dtype=dtype)


def scalar_f(x):
    """A scalar function with a dense, non-trivial Hessian."""
    return jnp.sum(jnp.sin(x) ** 2) + x @ jnp.tanh(jnp.outer(x, x)) @ x


def compiled_peak(g, *args):
    return _compiled.analyse(g, args).peak_bytes


# ----------------------------------------------------------------- cost_report


@pytest.fixture(scope="module")
def scalar_report():
    return cost_report(scalar_f, rand(0, (40,)), repeats=2)


def test_report_has_every_row_with_positive_figures(scalar_report):
    r = scalar_report
    assert r.modes == MODES
    assert r.in_shape == (40,) and r.out_shape == ()
    for row in r.rows:
        assert row.compile_s > 0 and row.time_s > 0
        # XLA's CPU backend provides both analyses: present and positive.
        assert row.flops is not None and row.flops > 0, row
        assert row.bytes_accessed is not None and row.bytes_accessed > 0, row
        assert row.temp_bytes is not None and row.temp_bytes >= 0
        assert row.peak_bytes is not None and row.peak_bytes > 0


def test_report_ratios_are_consistent(scalar_report):
    r = scalar_report
    f = r.row("f")
    for row in r.rows:
        for field in ("flops", "bytes_accessed", "compile_s", "time_s"):
            np.testing.assert_allclose(
                r.ratio(row.mode, field), getattr(row, field) / getattr(f, field)
            )
    assert r.ratio("f", "flops") == 1.0
    # The cheap-gradient principle: grad costs a small multiple of f ...
    assert 1.0 <= r.ratio("grad", "flops") <= 10.0
    assert r.ratio("hvp", "flops") <= 30.0
    # ... and jacrev of a scalar f is a gradient, while jacfwd needs n JVPs.
    assert r.ratio("jacrev", "flops") <= 10.0
    assert r.row("jacfwd").flops > 5 * r.row("jacrev").flops
    # The dense Hessian needs n HVPs: far more than one HVP.
    assert r.row("hessian_fwd_rev").flops > 10 * r.row("hvp").flops


def test_report_prints_and_serialises(scalar_report):
    text = str(scalar_report)
    for mode in MODES:
        assert mode in text
    assert "FLOPs" in text and "(x f)" in text
    d = scalar_report.to_dict()
    assert [row["mode"] for row in d["rows"]] == list(MODES)
    assert d["rows"][0]["ratios"]["flops"] == 1.0
    assert d["in_shape"] == [40] and d["out_shape"] == []
    assert "CostReport(" in repr(scalar_report)


def test_report_skips_scalar_only_modes_for_vector_f():
    r = cost_report(lambda x: jnp.tanh(x[:3]) * x[3], rand(1, (6,)), repeats=1)
    assert r.modes == ("f", "jvp", "vjp", "jacfwd", "jacrev")
    assert len(r.notes) == 5
    assert all("needs a scalar f" in n for n in r.notes)
    assert "note: grad skipped" in str(r)


def test_report_mode_subset_and_argnums():
    A = rand(2, (3, 4))
    r = cost_report(
        lambda A, x: jnp.sum((A @ x) ** 2),
        A,
        rand(3, (4,)),
        argnums=1,
        modes=["grad", "hvp"],
        repeats=1,
    )
    assert r.modes == ("f", "grad", "hvp") and r.in_shape == (4,)


def test_report_is_best_effort_when_xla_gives_nothing(monkeypatch):
    import jaxmc.cost as cost

    monkeypatch.setattr(cost, "cost_figures", lambda c: (None, None))
    monkeypatch.setattr(cost, "memory_figures", lambda c: (None, None))
    r = cost_report(lambda x: jnp.sum(x**2), jnp.ones(5), modes=["grad"], repeats=1)
    assert r.row("grad").flops is None and r.ratio("grad", "flops") is None
    assert r.ratio("grad", "time_s") > 0  # timing still stands
    assert "n/a" in str(r)
    assert any("no FLOPs" in n for n in r.notes)
    assert r.to_dict()["rows"][1]["ratios"]["flops"] is None


class _Fake:
    def __init__(self, cost=None, mem=None, raise_=False):
        self._cost, self._mem, self._raise = cost, mem, raise_

    def cost_analysis(self):
        if self._raise:
            raise RuntimeError("not on this backend")
        return self._cost

    def memory_analysis(self):
        if self._raise:
            raise NotImplementedError
        return self._mem


class _Mem:
    argument_size_in_bytes = 8
    output_size_in_bytes = 16
    temp_size_in_bytes = 100
    alias_size_in_bytes = 0


@pytest.mark.parametrize(
    ("cost", "expected"),
    [
        ({"flops": 10.0, "bytes accessed": 20.0}, (10.0, 20.0)),
        ([{"flops": 10.0, "bytes accessed": 20.0}, {"flops": 1.0}], (11.0, None)),
        ({"flops": -1.0, "bytes accessed": 5.0}, (None, 5.0)),
        ({}, (None, None)),
        (None, (None, None)),
        ([], (None, None)),
        ("garbage", (None, None)),
    ],
)
def test_cost_figures_handle_every_shape_of_answer(cost, expected):
    assert _compiled.cost_figures(_Fake(cost=cost)) == expected


def test_analysis_readers_never_raise():
    assert _compiled.cost_figures(_Fake(raise_=True)) == (None, None)
    assert _compiled.memory_figures(_Fake(raise_=True)) == (None, None)
    assert _compiled.memory_figures(_Fake(mem=None)) == (None, None)
    assert _compiled.memory_figures(_Fake(mem=_Mem())) == (100, 124)
    assert _compiled.memory_figures(_Fake(mem=[_Mem()])) == (100, 124)

    class Unknown(_Mem):
        temp_size_in_bytes = -1

    assert _compiled.memory_figures(_Fake(mem=Unknown())) == (None, None)


# ----------------------------------------------------------------- choose_mode


def wide(x):  # R^2000 -> R^4
    return jnp.tanh(jnp.reshape(x, (4, 500))) @ jnp.ones(500)


def tall(x):  # R^4 -> R^2000
    return jnp.sin(jnp.outer(jnp.arange(500.0), x)).reshape(-1)


@pytest.mark.parametrize(
    ("f", "n", "expected"), [(wide, 2000, "reverse"), (tall, 4, "forward")]
)
@pytest.mark.parametrize("refine", [False, True])
def test_choose_mode_agrees_with_the_cheaper_mode_in_clear_cases(
    f, n, expected, refine
):
    x = rand(4, (n,))
    assert choose_mode(f, x, refine=refine) == expected
    # The decision matches XLA's own count of the two dense Jacobians' FLOPs.
    flops = {
        mode: _compiled.analyse(prog, [x]).flops
        for mode, prog in (("forward", jax.jacfwd(f)), ("reverse", jax.jacrev(f)))
    }
    assert min(flops, key=flops.get) == expected


def test_choose_mode_refines_close_cases_and_works_under_jit():
    f = lambda x: jnp.tanh(jnp.outer(x, x)[:, :5]).reshape(-1)  # noqa: E731
    x = rand(5, (6,))
    assert choose_mode(f, x, refine=True) in ("forward", "reverse")

    @jax.jit
    def g(x):
        mode = choose_mode(f, x, refine=True)  # traced: refines by FLOPs
        return jnp.where(mode == "forward", 1.0, 0.0) * jnp.sum(x)

    assert np.isfinite(float(g(x)))
    spec = jax.ShapeDtypeStruct((3,), jnp.float32)
    assert choose_mode(lambda x: jnp.sum(x), spec) == "reverse"
    assert choose_mode(
        lambda A, x: A @ x, rand(6, (9, 2)), rand(7, (2,)), argnums=1
    ) == ("forward")


# --------------------------------------------------------------------- hessian


@pytest.mark.parametrize("mode", ["fwd-rev", "rev-fwd", "rev-rev"])
@pytest.mark.parametrize("chunk_size", [None, 1, 3, 7])
def test_hessian_equals_jax_hessian(mode, chunk_size, transform):
    x = rand(8, (7,))
    got = transform(hessian(scalar_f, mode=mode, chunk_size=chunk_size))(x)
    rtol, atol = tol(jnp.float64)
    np.testing.assert_allclose(got, jax.hessian(scalar_f)(x), rtol=rtol, atol=atol)


def test_hessian_of_matrix_argument_with_argnums(transform):
    A = rand(9, (3, 4))
    B = rand(10, (4, 3))

    def f(B, X):
        return jnp.trace(X @ B @ X @ B) + jnp.sum(jnp.cos(X))

    got = transform(jaxmc.hessian(f, argnums=1, chunk_size=5))(B, A)
    want = jax.hessian(f, argnums=1)(B, A)
    assert got.shape == (3, 4, 3, 4)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_hessian_float32_and_closed_form():
    A = rand(11, (5, 5), jnp.float32)
    x = rand(12, (5,), jnp.float32)
    H = hessian(lambda x: x @ A @ x, mode="rev-rev", chunk_size=2)(x)
    assert H.dtype == jnp.float32
    rtol, atol = tol(jnp.float32)
    np.testing.assert_allclose(H, A + A.T, rtol=rtol, atol=10 * atol)


def test_hessian_respects_memory_limit_where_jax_hessian_exceeds_it():
    n = 40
    x, A = rand(13, (n,)), rand(14, (n, n))

    def f(x, A):
        return jnp.sum(jnp.tanh(A @ x) ** 2)

    H_bytes, arg_bytes = n * n * 8, (n * n + n) * 8
    limit = 2 * H_bytes + arg_bytes  # the result twice over, plus the inputs
    full = compiled_peak(jax.hessian(f), x, A)
    assert full > limit  # jax.hessian would need more than the limit
    h = hessian(f, memory_limit=limit)
    peak = compiled_peak(h, x, A)  # compiling h chooses the chunk on the way
    assert peak <= limit
    np.testing.assert_allclose(h(x, A), jax.hessian(f)(x, A), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(jax.jit(h)(x, A), h(x, A), rtol=1e-12, atol=1e-12)


def test_hessian_memory_limit_under_jit_with_a_closure():
    A = rand(20, (3, 3))

    @jax.jit
    def g(A):
        return hessian(lambda x: x @ A @ x, memory_limit=10**6)(jnp.ones(3))

    np.testing.assert_allclose(g(A), A + A.T, rtol=1e-12, atol=1e-12)


def test_hessian_memory_limit_too_small_is_a_clear_error():
    with pytest.raises(ValueError, match=r"jaxmc.hessian: memory_limit=1000 bytes"):
        hessian(scalar_f, memory_limit=1000)(rand(14, (30,)))


# -------------------------------------------------------------- dense_jacobian


@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("chunk_size", [None, 1, 4])
def test_dense_jacobian_equals_jacfwd(mode, chunk_size, transform):
    X = rand(15, (3, 2))

    def f(X):
        return jnp.tanh(X @ X.T)[:, :2] * 2.0

    got = transform(dense_jacobian(f, mode=mode, chunk_size=chunk_size))(X)
    assert got.shape == (3, 2, 3, 2)
    np.testing.assert_allclose(got, jax.jacfwd(f)(X), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_dense_jacobian_memory_limit(mode):
    x = rand(16, (40,))

    def f(x):
        return jnp.tanh(jnp.outer(x, x)) @ x

    full = compiled_peak(jax.jacfwd(f) if mode == "forward" else jax.jacrev(f), x)
    limit = 40 * 40 * 8 + (full - 40 * 40 * 8) // 4
    jac = dense_jacobian(f, mode=mode, memory_limit=limit)
    assert compiled_peak(jac, x) <= limit
    np.testing.assert_allclose(jac(x), jax.jacfwd(f)(x), rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ bad inputs


def test_bad_inputs():
    x = jnp.ones(4)
    with pytest.raises(ValueError, match=r"jaxmc.hessian: .* scalar"):
        hessian(lambda x: x**2)(x)
    with pytest.raises(ValueError, match=r"jaxmc.hessian: argument `mode`"):
        hessian(scalar_f, mode="forward")
    with pytest.raises(ValueError, match=r"`chunk_size` or `memory_limit`, not both"):
        hessian(scalar_f, chunk_size=2, memory_limit=10**6)
    with pytest.raises(ValueError, match=r"`chunk_size` must be an int >= 1; got 0"):
        hessian(scalar_f, chunk_size=0)
    with pytest.raises(TypeError, match=r"`memory_limit` must be an int"):
        hessian(scalar_f, memory_limit=1.5e6)
    with pytest.raises(TypeError, match=r"`argnums` must be a single int"):
        hessian(scalar_f, argnums=(0, 1))
    with pytest.raises(ValueError, match=r"argnums=2 but the function was called"):
        hessian(scalar_f, argnums=2)(x)
    with pytest.raises(TypeError, match=r"`args\[0\]` must have a floating dtype"):
        hessian(lambda x: jnp.sum(x))(jnp.arange(3))
    with pytest.raises(
        TypeError, match=r"jaxmc.hessian: argument `f` must be callable"
    ):
        hessian(3.0)
    with pytest.raises(ValueError, match=r"jaxmc.jacobian: argument `mode`"):
        dense_jacobian(jnp.sin, mode="fwd-rev")
    with pytest.raises(TypeError, match=r"must return a single array"):
        dense_jacobian(lambda x: (x, x))(x)
    with pytest.raises(ValueError, match=r"cost_report: argument `modes\[0\]`"):
        cost_report(jnp.sin, x, modes=["hessian"])
    with pytest.raises(ValueError, match=r"`repeats` must be an int >= 1"):
        cost_report(jnp.sin, x, repeats=0)
    with pytest.raises(TypeError, match=r"cost_report: the arguments must be concrete"):
        jax.jit(lambda x: cost_report(jnp.sin, x).rows[0].flops)(x)
    with pytest.raises(TypeError, match=r"`f` must return one array"):
        cost_report(lambda x: [x], x)
    with pytest.raises(ValueError, match=r"choose_mode: argnums=1"):
        choose_mode(jnp.sin, x, argnums=1)
    with pytest.raises(TypeError, match=r"choose_mode: argument `f` must be callable"):
        choose_mode("sin", x)


# ------------------------------------------------------------------------- CLI


def test_cli_cost_of_module_function_with_plot(tmp_path, capsys):
    from jaxmc.cli import main

    mod = tmp_path / "numpy_mod.py"
    mod.write_text(
        "import jax.numpy as jnp\n\ndef f(x, A):\n    return jnp.tanh(A @ x[:4])\n"
    )
    out = tmp_path / "cross.png"
    code = main(
        [
            "cost",
            f"{mod}:f",
            "--shapes",
            "12",
            "4x4",
            "--repeats",
            "1",
            "--plot",
            str(out),
            "--sizes",
            "4",
            "8",
        ]
    )
    text = capsys.readouterr().out
    assert code == 0, text
    assert "jacfwd" in text and "jacrev" in text and "grad skipped" in text
    assert "auto mode chooses reverse" in text  # 12 inputs, 4 outputs
    assert out.exists() and out.stat().st_size > 0


def test_cli_cost_bad_inputs(tmp_path, capsys):
    from jaxmc.cli import main
    from jaxmc.cli.cost import parse_shape

    assert parse_shape("10x10") == (10, 10) and parse_shape("scalar") == ()
    assert main(["cost", "no_such_module_xyz:f", "--shapes", "3"]) == 2
    assert "ModuleNotFoundError" in capsys.readouterr().err
    assert main(["cost", "jax.numpy:sin"]) == 2
    assert "give --shapes" in capsys.readouterr().err
    assert main(["cost", "jax.numpy:sin", "--shapes", "3y"]) == 2
    assert "is not like 100 or 10x10" in capsys.readouterr().err


# ------------------------------------- jaxmc.jacobian: auto mode and blocks


def test_jacobian_auto_mode_is_the_cost_model():
    from jaxmc.layout import _choose_mode

    for n, m in [(2000, 4), (4, 2000), (7, 7), (1, 1)]:
        x = jnp.ones(n)
        f = lambda x, m=m: jnp.full((m,), jnp.sum(x))  # noqa: E731
        assert _choose_mode(n, m) == choose_mode(f, x)


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
def test_jacobian_chunked_equals_unchunked(mode, transform):
    A, X = rand(17, (3, 4)), rand(18, (4, 2))

    def f(A, X, *, s):
        return s * jnp.tanh(A @ X)

    dense = jaxmc.jacobian(f, (0, 1), layout="vec", mode=mode)
    blocks = jaxmc.jacobian(f, (0, 1), layout="vec", mode=mode, chunk_size=3)
    for got, want in zip(
        transform(lambda A, X: blocks(A, X, s=2.0))(A, X),
        dense(A, X, s=2.0),
        strict=True,
    ):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    v = jaxmc.jacobian(lambda X: A @ X, layout="vec", mode=mode, chunk_size=5)(X)
    np.testing.assert_allclose(v, jnp.kron(jnp.eye(2), A), rtol=1e-12, atol=1e-12)


def test_jacobian_memory_limit():
    x = rand(19, (40,))

    def f(x):
        return jnp.tanh(jnp.outer(x, x)) @ x

    full = compiled_peak(jax.jacrev(f), x)
    limit = 40 * 40 * 8 + (full - 40 * 40 * 8) // 4
    jac = jaxmc.jacobian(f, layout="jax", mode="auto", memory_limit=limit)
    assert compiled_peak(jac, x) <= limit < full
    np.testing.assert_allclose(jac(x), jax.jacfwd(f)(x), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match=r"jaxmc.jacobian: .*not both"):
        jaxmc.jacobian(f, chunk_size=1, memory_limit=limit)
    with pytest.raises(ValueError, match=r"jaxmc.jacobian: memory_limit=10 bytes"):
        jaxmc.jacobian(f, memory_limit=10)(x)


def test_cli_cost_of_a_catalog_identity(capsys):
    identities = pytest.importorskip("jaxmc.identities")
    from jaxmc.cli import main

    name = identities.catalog()[0].name
    assert (
        main(["cost", name, "--size", "6", "--repeats", "1", "--modes", "jacrev"]) == 0
    )
    text = capsys.readouterr().out
    assert name in text and "jacrev" in text
    assert main(["cost", "no.such.identity", "--repeats", "1"]) == 2


def test_hessian_and_blocked_jacobian_under_vmap():
    xs = rand(21, (3, 5))
    H = jax.vmap(hessian(scalar_f, chunk_size=2))(xs)
    np.testing.assert_allclose(
        H, jax.vmap(jax.hessian(scalar_f))(xs), rtol=1e-10, atol=1e-12
    )

    def g(x):
        return jnp.tanh(jnp.outer(x, x))

    J = jax.vmap(jaxmc.jacobian(g, layout="jax", chunk_size=3))(xs)
    np.testing.assert_allclose(J, jax.vmap(jax.jacfwd(g))(xs), rtol=1e-10, atol=1e-12)
