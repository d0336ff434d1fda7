"""Identities stated for every power k: tr(X^k), tr(A X^k), det(X^k), a^T X^k b.

Each record carries the power as a :class:`~jaxmc.identities.Param`: ``f`` and
the closed form take it as the keyword ``k`` and the catalog verifies several
values. The sums over ``r`` come from ``d(X^k) = sum_{r=0}^{k-1} X^r dX
X^{k-1-r}`` (Cookbook eq. 90). The Cookbook writes ``n`` for the power in
eqs. 91 and 92; the catalog writes ``k`` throughout.
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxmc.identities._record import Erratum, Identity, Param
from jaxmc.identities._record import Input as In
from jaxmc.identities._sources import eq

__all__ = ["identities"]


def _pow(X, r):
    return jnp.linalg.matrix_power(X, r)


def _tr_AXk_grad(A, X, *, k=3):
    return sum(_pow(X, r) @ A @ _pow(X, k - 1 - r) for r in range(k)).T


def _aTXkb_grad(a, X, b, *, k=3):
    return sum(_pow(X, r).T @ jnp.outer(a, b) @ _pow(X, k - 1 - r).T for r in range(k))


def _aTXkTXkb_grad(a, X, b, *, k=2):
    Xk = _pow(X, k)
    return sum(
        _pow(X, r).T
        @ (jnp.outer(Xk @ b, a) + jnp.outer(Xk @ a, b))
        @ _pow(X, k - 1 - r).T
        for r in range(k)
    )


def _aTXkTXkb_printed(a, X, b, *, k=2):
    """Cookbook eq. 92 as printed: the first term is the transpose of the right one."""
    Xk = _pow(X, k)
    return sum(
        _pow(X, k - 1 - r) @ jnp.outer(a, b) @ Xk.T @ _pow(X, r)
        + _pow(X, r).T @ Xk @ jnp.outer(a, b) @ _pow(X, k - 1 - r).T
        for r in range(k)
    )


def identities() -> list[Identity]:
    """The identities stated for every power k."""
    k_pos = "every integer k >= 1"
    return [
        Identity(
            "trace.Xk",
            "trace",
            r"\mathrm{tr}(X^k)",
            r"k\, (X^{k-1})^T",
            "X",
            "mixed",
            lambda X, *, k=3: jnp.trace(_pow(X, k)),
            lambda X, *, k=3: k * _pow(X, k - 1).T,
            (In("X", "n n", "square"),),
            domain="X square",
            source=eq(121, "2.5.3"),
            params=(Param("k", (1, 2, 5), k_pos),),
        ),
        Identity(
            "trace.AXk",
            "trace",
            r"\mathrm{tr}(A X^k)",
            r"\sum_{r=0}^{k-1} (X^r A X^{k-r-1})^T",
            "X",
            "mixed",
            lambda A, X, *, k=3: jnp.trace(A @ _pow(X, k)),
            _tr_AXk_grad,
            (In("A", "n n"), In("X", "n n", "square")),
            domain="X square",
            source=eq(122, "2.5.3"),
            params=(Param("k", (1, 2, 4), k_pos),),
        ),
        Identity(
            "det.Xk",
            "determinant",
            r"\det(X^k)",
            r"k \det(X^k)\, X^{-T}",
            "X",
            "mixed",
            lambda X, *, k=2: jnp.linalg.det(_pow(X, k)),
            lambda X, *, k=2: k * jnp.linalg.det(_pow(X, k)) * jnp.linalg.inv(X).T,
            (In("X", "n n", "invertible"),),
            domain="X invertible",
            source=eq(58, "2.1.4"),
            note="The Cookbook states it for k >= 1; with X invertible it holds "
            "for every integer k (det(X^k) = det(X)^k), negative k included.",
            params=(Param("k", (-2, 1, 3), "every integer k, X invertible"),),
        ),
        Identity(
            "linear.aTXkb",
            "matrix",
            r"a^T X^k b",
            r"\sum_{r=0}^{k-1} (X^r)^T a b^T (X^{k-1-r})^T",
            "X",
            "mixed",
            lambda a, X, b, *, k=3: a @ _pow(X, k) @ b,
            _aTXkb_grad,
            (In("a", "n"), In("X", "n n", "square"), In("b", "n")),
            domain="X square",
            source=eq(91, "2.4.3", "the power written n there"),
            params=(Param("k", (1, 2, 4), k_pos),),
        ),
        Identity(
            "quadratic.aTXkTXkb",
            "matrix",
            r"a^T (X^k)^T X^k b",
            r"\sum_{r=0}^{k-1} (X^r)^T X^k (b a^T + a b^T) (X^{k-1-r})^T",
            "X",
            "mixed",
            lambda a, X, b, *, k=2: (_pow(X, k) @ a) @ (_pow(X, k) @ b),
            _aTXkTXkb_grad,
            (In("a", "n"), In("X", "n n", "square"), In("b", "n")),
            domain="X square",
            source=eq(92, "2.4.3", "corrected"),
            note="From d f = (X^k b)^T dX^k a + (X^k a)^T dX^k b and dX^k = "
            "sum_r X^r dX X^{k-1-r}: the term from dX^k a is "
            "(X^r)^T X^k b a^T (X^{k-1-r})^T.",
            params=(Param("k", (1, 2, 3), k_pos),),
            erratum=Erratum(
                "Matrix Cookbook eq. 92",
                r"\sum_{r=0}^{n-1} [X^{n-1-r} a b^T (X^n)^T X^r + (X^r)^T X^n a b^T "
                r"(X^{n-1-r})^T]",
                "The first term is transposed: it should read "
                "(X^r)^T X^n b a^T (X^{n-1-r})^T. The printed form is wrong for "
                "every n, already for n = 1 (X (a b^T + b a^T) against "
                "a b^T X^T + X a b^T).",
                _aTXkTXkb_printed,
            ),
        ),
    ]
