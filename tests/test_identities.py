"""Tests for jaxmc.identities: the catalog, its samplers, verify, LaTeX and CLI.

The whole catalog is verified against autodiff in float64 (max relative error
<= 1e-8) and float32 (<= 1e-4, verify's documented default). Both calls draw
the same sizes (one size group, sizes <= 3) so the compiled kernels are shared
across identities and the suite stays within its time budget.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmc
from jaxmc import identities
from jaxmc.cli import main
from jaxmc.identities import Identity, Input, VerifyTable, _domains

KEY = jax.random.key(2024)
FAST = dict(key=KEY, sizes=1, max_size=3)

# Every identity the seed notes (and the coverage list) name.
SEED_IDENTITIES = [
    "linear.aTx", "linear.xTa", "quadratic.xTx", "quadratic.xTAx",
    "quadratic.xTAx_symmetric", "norm.x_minus_a_sq", "least_squares.Ax_minus_b",
    "least_squares.linear_regression", "logistic.softplus_wTx", "quadratic.full",
    "quadratic.Ax_sq", "jacobian.Ax", "jacobian.Ax_denominator", "jacobian.xTA",
    "jacobian.tanh", "jacobian.sigmoid", "jacobian.w_plus_x", "jacobian.w_minus_x",
    "jacobian.hadamard", "jacobian.quotient_w", "jacobian.product_rule",
    "jacobian.x_plus_z_dx", "jacobian.x_plus_z_dz", "jacobian.xz_dx",
    "jacobian.xz_dz", "jacobian.sum", "jacobian.sum_Ax", "jacobian.practice_2d",
    "jacobian.chain_tanh_Ax", "trace.AX", "trace.XTA", "trace.XTX", "trace.AXB",
    "trace.XAXT", "trace.XTAX", "trace.XAXT_symmetric", "linear.aTXb",
    "norm.frobenius_sq", "norm.WX_minus_Y", "det.X", "logdet.X", "logdet.spd",
    "inverse.aTXinvb", "inverse.X", "symmetric.logdet", "symmetric.logdet_vech",
    "nn.linear_dW", "nn.linear_dx", "nn.linear_db", "nn.activation_tanh",
    "nn.activation_relu", "nn.sigmoid_layer_dW", "nn.sigmoid_layer_dx",
    "nn.softmax_cross_entropy", "nn.matmul_dA", "nn.matmul_dB", "nn.batched_dW",
    "nn.relu_neuron_dw", "nn.relu_neuron_db", "nn.relu_mse_cost_dw",
    "nn.relu_mse_cost_db", "nn.relu_layer_dW", "nn.relu_layer_dx",
    "nn.relu_sq_loss_dW", "nn.two_layer_dW1", "nn.two_layer_dW2",
    "hessian.xTAx", "hessian.Ax_minus_b_sq", "hessian.logdet",
    "second_order.A_sq_affine", "eig.lambda_max", "expm.directional",
    "expm.flow", "pinv.X", "vec.AXB",
]  # fmt: skip


# ------------------------------------------------------------------ catalog


def test_catalog_has_80_plus_unique_stable_names():
    cat = identities.catalog()
    names = [i.name for i in cat]
    assert len(cat) >= 80
    assert len(names) == len(set(names))
    assert identities.catalog() == cat  # stable order, same records
    assert all(isinstance(i, Identity) for i in cat)


def test_catalog_covers_the_seed_identities():
    names = {i.name for i in identities.catalog()}
    missing = [n for n in SEED_IDENTITIES if n not in names]
    assert not missing


def test_families_and_family_filter():
    fams = identities.families()
    for fam in (
        "vector",
        "jacobian",
        "trace",
        "determinant",
        "inverse",
        "nn",
        "second_order",
        "vec",
        "spectral",
        "expm",
        "pinv",
        "symmetric",
    ):
        assert fam in fams
    trace = identities.catalog("trace")
    assert trace and all(i.family == "trace" for i in trace)
    assert sum(len(identities.catalog(f)) for f in fams) == len(identities.catalog())
    with pytest.raises(ValueError, match=r"catalog: argument `family` must be"):
        identities.catalog("no-such-family")


def test_records_are_complete():
    for i in identities.catalog():
        assert i.expression and i.derivative_latex and i.source, i.name
        assert i.layout in jaxmc.layout.LAYOUTS
        assert i.wrt in [inp.name for inp in i.inputs]
        assert hasattr(i.derivative, "lower"), f"{i.name}: closed form not jitted"
        assert i.name in repr(i) and i.order in (0, 1, 2)
        assert i.formula.startswith("d") or (i.order == 0 and "=" in i.formula)


def test_get_returns_the_record():
    ident = identities.get("quadratic.xTAx")
    assert ident.family == "vector" and ident.wrt == "x" and ident.layout == "mixed"
    A = jnp.array([[1.0, 2.0], [3.0, 4.0]])
    x = jnp.array([1.0, -1.0])
    np.testing.assert_allclose(ident.derivative(A, x), (A + A.T) @ x)


def test_get_unknown_name_lists_close_names():
    with pytest.raises(ValueError, match=r"no identity named 'trace\.AXX'.*trace\.AX"):
        identities.get("trace.AXX")
    with pytest.raises(ValueError, match=r"logdet\.X"):
        identities.get("logdet.Y")
    with pytest.raises(ValueError, match=r"catalog\(\)"):
        identities.get("zzzz")
    with pytest.raises(TypeError, match=r"identities.get: argument `name` must be"):
        identities.get(3)


# ------------------------------------------------------------------ verify


@pytest.mark.slow
def test_verify_whole_catalog_float64():
    table = identities.verify(trials=3, dtype=jnp.float64, **FAST)
    assert isinstance(table, VerifyTable)
    assert len(table) == len(identities.catalog())
    bad = [(r.name, r.max_rel_error) for r in table if not r.passed]
    assert not bad
    assert table.all_passed and table.rtol == 1e-8
    assert max(r.max_rel_error for r in table) <= 1e-8
    assert all(r.trials == 3 for r in table)


@pytest.mark.slow
def test_verify_seed_identities_and_every_family_float32():
    # float64 above verifies every record; float32 (tolerance 1e-4) runs the
    # seed notes' identities and the first two records of every family, which
    # covers each kind of closed form at a sixth of the compile time.
    names = list(SEED_IDENTITIES)
    per_family: dict[str, int] = {}
    for r in identities.catalog():
        if per_family.get(r.family, 0) < 2:
            per_family[r.family] = per_family.get(r.family, 0) + 1
            names.append(r.name)
    names = list(dict.fromkeys(names))
    table = identities.verify(names, trials=2, dtype=jnp.float32, **FAST)
    assert len(table) == len(names)
    assert {r.family for r in identities.catalog()} <= {
        identities.get(n).family for n in names
    }
    bad = [(r.name, r.max_rel_error) for r in table if not r.passed]
    assert not bad
    assert table.rtol == identities.DEFAULT_RTOL[jnp.dtype("float32")] == 1e-4
    assert table.dtype == "float32"


@pytest.mark.parametrize(
    "name, wrong",
    [
        # tr(AX) -> A instead of A^T (the seeds' pitfall)
        ("trace.AX", lambda A, X: A),
        # x^T A x -> 2Ax without symmetric A (the seeds' pitfall)
        ("quadratic.xTAx", lambda A, x: 2 * A @ x),
        # the Cookbook's symmetric rule read as a matrix gradient
        (
            "symmetric.logdet",
            lambda X: 2 * jnp.linalg.inv(X) - jnp.diag(jnp.diag(jnp.linalg.inv(X))),
        ),
        # a sign error
        ("inverse.X", lambda X: jnp.kron(jnp.linalg.inv(X).T, jnp.linalg.inv(X))),
        # the right numbers in the wrong layout (denominator instead of numerator)
        ("jacobian.xTA", lambda A, x: A),
    ],
)
def test_broken_closed_form_is_reported_failing(name, wrong):
    broken = dataclasses.replace(identities.get(name), derivative=wrong)
    table = identities.verify(broken, trials=2, dtype=jnp.float64, **FAST)
    assert not table.all_passed
    assert table.failed[0].name == name
    assert table[name].max_rel_error > 1e-3
    assert "FAIL" in str(table)
    # the catalog's own record still passes on the same draws
    assert identities.verify(name, trials=2, dtype=jnp.float64, **FAST).all_passed


def test_verify_is_deterministic_and_subset_reproduces_draws():
    names = ["logdet.X", "eig.lambda_max", "nn.relu_layer_dW"]
    a = identities.verify(names, trials=2, dtype=jnp.float64, **FAST)
    b = identities.verify(names[::-1], trials=2, dtype=jnp.float64, **FAST)
    assert [r.name for r in a] == names
    for r in a:
        assert b[r.name].max_rel_error == r.max_rel_error


def test_verify_table_printing_and_lookup():
    table = identities.verify(
        ["trace.AX", "det.X"], trials=1, dtype=jnp.float64, **FAST
    )
    text = str(table)
    assert "trace.AX" in text and "det.X" in text and "2/2 passed" in text
    assert "all_passed=True" in repr(table)
    assert table[0].name == "trace.AX" and table["det.X"].family == "determinant"
    with pytest.raises(KeyError):
        table["nope"]


def test_verify_bad_inputs():
    with pytest.raises(TypeError, match=r"verify: argument `key` must be a PRNG key"):
        identities.verify("trace.AX", key=0)
    with pytest.raises(
        ValueError, match=r"verify: argument `trials` must be an int >= 1"
    ):
        identities.verify("trace.AX", key=KEY, trials=0)
    with pytest.raises(ValueError, match=r"verify: argument `dtype` must be float32"):
        identities.verify("trace.AX", key=KEY, dtype=jnp.int32)
    with pytest.raises(TypeError, match=r"verify: argument `identity` must be None"):
        identities.verify(3.5, key=KEY)
    with pytest.raises(ValueError, match=r"no identity named"):
        identities.verify("trace.nope", key=KEY)
    with pytest.raises(ValueError, match=r"`max_size` must be an int >= 2"):
        identities.verify("trace.AX", key=KEY, max_size=1)


def test_identity_record_validation():
    base = identities.get("trace.AX")
    with pytest.raises(ValueError, match=r"`wrt` must name one of the inputs"):
        dataclasses.replace(base, wrt="Z")
    with pytest.raises(ValueError, match=r"argument `layout` must be one of"):
        dataclasses.replace(base, layout="transposed")
    with pytest.raises(ValueError, match=r"argument `domain` must be one of"):
        dataclasses.replace(base, inputs=(Input("A", "n m"), Input("X", "m n", "psd")))
    with pytest.raises(ValueError, match=r"unknown size symbols"):
        dataclasses.replace(base, inputs=(Input("A", "n z"), Input("X", "m n")))
    with pytest.raises(TypeError, match=r"argument `derivative` must be callable"):
        dataclasses.replace(base, derivative=None)


# ------------------------------------------------------------------ closed forms


def test_cookbook_symmetric_rule_is_the_vech_derivative():
    # D_n^T vec(G) = vech(2G - diag(G)) for symmetric G: the Cookbook's rule is
    # the derivative with respect to vech(X), checked against the duplication
    # matrix of the vec toolkit.
    ident = identities.get("symmetric.logdet_vech")
    (v,) = ident.sample(KEY, {"m": 2, "n": 4, "p": 2, "q": 2, "M": 6, "T": 10})
    X = jaxmc.unvech(v)
    D = jaxmc.duplication_matrix(4)
    expected = D.T @ jaxmc.vec(jnp.linalg.inv(X))
    np.testing.assert_allclose(ident.derivative(v), expected, rtol=1e-12)
    np.testing.assert_allclose(jax.grad(ident.f)(v), expected, rtol=1e-10, atol=1e-12)
    # and the symmetric-subspace gradient is X^{-1}
    sym = identities.get("symmetric.logdet")
    np.testing.assert_allclose(sym.derivative(X), jnp.linalg.inv(X), rtol=1e-12)


def test_closed_forms_work_under_jit_and_vmap(transform):
    ident = identities.get("trace.AXB")
    dims = {"m": 3, "n": 2, "p": 4, "q": 2, "M": 5, "T": 3}
    keys = jax.random.split(KEY, 3)
    A, X, B = jax.vmap(lambda k: ident.sample(k, dims))(keys)
    out = transform(jax.vmap(ident.derivative))(A, X, B)
    np.testing.assert_allclose(
        out, jnp.einsum("bpm,bnp->bmn", A, B), rtol=1e-12, atol=1e-12
    )


def test_eigenvalue_derivative_matches_finite_differences():
    ident = identities.get("eig.lambda_max")
    (A,) = ident.sample(KEY, {"m": 2, "n": 4, "p": 2, "q": 2, "M": 6, "T": 10})
    E = jax.random.normal(jax.random.key(1), A.shape)
    E = (E + E.T) / 2
    h = 1e-6
    fd = (ident.f(A + h * E) - ident.f(A - h * E)) / (2 * h)
    np.testing.assert_allclose(jnp.sum(ident.derivative(A) * E), fd, rtol=1e-7)


# ------------------------------------------------------------------ domains


def test_every_sampler_draws_inside_its_domain():
    for ident in identities.catalog():
        for seed in range(2):
            key = jax.random.fold_in(KEY, seed)
            dims = identities._record.dims_from_key(key, 3)
            args = ident.sample(key, dims)
            for inp, x, shape in zip(
                ident.inputs, args, ident.shapes(dims), strict=True
            ):
                assert x.shape == shape, (ident.name, inp.name)
                assert _domains.contains(inp.domain, x), (ident.name, inp.name)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_domain_samplers_directly(dtype):
    n = 5
    k = jax.random.split(KEY, 8)
    rtol = 1e-5 if dtype == jnp.float32 else 1e-12
    S = np.asarray(_domains.sample("symmetric", k[0], (n, n), dtype), np.float64)
    np.testing.assert_array_equal(S, S.T)
    P = np.asarray(_domains.sample("spd", k[1], (n, n), dtype), np.float64)
    lam = np.linalg.eigvalsh((P + P.T) / 2)
    assert lam.min() > 0.49 and lam.max() < 2.01
    Q = np.asarray(_domains.sample("orthogonal", k[2], (n, n), dtype), np.float64)
    np.testing.assert_allclose(Q.T @ Q, np.eye(n), atol=10 * rtol)
    X = np.asarray(_domains.sample("invertible", k[3], (n, n), dtype), np.float64)
    s = np.linalg.svd(X, compute_uv=False)
    assert s.min() > 0.49 and s.max() < 2.01  # condition number <= 4
    T = np.asarray(
        _domains.sample("full_column_rank", k[4], (n + 2, n), dtype), np.float64
    )
    assert np.linalg.svd(T, compute_uv=False).min() > 0.49
    D = np.asarray(
        _domains.sample("symmetric_distinct", k[5], (n, n), dtype), np.float64
    )
    assert np.diff(np.linalg.eigvalsh((D + D.T) / 2)).min() > 0.49
    p = np.asarray(_domains.sample("simplex", k[6], (n,), dtype), np.float64)
    assert p.min() > 0 and abs(p.sum() - 1) < 10 * rtol
    assert _domains.sample("any", k[7], (2, 3), dtype).dtype == dtype


def test_domain_checks_reject_outsiders():
    assert not _domains.contains("symmetric", np.array([[1.0, 2.0], [0.0, 1.0]]))
    assert not _domains.contains("spd", -np.eye(3))
    assert not _domains.contains("orthogonal", 2 * np.eye(3))
    assert not _domains.contains("invertible", np.array([[1.0, 2.0], [2.0, 4.0]]))
    assert not _domains.contains("symmetric_distinct", np.eye(3))
    assert not _domains.contains("simplex", np.array([0.5, 0.6]))
    assert not _domains.contains("full_column_rank", np.ones((2, 3)))


def test_sample_is_deterministic_and_validates_key():
    ident = identities.get("det.XTAX")
    a = ident.sample(KEY)
    b = ident.sample(KEY)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert a[1].shape[0] > a[1].shape[1]  # tall X
    with pytest.raises(TypeError, match=r"Identity.sample: argument `key`"):
        ident.sample(1)
    # derived sizes are filled in: M = m + n, T = n (n + 1) / 2
    A, X = ident.sample(KEY, {"m": 2, "n": 3, "p": 2, "q": 2})
    assert A.shape == (5, 5) and X.shape == (5, 3)
    (v,) = identities.get("symmetric.logdet_vech").sample(KEY, dict.fromkeys("mnpq", 3))
    assert v.shape == (6,)
    with pytest.raises(ValueError, match=r"`dims` must give the sizes m, n, p, q"):
        ident.sample(KEY, {"n": 3})


# ------------------------------------------------------------------ LaTeX, CLI


def test_latex_table():
    tex = identities.latex_table()
    lines = tex.splitlines()
    assert lines[0] == r"\begin{tabular}{lllll}" and lines[-1] == r"\end{tabular}"
    rows = [ln for ln in lines if ln.startswith(r"\texttt{")]
    assert len(rows) == len(identities.catalog())
    assert r"\texttt{least\_squares.Ax\_minus\_b}" in tex
    assert tex.count(r"\midrule") == len(identities.families())


def test_cli_lists_the_catalog(capsys):
    assert main(["identities"]) == 0
    out = capsys.readouterr().out
    assert f"{len(identities.catalog())} identities" in out
    assert "trace.AX" in out and "A^T" in out


def test_cli_filters_and_latex(capsys):
    assert main(["identities", "--family", "trace", "--name", "XTX"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "1 identities" and out[0].startswith("trace.XTX")
    assert main(["identities", "--family", "determinant", "--latex"]) == 0
    assert r"\texttt{det.X}" in capsys.readouterr().out
    assert main(["identities", "--name", "no-such"]) == 1
    capsys.readouterr()
    assert main(["identities", "--family", "nope"]) == 2
    assert "--family: unknown family nope" in capsys.readouterr().err


def test_cli_verify_passes_and_fails(capsys, monkeypatch):
    assert main(["identities", "--verify", "--name", "trace.AX", "--trials", "2"]) == 0
    assert "ok" in capsys.readouterr().out
    broken = dataclasses.replace(identities.get("trace.AX"), derivative=lambda A, X: A)
    monkeypatch.setattr(identities, "catalog", lambda: (broken,))
    assert main(["identities", "--verify", "--trials", "2"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_cli_name_selects_an_exact_name_or_a_substring(capsys):
    from jaxmc.cli import main

    assert main(["identities", "--name", "logdet.X"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "logdet." in ln]
    assert len(lines) == 1 and "logdet.X " in lines[0] + " "
    assert main(["identities", "--name", "logdet."]) == 0
    assert (
        len([ln for ln in capsys.readouterr().out.splitlines() if "logdet." in ln]) > 1
    )


# ------------------------------------------------------------------ general k, errata


GENERAL_K = {
    "trace.Xk": "k",
    "trace.AXk": "k",
    "det.Xk": "k",
    "linear.aTXkb": "k",
    "quadratic.aTXkTXkb": "k",
    "eig.lambda_i": "i",
    "eig.eigenvector_i": "i",
}


def test_general_k_records_carry_their_parameter():
    with_params = {i.name for i in identities.catalog() if i.params}
    assert with_params == set(GENERAL_K)
    for name, par in GENERAL_K.items():
        ident = identities.get(name)
        (p,) = ident.params
        assert p.name == par and len(p.values) >= 2 and p.where
        assert p.where in ident.formula
        insts = ident.instances()
        assert [i.name for i in insts] == [f"{name}[{par}={v}]" for v in p.values]
        assert all(not i.params for i in insts)
    # every value is verified: a closed form wrong only at k = 5 is caught
    ident = identities.get("trace.Xk")
    assert 5 in ident.params[0].values

    def wrong_at_5(X, *, k=3):
        return (k + (k == 5)) * jnp.linalg.matrix_power(X, k - 1).T

    broken = dataclasses.replace(ident, derivative=wrong_at_5)
    table = identities.verify(broken, trials=1, dtype=jnp.float64, **FAST)
    assert not table.all_passed and table[0].max_rel_error > 0.1


def test_bind_fixes_the_parameter():
    ident = identities.get("trace.Xk")
    X = jax.random.normal(KEY, (3, 3))
    bound = ident.bind(k=3)
    assert bound.name == "trace.Xk[k=3]" and not bound.params
    np.testing.assert_allclose(bound.f(X), jnp.trace(X @ X @ X), rtol=1e-12)
    np.testing.assert_allclose(
        bound.derivative(X), identities.get("trace.X3").derivative(X), rtol=1e-12
    )
    np.testing.assert_allclose(ident.derivative(X, k=3), bound.derivative(X))
    # det(X^k) for negative k
    det_k = identities.get("det.Xk").bind(k=-2)
    Xi = jnp.linalg.inv(X)
    np.testing.assert_allclose(
        det_k.derivative(X),
        jax.grad(lambda Y: jnp.linalg.det(jnp.linalg.inv(Y @ Y)))(X),
        rtol=1e-9,
    )
    np.testing.assert_allclose(det_k.f(X), jnp.linalg.det(Xi @ Xi), rtol=1e-12)
    with pytest.raises(ValueError, match=r"Identity.bind: identity 'trace.Xk' takes"):
        ident.bind(n=3)
    with pytest.raises(ValueError, match=r"takes one int for each"):
        ident.bind(k=2.5)


def test_param_record_validation():
    base = identities.get("trace.Xk")
    with pytest.raises(ValueError, match=r"`params` must be Param records"):
        dataclasses.replace(base, params=(identities.Param("k", ()),))
    with pytest.raises(ValueError, match=r"must take the parameter 'j' as a keyword"):
        dataclasses.replace(base, params=(identities.Param("j", (1, 2)),))
    with pytest.raises(TypeError, match=r"`erratum` must be an Erratum"):
        dataclasses.replace(base, erratum="eq. 1 is wrong")


ERRATA = {
    "quadratic.aTXkTXkb": "Matrix Cookbook eq. 92",
    "inverse.trAXTCXinvXTBX": "Matrix Cookbook eq. 127",
    "quadratic.ratio_AxBx": "Matrix Cookbook eq. 94",
}


def test_errata_are_recorded_and_the_printed_forms_are_wrong():
    assert {i.name: i.erratum.where for i in identities.errata()} == ERRATA
    for name in ERRATA:
        ident = identities.get(name)
        assert ident.erratum.printed and ident.erratum.correction
        assert "corrected" in ident.source
        # the corrected form passes (the whole-catalog tests), the printed one
        # fails clearly on the same draws
        printed = dataclasses.replace(
            ident, derivative=ident.erratum.printed_form, erratum=None
        )
        table = identities.verify(printed, trials=2, dtype=jnp.float64, **FAST)
        assert table[0].max_rel_error > 1e-2, name


def test_cookbook_127_is_right_for_symmetric_A_only():
    # The printed form is the closed form of the A-symmetric record and passes
    # there; on non-symmetric A it fails (previous test).
    sym = identities.get("inverse.trAXTCXinvXTBX_symmetric")
    general = identities.get("inverse.trAXTCXinvXTBX")
    assert sym.inputs[0].domain == "spd"
    assert general.inputs[0].domain == "positive_real"
    args = sym.sample(KEY, {"m": 2, "n": 3, "p": 2, "q": 2})
    np.testing.assert_allclose(
        general.derivative(*args), sym.derivative(*args), rtol=1e-10, atol=1e-12
    )


def test_cookbook_citations_give_equation_numbers():
    # Section-only citations are left where no equation exists (the
    # pseudo-inverse) or the 2012 numbering of §2.8.2 was not confirmed.
    section_only = {i.name for i in identities.catalog("symmetric")} | {"pinv.X"}
    for ident in identities.catalog():
        if "Matrix Cookbook" in ident.source and ident.name not in section_only:
            assert "Matrix Cookbook eq. " in ident.source, ident.name
    assert "eq. 97 (§2.4.4)" in identities.get("hessian.xTAx").source
    assert "eq. 52" in identities.get("det.XTAX_square").source
    assert "eq. 54" in identities.get("det.XTAX_nonsymmetric").source
    for name, number in [
        ("inverse.trXTCXinvA", 125),
        ("inverse.trXTCXinvXTBX", 126),
        ("inverse.trAXTCXinvXTBX", 127),
        ("trace.sinX", 128),
        ("inverse.trXplusAinv", 64),
    ]:
        assert f"eq. {number} " in identities.get(name).source


def test_kronecker_spectrum_is_an_algebraic_identity():
    ident = identities.get("kron.eig")
    assert ident.order == 0 and "=" in ident.formula and "d/d" not in ident.formula
    A, B = ident.sample(KEY, {"m": 3, "n": 2, "p": 2, "q": 2})
    lam = jnp.linalg.eigvalsh(jnp.kron(A, B))
    np.testing.assert_allclose(ident.derivative(A, B), lam, rtol=1e-12, atol=1e-12)
    # a wrong spectrum (sums instead of products) fails
    wrong = dataclasses.replace(
        ident,
        derivative=lambda A, B: jnp.sort(
            jnp.add.outer(jnp.linalg.eigvalsh(A), jnp.linalg.eigvalsh(B)).ravel()
        ),
    )
    assert not identities.verify(wrong, trials=1, dtype=jnp.float64, **FAST).all_passed


def test_interior_eigenvalue_derivative_matches_finite_differences():
    ident = identities.get("eig.lambda_i").bind(i=2)
    (A,) = ident.sample(KEY, {"m": 3, "n": 2, "p": 2, "q": 2})  # 5 x 5
    E = jax.random.normal(jax.random.key(3), A.shape)
    E = (E + E.T) / 2
    h = 1e-6
    fd = (ident.f(A + h * E) - ident.f(A - h * E)) / (2 * h)
    np.testing.assert_allclose(jnp.sum(ident.derivative(A) * E), fd, rtol=1e-7)
    vec_ident = identities.get("eig.eigenvector_i").bind(i=2)
    v0 = vec_ident.f(A)

    def aligned(B):  # the sign eigh returns at A, kept along the path
        v = vec_ident.f(B)
        return v * jnp.sign(v @ v0)

    fd_v = (aligned(A + h * E) - aligned(A - h * E)) / (2 * h)
    np.testing.assert_allclose(
        vec_ident.derivative(A) @ jaxmc.vec(E), fd_v, rtol=1e-6, atol=1e-8
    )
