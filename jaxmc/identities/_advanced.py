"""Second order, vec/Kronecker, spectral, matrix exponential and pseudo-inverse.

Hessians, derivatives of matrix-valued functions in vec layout, eigenvalue,
eigenvector and singular-value derivatives, the exponential's Frechet derivative
and the pseudo-inverse's derivative at full column rank.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl

from jaxmc.identities._record import Identity, Param
from jaxmc.identities._record import Input as In
from jaxmc.identities._sources import SEED_0910, SEED_FLASH, cookbook, eq, mn
from jaxmc.vec import commutation_matrix, vec

__all__ = ["identities"]


def _eye(n, like):
    return jnp.eye(n, dtype=like.dtype)


def _inv(X):
    return jnp.linalg.inv(X)


def _K(m, n, like):
    return commutation_matrix(m, n, dtype=like.dtype)


def _sym(X):
    return (X + X.T) / 2


def _second_order() -> list[Identity]:
    fam = "second_order"
    return [
        Identity(
            "hessian.xTAx",
            fam,
            r"x^T A x",
            r"A + A^T",
            "x",
            "mixed",
            lambda A, x: x @ A @ x,
            lambda A, x: A + A.T,
            (In("A", "n n"), In("x", "n")),
            source=f"{eq(97, '2.4.4')}; {mn('ch. 10')}",
            order=2,
        ),
        Identity(
            "hessian.Ax_minus_b_sq",
            fam,
            r"\|A x - b\|_2^2",
            r"2 A^T A",
            "x",
            "mixed",
            lambda A, x, b: jnp.sum((A @ x - b) ** 2),
            lambda A, x, b: 2 * A.T @ A,
            (In("A", "m n"), In("x", "n"), In("b", "m")),
            source=f"{SEED_0910}; {mn('ch. 10')}",
            order=2,
        ),
        Identity(
            "hessian.ridge",
            fam,
            r"\|X w - y\|_2^2 + \lambda \|w\|_2^2",
            r"2 X^T X + 2 \lambda I",
            "w",
            "mixed",
            lambda X, w, y, lam: jnp.sum((X @ w - y) ** 2) + lam * (w @ w),
            lambda X, w, y, lam: 2 * X.T @ X + 2 * lam * _eye(w.shape[0], w),
            (In("X", "m n"), In("w", "n"), In("y", "m"), In("lam", "", "positive")),
            domain="lambda > 0",
            source=mn("ch. 10"),
            order=2,
        ),
        Identity(
            "hessian.logsumexp",
            fam,
            r"\log \sum_i e^{x_i}",
            r"\mathrm{diag}(p) - p p^T,\ p = \mathrm{softmax}(x)",
            "x",
            "mixed",
            lambda x: jax.nn.logsumexp(x),
            lambda x: (
                jnp.diag(jax.nn.softmax(x))
                - jnp.outer(jax.nn.softmax(x), jax.nn.softmax(x))
            ),
            (In("x", "n"),),
            source=mn("ch. 10"),
            order=2,
        ),
        Identity(
            "hessian.softplus_wTx",
            fam,
            r"\log(1 + e^{w^T x})",
            r"\sigma(w^T x)(1 - \sigma(w^T x))\, w w^T",
            "x",
            "mixed",
            lambda w, x: jnp.logaddexp(0.0, w @ x),
            lambda w, x: (
                jax.nn.sigmoid(w @ x) * (1 - jax.nn.sigmoid(w @ x)) * jnp.outer(w, w)
            ),
            (In("w", "n"), In("x", "n")),
            source=f"{SEED_0910} (Practice Problem 6, differentiated again)",
            order=2,
        ),
        Identity(
            "hessian.norm_x",
            fam,
            r"\|x\|_2",
            r"(I - x x^T / \|x\|^2) / \|x\|",
            "x",
            "mixed",
            lambda x: jnp.sqrt(x @ x),
            lambda x: (
                (_eye(x.shape[0], x) - jnp.outer(x, x) / (x @ x)) / jnp.sqrt(x @ x)
            ),
            (In("x", "n", "nonzero"),),
            domain="x != 0",
            source=eq(130, "2.6.1", "a = 0, the Jacobian of the gradient"),
            order=2,
        ),
        Identity(
            "hessian.trXTAX",
            fam,
            r"\mathrm{tr}(X^T A X)",
            r"I_n \otimes (A + A^T)",
            "X",
            "vec",
            lambda A, X: jnp.trace(X.T @ A @ X),
            lambda A, X: jnp.kron(_eye(X.shape[1], X), A + A.T),
            (In("A", "m m"), In("X", "m n")),
            source=mn("ch. 10 (Hessian of a trace)"),
            order=2,
        ),
        Identity(
            "hessian.logdet",
            fam,
            r"\log |\det X|",
            r"-(X^{-1} \otimes X^{-T}) K_{nn}\quad "
            r"[d^2 = -\mathrm{tr}(X^{-1} dX\, X^{-1} dX)]",
            "X",
            "vec",
            lambda X: jnp.linalg.slogdet(X)[1],
            lambda X: -jnp.kron(_inv(X), _inv(X).T) @ _K(X.shape[0], X.shape[0], X),
            (In("X", "n n", "invertible"),),
            domain="X invertible",
            source=mn("ch. 10 (second differential of log|X|)"),
            order=2,
        ),
        Identity(
            "second_order.A_sq_affine",
            fam,
            r"A\, ((A x + b) \odot (A x + b)) + b",
            r"2 A\, \mathrm{diag}(A x + b)\, A",
            "x",
            "numerator",
            lambda A, b, x: A @ ((A @ x + b) * (A @ x + b)) + b,
            lambda A, b, x: 2 * A @ ((A @ x + b)[:, None] * A),
            (In("A", "n n"), In("b", "n"), In("x", "n")),
            source=f"{SEED_FLASH} (last card)",
        ),
    ]


def _vec_kron() -> list[Identity]:
    fam = "vec"
    return [
        Identity(
            "vec.AXB",
            fam,
            r"A X B",
            r"B^T \otimes A",
            "X",
            "vec",
            lambda A, X, B: A @ X @ B,
            lambda A, X, B: jnp.kron(B.T, A),
            (In("A", "p m"), In("X", "m n"), In("B", "n q")),
            source=mn("ch. 2 and 9"),
        ),
        Identity(
            "vec.AX",
            fam,
            r"A X",
            r"I_n \otimes A",
            "X",
            "vec",
            lambda A, X: A @ X,
            lambda A, X: jnp.kron(_eye(X.shape[1], X), A),
            (In("A", "p m"), In("X", "m n")),
            source=mn("ch. 9"),
        ),
        Identity(
            "vec.XB",
            fam,
            r"X B",
            r"B^T \otimes I_m",
            "X",
            "vec",
            lambda B, X: X @ B,
            lambda B, X: jnp.kron(B.T, _eye(X.shape[0], X)),
            (In("B", "n q"), In("X", "m n")),
            source=mn("ch. 9"),
        ),
        Identity(
            "vec.XT",
            fam,
            r"X^T",
            r"K_{mn}",
            "X",
            "vec",
            lambda X: X.T,
            lambda X: _K(X.shape[0], X.shape[1], X),
            (In("X", "m n"),),
            source=mn("ch. 3 (commutation matrix)"),
        ),
        Identity(
            "vec.XTX",
            fam,
            r"X^T X",
            r"(I_{n^2} + K_{nn})(I_n \otimes X^T)",
            "X",
            "vec",
            lambda X: X.T @ X,
            lambda X: (
                (_eye(X.shape[1] ** 2, X) + _K(X.shape[1], X.shape[1], X))
                @ jnp.kron(_eye(X.shape[1], X), X.T)
            ),
            (In("X", "m n"),),
            source=mn("ch. 9"),
        ),
        Identity(
            "vec.XXT",
            fam,
            r"X X^T",
            r"(I_{m^2} + K_{mm})(X \otimes I_m)",
            "X",
            "vec",
            lambda X: X @ X.T,
            lambda X: (
                (_eye(X.shape[0] ** 2, X) + _K(X.shape[0], X.shape[0], X))
                @ jnp.kron(X, _eye(X.shape[0], X))
            ),
            (In("X", "m n"),),
            source=mn("ch. 9"),
        ),
        Identity(
            "vec.X2",
            fam,
            r"X^2",
            r"I_n \otimes X + X^T \otimes I_n",
            "X",
            "vec",
            lambda X: X @ X,
            lambda X: (
                jnp.kron(_eye(X.shape[0], X), X) + jnp.kron(X.T, _eye(X.shape[0], X))
            ),
            (In("X", "n n", "square"),),
            source=mn("ch. 9"),
        ),
        Identity(
            "vec.hadamard_AX",
            fam,
            r"A \circ X",
            r"\mathrm{diag}(\mathrm{vec} A)",
            "X",
            "vec",
            lambda A, X: A * X,
            lambda A, X: jnp.diag(vec(A)),
            (In("A", "m n"), In("X", "m n")),
            source=mn("ch. 9"),
        ),
        Identity(
            "vec.kron_AX",
            fam,
            r"A \otimes X\ (A: m \times n,\ X: p \times q)",
            r"(I_n \otimes K_{qm} \otimes I_p)(\mathrm{vec} A \otimes I_{pq})",
            "X",
            "vec",
            lambda A, X: jnp.kron(A, X),
            lambda A, X: (
                jnp.kron(
                    jnp.kron(_eye(A.shape[1], A), _K(X.shape[1], A.shape[0], A)),
                    _eye(X.shape[0], A),
                )
                @ jnp.kron(vec(A)[:, None], _eye(X.size, A))
            ),
            (In("A", "m n"), In("X", "p q")),
            source=mn("Theorem 3.10 (vec of a Kronecker product)"),
        ),
        Identity(
            "kron.trace_AX",
            fam,
            r"\mathrm{tr}(A \otimes X)",
            r"\mathrm{tr}(A)\, I",
            "X",
            "mixed",
            lambda A, X: jnp.trace(jnp.kron(A, X)),
            lambda A, X: jnp.trace(A) * _eye(X.shape[0], X),
            (In("A", "m m"), In("X", "n n", "square")),
            source=eq(105, "2.5.1"),
        ),
        Identity(
            "kron.eig",
            fam,
            r"\mathrm{eig}(A \otimes B)",
            r"\{\alpha_i \beta_j\},\ \alpha = \mathrm{eig}(A),\ "
            r"\beta = \mathrm{eig}(B)",
            "A",
            "mixed",
            lambda A, B: jnp.linalg.eigvalsh(jnp.kron(A, B)),
            lambda A, B: jnp.sort(
                jnp.outer(jnp.linalg.eigvalsh(A), jnp.linalg.eigvalsh(B)).ravel()
            ),
            (In("A", "m m", "symmetric"), In("B", "n n", "symmetric")),
            domain="A, B square (here symmetric, so the spectra are real and are "
            "compared sorted)",
            source="Horn & Johnson, Topics in Matrix Analysis (1991), Theorem "
            f"4.2.12; {mn('ch. 2 (Kronecker product)')}",
            note="An algebraic identity (order 0): the value of f equals the "
            "closed form. With eigenvectors u_i kron w_j. K-FAC's exact spectrum "
            "(issue 13) rests on it.",
            order=0,
        ),
        Identity(
            "kron.logdet_A",
            fam,
            r"\log |\det(A \otimes B)|,\ B: n \times n",
            r"n\, A^{-T}",
            "A",
            "mixed",
            lambda A, B: jnp.linalg.slogdet(jnp.kron(A, B))[1],
            lambda A, B: B.shape[0] * _inv(A).T,
            (In("A", "m m", "invertible"), In("B", "n n", "invertible")),
            domain="A, B invertible",
            source="from kron.eig: det(A kron B) = det(A)^n det(B)^m; "
            f"{eq(57, '2.1.4')}",
        ),
        Identity(
            "kron.trace_XX",
            fam,
            r"\mathrm{tr}(X \otimes X)",
            r"2\, \mathrm{tr}(X)\, I",
            "X",
            "mixed",
            lambda X: jnp.trace(jnp.kron(X, X)),
            lambda X: 2 * jnp.trace(X) * _eye(X.shape[0], X),
            (In("X", "n n", "square"),),
            source=eq(120, "2.5.2"),
        ),
    ]


def _eigh_sym(A):
    return jnp.linalg.eigh(_sym(A))


def _eigvec_jac(A, k):
    lam, V = _eigh_sym(A)
    n = A.shape[0]
    gaps = lam[k] - lam
    inv_gaps = jnp.where(
        jnp.arange(n) == k % n, 0.0, 1.0 / jnp.where(gaps == 0, 1.0, gaps)
    )
    M = (V * inv_gaps[None, :]) @ V.T  # (lambda_k I - A)^+
    J = jnp.kron(V[:, k][None, :], M)
    return J @ (_eye(n * n, A) + _K(n, n, A)) / 2


def _svd_top(X):
    U, _, Vt = jnp.linalg.svd(X, full_matrices=False)
    return jnp.outer(U[:, 0], Vt[0])


def _spectral() -> list[Identity]:
    fam = "spectral"
    A = In("A", "n n", "symmetric_distinct")
    eig_note = (
        "f reads A through its symmetric part, so this is the gradient on "
        "symmetric matrices; it needs the eigenvalue to be simple."
    )
    return [
        Identity(
            "eig.lambda_max",
            fam,
            r"\lambda_{\max}(A),\ A = A^T",
            r"v v^T\quad [d\lambda = v^T dA\, v]",
            "A",
            "mixed",
            lambda A: _eigh_sym(A)[0][-1],
            lambda A: jnp.outer(_eigh_sym(A)[1][:, -1], _eigh_sym(A)[1][:, -1]),
            (A,),
            domain="A symmetric with distinct eigenvalues",
            source=f"{eq(67, '2.3')}; {mn('ch. 8 (eigenvalues)')}",
            note=eig_note,
        ),
        Identity(
            "eig.lambda_min",
            fam,
            r"\lambda_{\min}(A),\ A = A^T",
            r"v_1 v_1^T",
            "A",
            "mixed",
            lambda A: _eigh_sym(A)[0][0],
            lambda A: jnp.outer(_eigh_sym(A)[1][:, 0], _eigh_sym(A)[1][:, 0]),
            (A,),
            domain="A symmetric with distinct eigenvalues",
            source=f"{eq(67, '2.3')}; {mn('ch. 8 (eigenvalues)')}",
            note=eig_note,
        ),
        Identity(
            "eig.eigenvector_max",
            fam,
            r"v_{\max}(A),\ A = A^T",
            r"(v^T \otimes (\lambda I - A)^+)\, \tfrac12 (I + K_{nn})\quad "
            r"[dv = (\lambda I - A)^+ dA\, v]",
            "A",
            "vec",
            lambda A: _eigh_sym(A)[1][:, -1],
            lambda A: _eigvec_jac(A, -1),
            (A,),
            domain="A symmetric with distinct eigenvalues",
            source=f"{eq(68, '2.3')}; {mn('ch. 8 (eigenvectors)')}",
            note=eig_note + " The eigenvector's sign is the one eigh returns.",
        ),
        Identity(
            "eig.lambda_i",
            fam,
            r"\lambda_i(A),\ A = A^T",
            r"v_i v_i^T\quad [d\lambda_i = v_i^T dA\, v_i]",
            "A",
            "mixed",
            lambda A, *, i=1: _eigh_sym(A)[0][i],
            lambda A, *, i=1: jnp.outer(_eigh_sym(A)[1][:, i], _eigh_sym(A)[1][:, i]),
            (In("A", "M M", "symmetric_distinct"),),
            domain="A symmetric, lambda_i simple",
            source=f"{eq(67, '2.3')}; {mn('ch. 8 (eigenvalues)')}",
            note=eig_note + " i counts the eigenvalues in ascending order from 0; "
            "the verified i = 1, 2 are interior (A is at least 4 x 4).",
            params=(Param("i", (1, 2), "every simple eigenvalue lambda_i"),),
        ),
        Identity(
            "eig.eigenvector_i",
            fam,
            r"v_i(A),\ A = A^T",
            r"(v_i^T \otimes (\lambda_i I - A)^+)\, \tfrac12 (I + K_{nn})\quad "
            r"[dv_i = (\lambda_i I - A)^+ dA\, v_i]",
            "A",
            "vec",
            lambda A, *, i=1: _eigh_sym(A)[1][:, i],
            lambda A, *, i=1: _eigvec_jac(A, i),
            (In("A", "M M", "symmetric_distinct"),),
            domain="A symmetric, lambda_i simple",
            source=f"{eq(68, '2.3')}; {mn('ch. 8 (eigenvectors)')}",
            note=eig_note + " i counts from 0 in ascending order; the verified "
            "i = 1, 2 are interior. The eigenvector's sign is the one eigh "
            "returns.",
            params=(Param("i", (1, 2), "every simple eigenvalue lambda_i"),),
        ),
        Identity(
            "svd.spectral_norm",
            fam,
            r"\|X\|_2 = \sigma_1(X)",
            r"u_1 v_1^T",
            "X",
            "mixed",
            lambda X: jnp.linalg.svd(X, compute_uv=False)[0],
            _svd_top,
            (In("X", "m n", "distinct_singular_values"),),
            domain="X with a simple largest singular value",
            source="from d sigma_1 = u_1^T dX v_1 for a simple singular value",
        ),
        Identity(
            "svd.nuclear_norm",
            fam,
            r"\|X\|_* = \sum_i \sigma_i(X)",
            r"U V^T",
            "X",
            "mixed",
            lambda X: jnp.sum(jnp.linalg.svd(X, compute_uv=False)),
            lambda X: (lambda U, s, Vt: U @ Vt)(
                *jnp.linalg.svd(X, full_matrices=False)
            ),
            (In("X", "m n", "distinct_singular_values"),),
            domain="X of full rank (distinct singular values for autodiff)",
            source="from d sigma_i = u_i^T dX v_i for simple singular values",
        ),
    ]


def _expm_frechet(X, E):
    """L(X, E) = d/dt exp(X + tE) at 0: the top-right block of exp([[X, E], [0, X]])."""
    n = X.shape[0]
    Z = jnp.zeros_like(X)
    big = jnp.block([[X, E], [Z, X]])
    return jsl.expm(big)[:n, n:]


def _expm_jac(X):
    """Vec Jacobian of exp at X: int_0^1 exp((1-s)X^T) kron exp(sX) ds.

    The top-right block of exp([[I kron X, I], [0, X^T kron I]]) (Van Loan's
    block formula with Kronecker sums), one exponential of size 2n^2.
    """
    n = X.shape[0]
    eye_n, eye_nn = _eye(n, X), _eye(n * n, X)
    big = jnp.block(
        [[jnp.kron(eye_n, X), eye_nn], [jnp.zeros_like(eye_nn), jnp.kron(X.T, eye_n)]]
    )
    return jsl.expm(big)[: n * n, n * n :]


def _expm() -> list[Identity]:
    fam = "expm"
    return [
        Identity(
            "expm.directional",
            fam,
            r"e^{X + t E}",
            r"\int_0^1 e^{s(X + tE)} E\, e^{(1 - s)(X + tE)} ds = "
            r"\left[\exp\begin{pmatrix} X + tE & E \\ 0 & X + tE \end{pmatrix}"
            r"\right]_{12}",
            "t",
            "mixed",
            lambda X, E, t: jsl.expm(X + t * E),
            lambda X, E, t: _expm_frechet(X + t * E, E),
            (In("X", "n n", "square"), In("E", "n n", "square"), In("t", "")),
            source="Najfeld & Havel (1995), Higham, Functions of Matrices (2008) "
            f"§10.6; {mn('ch. 8')}",
        ),
        Identity(
            "expm.X",
            fam,
            r"e^{X}",
            r"\int_0^1 e^{(1 - s) X^T} \otimes e^{s X} ds",
            "X",
            "vec",
            lambda X: jsl.expm(X),
            _expm_jac,
            (In("X", "n n", "square"),),
            source=f"Higham, Functions of Matrices (2008) §10.2; {mn('ch. 8')}",
        ),
        Identity(
            "expm.flow",
            fam,
            r"x(t) = e^{A t} x_0",
            r"A e^{A t} x_0 = A x(t)",
            "t",
            "mixed",
            lambda A, x0, t: jsl.expm(A * t) @ x0,
            lambda A, x0, t: A @ jsl.expm(A * t) @ x0,
            (In("A", "n n", "square"), In("x0", "n"), In("t", "")),
            source=f"{SEED_0910} (matrix exponential flow)",
        ),
        Identity(
            "expm.trace",
            fam,
            r"\mathrm{tr}(e^X)",
            r"(e^X)^T",
            "X",
            "mixed",
            lambda X: jnp.trace(jsl.expm(X)),
            lambda X: jsl.expm(X).T,
            (In("X", "n n", "square"),),
            source=f"{eq(98, '2.5', 'F = exp')}; {mn('ch. 8')}",
        ),
    ]


def _pinv_jac(X):
    m, n = X.shape
    P = jnp.linalg.pinv(X)
    G = _inv(X.T @ X)
    R = _eye(m, X) - X @ P
    return -jnp.kron(P.T, P) + jnp.kron(R.T, G) @ _K(m, n, X)


def _pinv() -> list[Identity]:
    fam = "pinv"
    return [
        Identity(
            "pinv.X",
            fam,
            r"X^+\ (X \text{ full column rank})",
            r"-(X^{+T} \otimes X^+) + ((I - X X^+)^T \otimes (X^T X)^{-1}) K_{mn}"
            r"\quad [dX^+ = -X^+ dX\, X^+ + (X^T X)^{-1} dX^T (I - X X^+)]",
            "X",
            "vec",
            lambda X: jnp.linalg.pinv(X),
            _pinv_jac,
            (In("X", "M n", "full_column_rank"),),
            domain="X tall with full column rank (constant rank)",
            source="Golub & Pereyra (1973); "
            + cookbook("§3.6 (the pseudo-inverse; no equation for its derivative)"),
            note="The pseudo-inverse is differentiable only where the rank is "
            "locally constant; full column rank guarantees it.",
        ),
        Identity(
            "pinv.lstsq_b",
            fam,
            r"X^+ b",
            r"X^+",
            "b",
            "numerator",
            lambda X, b: jnp.linalg.pinv(X) @ b,
            lambda X, b: jnp.linalg.pinv(X),
            (In("X", "M n", "full_column_rank"), In("b", "M")),
            domain="X tall with full column rank",
            source=f"{SEED_0910} (normal equations: X^+ b solves X^T X w = X^T b)",
        ),
    ]


def identities() -> list[Identity]:
    """The second-order, vec/Kronecker, spectral, expm and pinv identities."""
    return _second_order() + _vec_kron() + _spectral() + _expm() + _pinv()
