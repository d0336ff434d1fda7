r"""Matrix Cookbook identities added with their equation numbers, and errata.

``tr((X + A)^{-1})`` (eq. 64), ``det(X^T A X)`` for square X and for tall X
with non-symmetric A (eqs. 52 and 54), the ``(X^T C X)^{-1}`` family (eqs. 125
to 127), ``tr(sin X)`` (eq. 128), and the ratio of quadratic forms (eq. 94).
Eqs. 94 and 127 are wrong as printed; their records state the corrected forms
and carry an :class:`~jaxmc.identities.Erratum` with the printed one.
"""

from __future__ import annotations

import jax.numpy as jnp
import jax.scipy.linalg as jsl

from jaxmc.identities._record import Erratum, Identity
from jaxmc.identities._record import Input as In
from jaxmc.identities._sources import eq

__all__ = ["identities"]


def _inv(X):
    return jnp.linalg.inv(X)


def _sin_cos(X):
    """(sin X, cos X): exp([[0, X], [-X, 0]]) = [[cos X, sin X], [-sin X, cos X]]."""
    n = X.shape[0]
    Z = jnp.zeros_like(X)
    E = jsl.expm(jnp.block([[Z, X], [-X, Z]]))
    return E[:n, n:], E[:n, :n]


def _det_XTAX_grad(A, X):
    M = X.T @ A @ X
    return jnp.linalg.det(M) * (A @ X @ _inv(M) + A.T @ X @ _inv(M.T))


def _tr_AXTCX_XTBX(A, B, C, X):
    return jnp.trace(_inv(A + X.T @ C @ X) @ (X.T @ B @ X))


def _tr_AXTCX_XTBX_grad(A, B, C, X):
    """-C X (Q + Q^T) + B X (M^-1 + M^-T); M = A + X^T C X, Q = M^-1 X^T B X M^-1."""
    Mi = _inv(A + X.T @ C @ X)
    Q = Mi @ X.T @ B @ X @ Mi
    return -C @ X @ (Q + Q.T) + B @ X @ (Mi + Mi.T)


def _tr_AXTCX_XTBX_printed(A, B, C, X):
    """Cookbook eq. 127 as printed (right when A is symmetric, as B and C are)."""
    Mi = _inv(A + X.T @ C @ X)
    return -2 * C @ X @ Mi @ X.T @ B @ X @ Mi + 2 * B @ X @ Mi


def _ratio(A, B, x):
    return (A @ x) @ (A @ x) / ((B @ x) @ (B @ x))


def _ratio_grad(A, B, x):
    num, den = (A @ x) @ (A @ x), (B @ x) @ (B @ x)
    return 2 * A.T @ A @ x / den - 2 * num * B.T @ B @ x / den**2


def _ratio_printed(A, B, x):
    """Cookbook eq. 94 as printed: x^T B B x in the first denominator."""
    num, den = (A @ x) @ (A @ x), (B @ x) @ (B @ x)
    return 2 * A.T @ A @ x / (x @ B @ B @ x) - 2 * num * B.T @ B @ x / den**2


def identities() -> list[Identity]:
    """The Cookbook identities cited by equation number, errata included."""
    tall = In("X", "M n", "full_column_rank")
    return [
        Identity(
            "inverse.trXplusAinv",
            "inverse",
            r"\mathrm{tr}((X + A)^{-1})",
            r"-((X + A)^{-1} (X + A)^{-1})^T",
            "X",
            "mixed",
            lambda A, X: jnp.trace(_inv(X + A)),
            lambda A, X: -(_inv(X + A) @ _inv(X + A)).T,
            (In("A", "n n", "small"), In("X", "n n", "invertible")),
            domain="X + A invertible",
            source=eq(64, "2.2"),
        ),
        Identity(
            "det.XTAX_square",
            "determinant",
            r"\det(X^T A X),\ X \text{ square}",
            r"2 \det(X^T A X)\, X^{-T}",
            "X",
            "mixed",
            lambda A, X: jnp.linalg.det(X.T @ A @ X),
            lambda A, X: 2 * jnp.linalg.det(X.T @ A @ X) * _inv(X).T,
            (In("A", "n n", "invertible"), In("X", "n n", "invertible")),
            domain="X square invertible, A any square (here invertible)",
            source=eq(52, "2.1.3"),
            note="A need not be symmetric: det(X^T A X) = det(X)^2 det(A).",
        ),
        Identity(
            "det.XTAX_nonsymmetric",
            "determinant",
            r"\det(X^T A X),\ A \ne A^T",
            r"\det(X^T A X)\, (A X (X^T A X)^{-1} + A^T X (X^T A^T X)^{-1})",
            "X",
            "mixed",
            lambda A, X: jnp.linalg.det(X.T @ A @ X),
            _det_XTAX_grad,
            (In("A", "M M", "positive_real"), tall),
            domain="X tall with full column rank, X^T A X invertible (here A "
            "has a positive definite symmetric part)",
            source=eq(54, "2.1.3"),
        ),
        Identity(
            "inverse.trXTCXinvA",
            "inverse",
            r"\mathrm{tr}((X^T C X)^{-1} A),\ C = C^T",
            r"-C X (X^T C X)^{-1} (A + A^T) (X^T C X)^{-1}",
            "X",
            "mixed",
            lambda A, C, X: jnp.trace(_inv(X.T @ C @ X) @ A),
            lambda A, C, X: -C @ X @ _inv(X.T @ C @ X) @ (A + A.T) @ _inv(X.T @ C @ X),
            (In("A", "n n"), In("C", "M M", "spd"), tall),
            domain="C symmetric (here SPD), X full column rank",
            source=eq(125, "2.5.4"),
        ),
        Identity(
            "inverse.trXTCXinvXTBX",
            "inverse",
            r"\mathrm{tr}((X^T C X)^{-1} (X^T B X)),\ B = B^T,\ C = C^T",
            r"-2 C X (X^T C X)^{-1} X^T B X (X^T C X)^{-1} + 2 B X (X^T C X)^{-1}",
            "X",
            "mixed",
            lambda B, C, X: jnp.trace(_inv(X.T @ C @ X) @ (X.T @ B @ X)),
            lambda B, C, X: (
                -2 * C @ X @ _inv(X.T @ C @ X) @ X.T @ B @ X @ _inv(X.T @ C @ X)
                + 2 * B @ X @ _inv(X.T @ C @ X)
            ),
            (In("B", "M M", "symmetric"), In("C", "M M", "spd"), tall),
            domain="B, C symmetric (here C SPD), X full column rank",
            source=eq(126, "2.5.4"),
        ),
        Identity(
            "inverse.trAXTCXinvXTBX_symmetric",
            "inverse",
            r"\mathrm{tr}((A + X^T C X)^{-1} (X^T B X)),\ A, B, C \text{ symmetric}",
            r"-2 C X (A + X^T C X)^{-1} X^T B X (A + X^T C X)^{-1} "
            r"+ 2 B X (A + X^T C X)^{-1}",
            "X",
            "mixed",
            _tr_AXTCX_XTBX,
            _tr_AXTCX_XTBX_printed,
            (
                In("A", "n n", "spd"),
                In("B", "M M", "symmetric"),
                In("C", "M M", "spd"),
                tall,
            ),
            domain="A, B, C symmetric (here A, C SPD), X full column rank",
            source=eq(127, "2.5.4", "with A symmetric too"),
            note="The printed form, under the assumption it needs: A symmetric "
            "as well as B and C (the Cookbook assumes only B and C). See "
            "inverse.trAXTCXinvXTBX for any A.",
        ),
        Identity(
            "inverse.trAXTCXinvXTBX",
            "inverse",
            r"\mathrm{tr}((A + X^T C X)^{-1} (X^T B X)),\ B, C \text{ symmetric}",
            r"-C X (Q + Q^T) + B X (M^{-1} + M^{-T}),\ M = A + X^T C X,\ "
            r"Q = M^{-1} X^T B X M^{-1}",
            "X",
            "mixed",
            _tr_AXTCX_XTBX,
            _tr_AXTCX_XTBX_grad,
            (
                In("A", "n n", "positive_real"),
                In("B", "M M", "symmetric"),
                In("C", "M M", "spd"),
                tall,
            ),
            domain="B, C symmetric (here C SPD), A + X^T C X invertible (here A "
            "not symmetric, with a positive definite symmetric part)",
            source=eq(127, "2.5.4", "corrected"),
            note="From d M^{-1} = -M^{-1} dM M^{-1}: "
            "df = -tr(Q dM) + tr(M^{-1} d(X^T B X)). With A symmetric, M and Q "
            "are symmetric and this is the printed form.",
            erratum=Erratum(
                "Matrix Cookbook eq. 127",
                r"-2 C X (A + X^T C X)^{-1} X^T B X (A + X^T C X)^{-1} "
                r"+ 2 B X (A + X^T C X)^{-1},\ B, C \text{ symmetric}",
                "Needs A symmetric too: the factor 2 pairs each term with its "
                "transpose, which holds only when M = A + X^T C X is symmetric. "
                "For any A the derivative is -C X (Q + Q^T) + B X (M^{-1} + "
                "M^{-T}).",
                _tr_AXTCX_XTBX_printed,
            ),
        ),
        Identity(
            "trace.sinX",
            "trace",
            r"\mathrm{tr}(\sin X)",
            r"\cos(X)^T",
            "X",
            "mixed",
            lambda X: jnp.trace(_sin_cos(X)[0]),
            lambda X: _sin_cos(X)[1].T,
            (In("X", "n n", "square"),),
            domain="X square (matrix sine and cosine)",
            source=f"{eq(128, '2.5.4')}; {eq(98, '2.5', 'tr F(X) gives f(X)^T')}",
            note="sin X and cos X are the blocks of exp([[0, X], [-X, 0]]).",
        ),
        Identity(
            "quadratic.ratio_AxBx",
            "vector",
            r"\frac{(A x)^T (A x)}{(B x)^T (B x)}",
            r"\frac{2 A^T A x}{x^T B^T B x} - "
            r"\frac{2\, x^T A^T A x\, B^T B x}{(x^T B^T B x)^2}",
            "x",
            "mixed",
            _ratio,
            _ratio_grad,
            (In("A", "m n"), In("B", "n n", "invertible"), In("x", "n", "nonzero")),
            domain="B x != 0 (here B invertible, x != 0)",
            source=eq(94, "2.4.3", "corrected"),
            note="The quotient rule on x^T A^T A x / x^T B^T B x.",
            erratum=Erratum(
                "Matrix Cookbook eq. 94",
                r"\frac{2 A^T A x}{x^T B B x} - "
                r"\frac{2\, x^T A^T A x\, B^T B x}{(x^T B^T B x)^2}",
                "The first denominator should be x^T B^T B x, not x^T B B x; "
                "the two agree only for symmetric B.",
                _ratio_printed,
            ),
        ),
    ]
