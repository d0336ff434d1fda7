"""Scalar-by-matrix identities: traces, forms, norms, determinants, inverses.

Also the symmetric-matrix convention (see the package docstring).
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxmc.identities._record import Identity
from jaxmc.identities._record import Input as In
from jaxmc.identities._sources import (
    SEED_0910,
    SEED_CH48,
    SEED_TUTORIAL,
    cookbook,
    eq,
    mn,
)
from jaxmc.vec import unvech, vech

__all__ = ["identities"]

_INV = In("X", "n n", "invertible")


def _eye(X):
    return jnp.eye(X.shape[0], dtype=X.dtype)


def _inv(X):
    return jnp.linalg.inv(X)


def _logabsdet(X):
    return jnp.linalg.slogdet(X)[1]


def _sym(X):
    return (X + X.T) / 2


def _traces() -> list[Identity]:
    fam = "trace"
    return [
        Identity(
            "trace.X",
            fam,
            r"\mathrm{tr}(X)",
            r"I",
            "X",
            "mixed",
            lambda X: jnp.trace(X),
            lambda X: _eye(X),
            (In("X", "n n", "square"),),
            source=eq(99, "2.5.1"),
        ),
        Identity(
            "trace.AX",
            fam,
            r"\mathrm{tr}(A X)",
            r"A^T",
            "X",
            "mixed",
            lambda A, X: jnp.trace(A @ X),
            lambda A, X: A.T,
            (In("A", "n m"), In("X", "m n")),
            source=f"{SEED_TUTORIAL} (Identity 8); {SEED_CH48}; "
            f"{eq(100, '2.5.1', 'tr(AX) = tr(XA)')}",
            note="A^T, not A: tr(C^T dX) identifies the gradient C (seed 09-10, "
            "Pitfalls).",
        ),
        Identity(
            "trace.XA",
            fam,
            r"\mathrm{tr}(X A)",
            r"A^T",
            "X",
            "mixed",
            lambda A, X: jnp.trace(X @ A),
            lambda A, X: A.T,
            (In("A", "n m"), In("X", "m n")),
            source=eq(100, "2.5.1"),
        ),
        Identity(
            "trace.XTA",
            fam,
            r"\mathrm{tr}(X^T A)",
            r"A",
            "X",
            "mixed",
            lambda A, X: jnp.trace(X.T @ A),
            lambda A, X: A,
            (In("A", "m n"), In("X", "m n")),
            source=f"{SEED_TUTORIAL} (Identity 9); {eq(103, '2.5.1')}",
        ),
        Identity(
            "trace.AXT",
            fam,
            r"\mathrm{tr}(A X^T)",
            r"A",
            "X",
            "mixed",
            lambda A, X: jnp.trace(A @ X.T),
            lambda A, X: A,
            (In("A", "m n"), In("X", "m n")),
            source=eq(104, "2.5.1"),
        ),
        Identity(
            "trace.XTX",
            fam,
            r"\mathrm{tr}(X^T X)",
            r"2 X",
            "X",
            "mixed",
            lambda X: jnp.trace(X.T @ X),
            lambda X: 2 * X,
            (In("X", "m n"),),
            source=f"{SEED_TUTORIAL} (Identity 10); {eq(115, '2.5.2')}",
        ),
        Identity(
            "trace.AXB",
            fam,
            r"\mathrm{tr}(A X B)",
            r"A^T B^T",
            "X",
            "mixed",
            lambda A, X, B: jnp.trace(A @ X @ B),
            lambda A, X, B: A.T @ B.T,
            (In("A", "p m"), In("X", "m n"), In("B", "n p")),
            source=f"{SEED_TUTORIAL} (Identity 11); {SEED_0910} (Practice Problem "
            f"3); {eq(101, '2.5.1')}",
        ),
        Identity(
            "trace.AXTB",
            fam,
            r"\mathrm{tr}(A X^T B)",
            r"B A",
            "X",
            "mixed",
            lambda A, X, B: jnp.trace(A @ X.T @ B),
            lambda A, X, B: B @ A,
            (In("A", "p n"), In("X", "m n"), In("B", "m p")),
            source=eq(102, "2.5.1"),
        ),
        Identity(
            "trace.XAXT",
            fam,
            r"\mathrm{tr}(X A X^T)",
            r"X A^T + X A",
            "X",
            "mixed",
            lambda A, X: jnp.trace(X @ A @ X.T),
            lambda A, X: X @ A.T + X @ A,
            (In("A", "n n"), In("X", "m n")),
            source=f"{SEED_0910}; {eq(111, '2.5.2')}",
        ),
        Identity(
            "trace.XAXT_symmetric",
            fam,
            r"\mathrm{tr}(X A X^T),\ A = A^T",
            r"2 X A",
            "X",
            "mixed",
            lambda A, X: jnp.trace(X @ A @ X.T),
            lambda A, X: 2 * X @ A,
            (In("A", "n n", "symmetric"), In("X", "m n")),
            domain="A symmetric",
            source=SEED_0910,
        ),
        Identity(
            "trace.XTAX",
            fam,
            r"\mathrm{tr}(X^T A X)",
            r"A X + A^T X",
            "X",
            "mixed",
            lambda A, X: jnp.trace(X.T @ A @ X),
            lambda A, X: A @ X + A.T @ X,
            (In("A", "m m"), In("X", "m n")),
            source=f"{SEED_0910}; {eq(108, '2.5.2')}",
        ),
        Identity(
            "trace.X2",
            fam,
            r"\mathrm{tr}(X^2)",
            r"2 X^T",
            "X",
            "mixed",
            lambda X: jnp.trace(X @ X),
            lambda X: 2 * X.T,
            (In("X", "n n", "square"),),
            source=eq(106, "2.5.2"),
        ),
        Identity(
            "trace.X3",
            fam,
            r"\mathrm{tr}(X^3)",
            r"3 (X^2)^T",
            "X",
            "mixed",
            lambda X: jnp.trace(X @ X @ X),
            lambda X: 3 * (X @ X).T,
            (In("X", "n n", "square"),),
            source=eq(121, "2.5.3", "k = 3; see trace.Xk"),
        ),
        Identity(
            "trace.X2B",
            fam,
            r"\mathrm{tr}(X^2 B)",
            r"(X B + B X)^T",
            "X",
            "mixed",
            lambda B, X: jnp.trace(X @ X @ B),
            lambda B, X: (X @ B + B @ X).T,
            (In("B", "n n"), In("X", "n n", "square")),
            source=eq(107, "2.5.2"),
        ),
        Identity(
            "trace.AXBX",
            fam,
            r"\mathrm{tr}(A X B X)",
            r"A^T X^T B^T + B^T X^T A^T",
            "X",
            "mixed",
            lambda A, B, X: jnp.trace(A @ X @ B @ X),
            lambda A, B, X: A.T @ X.T @ B.T + B.T @ X.T @ A.T,
            (In("A", "n m"), In("B", "n m"), In("X", "m n")),
            source=eq(114, "2.5.2"),
        ),
        Identity(
            "trace.XTBXC",
            fam,
            r"\mathrm{tr}(X^T B X C)",
            r"B X C + B^T X C^T",
            "X",
            "mixed",
            lambda B, C, X: jnp.trace(X.T @ B @ X @ C),
            lambda B, C, X: B @ X @ C + B.T @ X @ C.T,
            (In("B", "m m"), In("C", "n n"), In("X", "m n")),
            source=eq(117, "2.5.2"),
        ),
        Identity(
            "trace.AXBXTC",
            fam,
            r"\mathrm{tr}(A X B X^T C)",
            r"A^T C^T X B^T + C A X B",
            "X",
            "mixed",
            lambda A, B, C, X: jnp.trace(A @ X @ B @ X.T @ C),
            lambda A, B, C, X: A.T @ C.T @ X @ B.T + C @ A @ X @ B,
            (In("A", "p m"), In("B", "n n"), In("C", "m p"), In("X", "m n")),
            source=eq(118, "2.5.2"),
        ),
        Identity(
            "trace.AXb_plus_c_sq",
            fam,
            r"\mathrm{tr}[(A X b + c)(A X b + c)^T]",
            r"2 A^T (A X b + c) b^T",
            "X",
            "mixed",
            lambda A, X, b, c: jnp.sum((A @ X @ b + c) ** 2),
            lambda A, X, b, c: 2 * jnp.outer(A.T @ (A @ X @ b + c), b),
            (In("A", "p m"), In("X", "m n"), In("b", "n"), In("c", "p")),
            source=eq(119, "2.5.2", "B = b, C = c"),
        ),
    ]


def _forms_and_norms() -> list[Identity]:
    fam = "matrix"
    return [
        Identity(
            "linear.aTXb",
            fam,
            r"a^T X b",
            r"a b^T",
            "X",
            "mixed",
            lambda a, X, b: a @ X @ b,
            lambda a, X, b: jnp.outer(a, b),
            (In("a", "m"), In("X", "m n"), In("b", "n")),
            source=f"{SEED_0910} (linear form); {eq(70, '2.4.1')}",
        ),
        Identity(
            "linear.aTXTb",
            fam,
            r"a^T X^T b",
            r"b a^T",
            "X",
            "mixed",
            lambda a, X, b: a @ X.T @ b,
            lambda a, X, b: jnp.outer(b, a),
            (In("a", "n"), In("X", "m n"), In("b", "m")),
            source=eq(71, "2.4.1"),
        ),
        Identity(
            "linear.aTXa",
            fam,
            r"a^T X a",
            r"a a^T",
            "X",
            "mixed",
            lambda a, X: a @ X @ a,
            lambda a, X: jnp.outer(a, a),
            (In("a", "n"), In("X", "n n", "square")),
            source=eq(72, "2.4.1"),
        ),
        Identity(
            "quadratic.bTXTXc",
            fam,
            r"b^T X^T X c",
            r"X (b c^T + c b^T)",
            "X",
            "mixed",
            lambda b, X, c: b @ X.T @ X @ c,
            lambda b, X, c: X @ (jnp.outer(b, c) + jnp.outer(c, b)),
            (In("b", "n"), In("X", "m n"), In("c", "n")),
            source=eq(77, "2.4.2"),
        ),
        Identity(
            "quadratic.bTXTDXc",
            fam,
            r"b^T X^T D X c",
            r"D^T X b c^T + D X c b^T",
            "X",
            "mixed",
            lambda b, D, X, c: b @ X.T @ D @ X @ c,
            lambda b, D, X, c: D.T @ X @ jnp.outer(b, c) + D @ X @ jnp.outer(c, b),
            (In("b", "n"), In("D", "m m"), In("X", "m n"), In("c", "n")),
            source=eq(82, "2.4.2"),
        ),
        Identity(
            "quadratic.Xb_plus_c_D",
            fam,
            r"(X b + c)^T D (X b + c)",
            r"(D + D^T)(X b + c) b^T",
            "X",
            "mixed",
            lambda b, c, D, X: (X @ b + c) @ D @ (X @ b + c),
            lambda b, c, D, X: jnp.outer((D + D.T) @ (X @ b + c), b),
            (In("b", "n"), In("c", "m"), In("D", "m m"), In("X", "m n")),
            source=eq(83, "2.4.2"),
        ),
        Identity(
            "norm.frobenius_sq",
            fam,
            r"\|X\|_F^2",
            r"2 X",
            "X",
            "mixed",
            lambda X: jnp.sum(X * X),
            lambda X: 2 * X,
            (In("X", "m n"),),
            source=f"{SEED_0910} (also ||W||_F^2, the L2 regulariser); "
            f"{eq(132, '2.7.1')}",
        ),
        Identity(
            "norm.frobenius",
            fam,
            r"\|X\|_F",
            r"X / \|X\|_F",
            "X",
            "mixed",
            lambda X: jnp.sqrt(jnp.sum(X * X)),
            lambda X: X / jnp.sqrt(jnp.sum(X * X)),
            (In("X", "m n", "nonzero"),),
            domain="X != 0",
            source=eq(132, "2.7.1", "and the chain rule"),
        ),
        Identity(
            "norm.WX_minus_Y",
            fam,
            r"\|W X - Y\|_F^2",
            r"2 (W X - Y) X^T",
            "W",
            "mixed",
            lambda W, X, Y: jnp.sum((W @ X - Y) ** 2),
            lambda W, X, Y: 2 * (W @ X - Y) @ X.T,
            (In("W", "m n"), In("X", "n p"), In("Y", "m p")),
            source=f"{SEED_0910} (Practice Problem 4); {SEED_CH48} (Practice Task 2)",
        ),
    ]


def _determinants() -> list[Identity]:
    fam = "determinant"
    return [
        Identity(
            "det.X",
            fam,
            r"\det(X)",
            r"\det(X)\, X^{-T}",
            "X",
            "mixed",
            lambda X: jnp.linalg.det(X),
            lambda X: jnp.linalg.det(X) * _inv(X).T,
            (_INV,),
            domain="X invertible",
            source=f"{SEED_CH48}; {SEED_0910} (Practice Problem 5); {eq(49, '2.1.2')}",
        ),
        Identity(
            "det.AXB",
            fam,
            r"\det(A X B)",
            r"\det(A X B)\, X^{-T}",
            "X",
            "mixed",
            lambda A, X, B: jnp.linalg.det(A @ X @ B),
            lambda A, X, B: jnp.linalg.det(A @ X @ B) * _inv(X).T,
            (In("A", "n n", "invertible"), _INV, In("B", "n n", "invertible")),
            domain="A, X, B invertible",
            source=eq(51, "2.1.2"),
        ),
        Identity(
            "det.X2",
            fam,
            r"\det(X^2)",
            r"2 \det(X^2)\, X^{-T}",
            "X",
            "mixed",
            lambda X: jnp.linalg.det(X @ X),
            lambda X: 2 * jnp.linalg.det(X @ X) * _inv(X).T,
            (_INV,),
            domain="X invertible",
            source=eq(58, "2.1.4", "k = 2; see det.Xk"),
        ),
        Identity(
            "det.XTX",
            fam,
            r"\det(X^T X)",
            r"2 \det(X^T X)\, X (X^T X)^{-1}",
            "X",
            "mixed",
            lambda X: jnp.linalg.det(X.T @ X),
            lambda X: 2 * jnp.linalg.det(X.T @ X) * X @ _inv(X.T @ X),
            (In("X", "M n", "full_column_rank"),),
            domain="X tall with full column rank",
            source=eq(53, "2.1.3", "A = I"),
        ),
        Identity(
            "det.XTAX",
            fam,
            r"\det(X^T A X),\ A = A^T",
            r"2 \det(X^T A X)\, A X (X^T A X)^{-1}",
            "X",
            "mixed",
            lambda A, X: jnp.linalg.det(X.T @ A @ X),
            lambda A, X: 2 * jnp.linalg.det(X.T @ A @ X) * A @ X @ _inv(X.T @ A @ X),
            (In("A", "M M", "spd"), In("X", "M n", "full_column_rank")),
            domain="A symmetric positive definite, X full column rank",
            source=eq(53, "2.1.3"),
        ),
        Identity(
            "det.Q_orthogonal",
            fam,
            r"\det(Q),\ Q^T Q = I",
            r"\det(Q)\, Q",
            "Q",
            "mixed",
            lambda Q: jnp.linalg.det(Q),
            lambda Q: jnp.linalg.det(Q) * Q,
            (In("Q", "n n", "orthogonal"),),
            domain="Q orthogonal",
            source=f"{eq(49, '2.1.2')} with Q^{{-T}} = Q",
            note="The unconstrained derivative at an orthogonal point.",
        ),
        Identity(
            "det.Xinv",
            fam,
            r"\det(X^{-1})",
            r"-\det(X^{-1})\, X^{-T}",
            "X",
            "mixed",
            lambda X: jnp.linalg.det(_inv(X)),
            lambda X: -jnp.linalg.det(_inv(X)) * _inv(X).T,
            (_INV,),
            domain="X invertible",
            source=eq(62, "2.2"),
        ),
        Identity(
            "logdet.X",
            fam,
            r"\log |\det(X)|",
            r"X^{-T}",
            "X",
            "mixed",
            lambda X: _logabsdet(X),
            lambda X: _inv(X).T,
            (_INV,),
            domain="X invertible",
            source=f"{SEED_CH48}; {SEED_0910} (Worked Example 2); {eq(57, '2.1.4')}",
            note="log|det X| extends log det X to det X < 0 with the same gradient.",
        ),
        Identity(
            "logdet.spd",
            fam,
            r"\log \det(X),\ X \succ 0",
            r"X^{-1}",
            "X",
            "mixed",
            lambda X: jnp.linalg.slogdet(X)[1],
            lambda X: _inv(X),
            (In("X", "n n", "spd"),),
            domain="X symmetric positive definite",
            source=f"{SEED_0910} (log det X for SPD X: X^-T = X^-1)",
            note="Entries treated as independent; see symmetric.logdet for the "
            "gradient on symmetric matrices.",
        ),
        Identity(
            "logdet.XTX",
            fam,
            r"\log \det(X^T X)",
            r"2 X (X^T X)^{-1} = 2 (X^+)^T",
            "X",
            "mixed",
            lambda X: jnp.linalg.slogdet(X.T @ X)[1],
            lambda X: 2 * X @ _inv(X.T @ X),
            (In("X", "M n", "full_column_rank"),),
            domain="X tall with full column rank",
            source=eq(55, "2.1.4"),
        ),
    ]


def _inverses() -> list[Identity]:
    fam = "inverse"
    return [
        Identity(
            "inverse.X",
            fam,
            r"X^{-1}",
            r"-(X^{-T} \otimes X^{-1})\quad [d X^{-1} = -X^{-1} dX\, X^{-1}]",
            "X",
            "vec",
            lambda X: _inv(X),
            lambda X: -jnp.kron(_inv(X).T, _inv(X)),
            (_INV,),
            domain="X invertible",
            source=f"{SEED_0910}; {eq(59, '2.2')}; {mn('ch. 8')}",
        ),
        Identity(
            "inverse.aTXinvb",
            fam,
            r"a^T X^{-1} b",
            r"-X^{-T} a b^T X^{-T}",
            "X",
            "mixed",
            lambda a, X, b: a @ _inv(X) @ b,
            lambda a, X, b: -_inv(X).T @ jnp.outer(a, b) @ _inv(X).T,
            (In("a", "n"), _INV, In("b", "n")),
            domain="X invertible",
            source=f"{SEED_0910}; {eq(61, '2.2')}",
        ),
        Identity(
            "inverse.aTQinvb_orthogonal",
            fam,
            r"a^T Q^{-1} b,\ Q^T Q = I",
            r"-Q a b^T Q",
            "Q",
            "mixed",
            lambda a, Q, b: a @ _inv(Q) @ b,
            lambda a, Q, b: -Q @ jnp.outer(a, b) @ Q,
            (In("a", "n"), In("Q", "n n", "orthogonal"), In("b", "n")),
            domain="Q orthogonal",
            source=f"{eq(61, '2.2')} with Q^{{-T}} = Q",
            note="The unconstrained derivative at an orthogonal point.",
        ),
        Identity(
            "inverse.trAXinvB",
            fam,
            r"\mathrm{tr}(A X^{-1} B)",
            r"-(X^{-1} B A X^{-1})^T",
            "X",
            "mixed",
            lambda A, X, B: jnp.trace(A @ _inv(X) @ B),
            lambda A, X, B: -(_inv(X) @ B @ A @ _inv(X)).T,
            (In("A", "p n"), _INV, In("B", "n p")),
            domain="X invertible",
            source=eq(63, "2.2"),
        ),
        Identity(
            "inverse.trXinv",
            fam,
            r"\mathrm{tr}(X^{-1})",
            r"-(X^{-2})^T",
            "X",
            "mixed",
            lambda X: jnp.trace(_inv(X)),
            lambda X: -(_inv(X) @ _inv(X)).T,
            (_INV,),
            domain="X invertible",
            source=eq(63, "2.2", "A = B = I"),
        ),
        Identity(
            "inverse.mahalanobis_x",
            fam,
            r"x^T S^{-1} x,\ S \succ 0",
            r"2 S^{-1} x",
            "x",
            "mixed",
            lambda S, x: x @ _inv(S) @ x,
            lambda S, x: 2 * _inv(S) @ x,
            (In("S", "n n", "spd"), In("x", "n")),
            domain="S symmetric positive definite",
            source=eq(81, "2.4.2", "B = S^{-1}"),
        ),
        Identity(
            "inverse.mahalanobis_S",
            fam,
            r"x^T S^{-1} x",
            r"-S^{-T} x x^T S^{-T}",
            "S",
            "mixed",
            lambda S, x: x @ _inv(S) @ x,
            lambda S, x: -_inv(S).T @ jnp.outer(x, x) @ _inv(S).T,
            (In("S", "n n", "spd"), In("x", "n")),
            domain="S invertible (here SPD)",
            source=eq(61, "2.2", "a = b = x"),
        ),
        Identity(
            "gaussian.loglik_Sigma",
            fam,
            r"-\tfrac12 \log\det \Sigma - \tfrac12 x^T \Sigma^{-1} x",
            r"-\tfrac12 \Sigma^{-1} + \tfrac12 \Sigma^{-1} x x^T \Sigma^{-1}",
            "Sigma",
            "mixed",
            lambda Sigma, x: (
                -0.5 * jnp.linalg.slogdet(Sigma)[1] - 0.5 * x @ _inv(Sigma) @ x
            ),
            lambda Sigma, x: (
                -0.5 * _inv(Sigma) + 0.5 * _inv(Sigma) @ jnp.outer(x, x) @ _inv(Sigma)
            ),
            (In("Sigma", "n n", "spd"), In("x", "n")),
            domain="Sigma symmetric positive definite",
            source=mn("ch. 15 (maximum likelihood, multivariate normal)"),
            note="Entries of Sigma treated as independent (the unconstrained "
            "gradient, symmetric here).",
        ),
    ]


_SYM_NOTE = (
    "f is evaluated at the symmetric part (X + X^T)/2, so autodiff returns the "
    "gradient on the space of symmetric matrices under the trace inner product: "
    "the symmetric part of the unconstrained gradient. The Matrix Cookbook "
    "(§2.8.2) instead gives {cookbook}, which is the derivative with respect to "
    "the n(n+1)/2 distinct entries (see {vech}); read as a matrix gradient it "
    "counts every off-diagonal entry twice and is wrong for gradient steps "
    "(Srinivasan & Panda, 'What is the gradient of a matrix with a symmetric "
    "structure?', 2023)."
)
_VECH_NOTE = (
    "Derivative with respect to vech(X), the n(n+1)/2 distinct entries "
    "(column-major lower triangle): D_n^T vec(G) for the unconstrained gradient "
    "G, i.e. vech(2G - diag(G)) for symmetric G. This is the Matrix Cookbook's "
    "symmetric-matrix rule (§2.8.2), correct in this reading only."
)


def _symmetric() -> list[Identity]:
    fam = "symmetric"
    spd = In("X", "n n", "spd")
    v_spd = In("v", "T", "vech_spd")
    return [
        Identity(
            "symmetric.trace_AX",
            fam,
            r"\mathrm{tr}(A X),\ X = X^T",
            r"\tfrac12 (A + A^T)",
            "X",
            "mixed",
            lambda A, X: jnp.trace(A @ _sym(X)),
            lambda A, X: _sym(A),
            (In("A", "n n"), In("X", "n n", "symmetric")),
            domain="X symmetric",
            source=cookbook("§2.8.2 (corrected)"),
            note=_SYM_NOTE.format(
                cookbook="A + A^T - (A o I)", vech="symmetric.trace_AX_vech"
            ),
        ),
        Identity(
            "symmetric.trace_AX_vech",
            fam,
            r"\mathrm{tr}(A X),\ X = \mathrm{unvech}(v)",
            r"\mathrm{vech}(A + A^T - A \circ I)",
            "v",
            "mixed",
            lambda A, v: jnp.trace(A @ unvech(v)),
            lambda A, v: vech(A + A.T - jnp.diag(jnp.diagonal(A))),
            (In("A", "n n"), In("v", "T")),
            domain="v = vech(X), X symmetric",
            source=f"{cookbook('§2.8.2')}; {mn('ch. 18 (duplication matrix)')}",
            note=_VECH_NOTE,
        ),
        Identity(
            "symmetric.logdet",
            fam,
            r"\log \det(X),\ X = X^T \succ 0",
            r"X^{-1}",
            "X",
            "mixed",
            lambda X: jnp.linalg.slogdet(_sym(X))[1],
            lambda X: _inv(X),
            (spd,),
            domain="X symmetric positive definite",
            source=f"{SEED_0910} (Example 2 and Pitfalls, corrected); "
            f"{cookbook('§2.8.2 (corrected)')}",
            note=_SYM_NOTE.format(
                cookbook="2X^{-1} - (X^{-1} o I)", vech="symmetric.logdet_vech"
            ),
        ),
        Identity(
            "symmetric.logdet_vech",
            fam,
            r"\log \det(X),\ X = \mathrm{unvech}(v) \succ 0",
            r"\mathrm{vech}(2 X^{-1} - X^{-1} \circ I)",
            "v",
            "mixed",
            lambda v: jnp.linalg.slogdet(unvech(v))[1],
            lambda v: vech(
                2 * _inv(unvech(v)) - jnp.diag(jnp.diagonal(_inv(unvech(v))))
            ),
            (v_spd,),
            domain="v = vech(X), X symmetric positive definite",
            source=f"{SEED_0910} (the 2X^-1 - diag(X^-1) form); {cookbook('§2.8.2')}",
            note=_VECH_NOTE,
        ),
        Identity(
            "symmetric.det",
            fam,
            r"\det(X),\ X = X^T",
            r"\det(X)\, X^{-1}",
            "X",
            "mixed",
            lambda X: jnp.linalg.det(_sym(X)),
            lambda X: jnp.linalg.det(X) * _inv(X),
            (spd,),
            domain="X symmetric invertible (here SPD)",
            source=cookbook("§2.8.2 (corrected)"),
            note=_SYM_NOTE.format(
                cookbook="det(X)(2X^{-1} - (X^{-1} o I))", vech="symmetric.det_vech"
            ),
        ),
        Identity(
            "symmetric.det_vech",
            fam,
            r"\det(X),\ X = \mathrm{unvech}(v)",
            r"\det(X)\, \mathrm{vech}(2 X^{-1} - X^{-1} \circ I)",
            "v",
            "mixed",
            lambda v: jnp.linalg.det(unvech(v)),
            lambda v: (
                jnp.linalg.det(unvech(v))
                * vech(2 * _inv(unvech(v)) - jnp.diag(jnp.diagonal(_inv(unvech(v)))))
            ),
            (v_spd,),
            domain="v = vech(X), X symmetric invertible (here SPD)",
            source=cookbook("§2.8.2"),
            note=_VECH_NOTE,
        ),
    ]


def identities() -> list[Identity]:
    """The scalar-by-matrix identities."""
    return _traces() + _forms_and_norms() + _determinants() + _inverses() + _symmetric()
