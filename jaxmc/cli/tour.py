"""``jaxmc tour``: a short, self-checking tour of what jaxmc offers."""

from __future__ import annotations

import argparse

from jaxmc.cli import int_at_least, seed

# The tour forms Kronecker products of (n, n + 1) and (n + 2, n) matrices, about
# n^4 entries: 64 keeps them near 17 million.
_MAX_N = 64

HELP = "A short tour of jaxmc: each identity is computed and checked."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the tour's arguments (a size)."""
    parser.add_argument(
        "--n",
        type=int_at_least(1, _MAX_N),
        default=4,
        help=f"size of the random matrices, 1 to {_MAX_N} (default 4)",
    )
    parser.add_argument("--seed", type=seed, default=0, help="PRNG seed")


def _line(label: str, err: float, tol: float) -> bool:
    ok = err <= tol
    print(f"  {'ok ' if ok else 'BAD'}  {label:<44} max error {err:.1e}")
    return ok


def run(args: argparse.Namespace) -> int:
    """Prints the tour; returns 0 when every identity checks out."""
    import jax
    import jax.numpy as jnp

    import jaxmc

    n = args.n
    kA, kB, kX, kS = jax.random.split(jax.random.key(args.seed), 4)
    A = jax.random.normal(kA, (n, n + 1))
    B = jax.random.normal(kB, (n + 2, n))
    X = jax.random.normal(kX, (n + 1, n + 2))
    S = jax.random.normal(kS, (n, n))
    S = S + S.T
    tol = 1e2 * float(jnp.finfo(A.dtype).eps) * n * n

    def err(a, b):
        return float(jnp.max(jnp.abs(a - b)))

    print(f"jaxmc {jaxmc.__version__} on {jax.default_backend()} ({A.dtype})")
    print("vec / Kronecker toolkit (Magnus & Neudecker, column-major vec):")
    K = jaxmc.commutation_matrix(n, n + 1)
    D = jaxmc.duplication_matrix(n)
    L = jaxmc.elimination_matrix(n)
    v = jaxmc.vec(X)
    checks = [
        ("unvec(vec(X)) = X", err(jaxmc.unvec(v, X.shape), X), 0.0),
        ("K vec(A) = vec(A^T)", err(K @ jaxmc.vec(A), jaxmc.vec(A.T)), 0.0),
        ("D vech(S) = vec(S)", err(D @ jaxmc.vech(S), jaxmc.vec(S)), 0.0),
        ("L D = I", err(L @ D, jnp.eye(D.shape[1])), 0.0),
        (
            "vec(A X B) = (B^T kron A) vec(X)",
            err(jaxmc.vec(A @ X @ B), jnp.kron(B.T, A) @ v),
            tol,
        ),
        (
            "kron_matvec(B^T, A, v) = (B^T kron A) v",
            err(jaxmc.kron_matvec(B.T, A, v), jnp.kron(B.T, A) @ v),
            tol,
        ),
    ]
    ok = all(_line(label, e, t) for label, e, t in checks)
    return 0 if ok else 1
