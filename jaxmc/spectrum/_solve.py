r"""Inverses by conjugate gradients and log-determinants by SLQ.

:func:`inverse` wraps a symmetric positive definite operator ``A`` (a damped
curvature matrix, ``op.damped(lam)``) as the operator ``b -> A^{-1} b``, each
matvec a conjugate-gradient solve; :meth:`InverseOperator.solve` also reports
the iterations and the relative residual ``||b - A x|| / ||b||``.

:func:`logdet` estimates ``log det A = tr log A`` by stochastic Lanczos
quadrature (Ubaru, Chen & Saad 2017): for Rademacher probes ``z``,
``z^T log(A) z`` is approximated by the Gauss quadrature of ``m`` Lanczos
steps from ``z``, ``||z||^2 sum_j w_j log(theta_j)``; the mean over probes
estimates the log-determinant and their spread gives its standard error.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmc import _checks, _xla
from jaxmc.spectrum import _loops
from jaxmc.spectrum._algebra import in_float32
from jaxmc.spectrum._lanczos import gauss_quadrature, lanczos_tridiag
from jaxmc.spectrum._operator import LinearOperator, MatvecFactory

__all__ = ["InverseOperator", "LogdetEstimate", "SolveResult", "inverse", "logdet"]


class SolveResult(NamedTuple):
    """The result of one conjugate-gradient solve ``A x = b``.

    Attributes:
      x: the solution, in the form ``b`` was given (flat or a pytree).
      iterations: the number of CG iterations (one matvec each), an int array.
      residual: the relative residual ``||b - A x|| / ||b||``, recomputed with
        an explicit matvec (0 when ``b = 0``).
      converged: ``residual <= tol``.
    """

    x: Any
    iterations: jax.Array
    residual: jax.Array
    converged: jax.Array


def _cg(matvec, b, tol, maxiter):
    """Conjugate gradients from x = 0; returns (x, iterations, rel. residual)."""
    dtype = b.dtype
    bnorm = jnp.linalg.norm(b)
    thresh2 = (tol * bnorm) ** 2
    tiny = jnp.finfo(dtype).tiny

    def cond(s):
        _, r, _, rs, it = s
        return (rs > thresh2) & (it < maxiter)

    def body(s):
        x, r, p, rs, it = s
        Ap = matvec(p)
        alpha = rs / jnp.maximum(jnp.vdot(p, Ap), tiny)
        x = x + alpha * p
        r = r - alpha * Ap
        rs_new = jnp.vdot(r, r)
        p = r + (rs_new / jnp.maximum(rs, tiny)) * p
        return x, r, p, rs_new, it + 1

    init = (jnp.zeros_like(b), b, b, jnp.vdot(b, b), jnp.zeros((), jnp.int32))
    x, _, _, _, it = jax.lax.while_loop(cond, body, init)
    res = jnp.linalg.norm(b - matvec(x)) / jnp.maximum(bnorm, tiny)
    return x, it, res


@dataclasses.dataclass(frozen=True)
class _CGFactory(MatvecFactory):
    """``b -> A^{-1} b`` by CG, with ``(A's dynamic, tol)`` dynamic."""

    f: MatvecFactory
    maxiter: int

    def prepare(self, dynamic: Any) -> Callable[[jax.Array], jax.Array]:
        d, tol = dynamic
        m = self.f.prepare(d)
        return lambda b: _cg(m, b, tol, self.maxiter)[0]

    def ravel(self, dynamic: Any, tree: Any) -> jax.Array:
        return self.f.ravel(dynamic[0], tree)

    def unravel(self, dynamic: Any, v: jax.Array) -> Any:
        return self.f.unravel(dynamic[0], v)


@functools.partial(_xla.jit, static_argnums=(0, 1))
def _solve_jit(factory: MatvecFactory, maxiter: int, dynamic: Any, tol, b):
    return _cg(factory.prepare(dynamic), b, tol, maxiter)


class InverseOperator(LinearOperator):
    """``A^{-1}`` as an operator: each matvec solves ``A x = b`` by CG.

    Built by :func:`inverse`. ``matvec`` returns the solution only;
    :meth:`solve` also reports iterations and residual. The solve compiles
    once per operator factory and shapes (a fresh ``A`` of the same kind
    reuses the program).

    Attributes:
      operator: ``A``; ``tol``: the relative residual tolerance; ``maxiter``:
        the iteration limit.
    """

    operator: LinearOperator
    tol: float
    maxiter: int

    def solve(self, b: Any) -> SolveResult:
        """Solves ``A x = b`` by conjugate gradients and reports how well.

        Args:
          b: the right-hand side, flat ``(n,)`` or a pytree like the
            operator's parameters.

        Returns:
          A :class:`SolveResult` (``x`` in the form of ``b``).
        """
        flat = isinstance(b, jax.Array | np.ndarray) and np.shape(b) == (self.size,)
        bv = jnp.asarray(b, self.dtype) if flat else self.ravel(b)
        op = self.operator
        x, it, res = _solve_jit(
            op.factory, self.maxiter, op.dynamic, jnp.asarray(self.tol, self.dtype), bv
        )
        return SolveResult(x if flat else self.unravel(x), it, res, res <= self.tol)


def inverse(
    op: Any, /, *, tol: float = 1e-6, maxiter: int | None = None
) -> InverseOperator:
    r"""The inverse of a symmetric positive definite operator, by conjugate gradients.

    ``inverse(A) @ b`` runs CG on ``A x = b`` from ``x = 0`` until
    ``||r|| <= tol ||b||`` or ``maxiter`` iterations (one matvec each), all
    inside one ``jax.lax.while_loop`` (a Python loop for streamed data).
    Curvature matrices are only semi-definite: invert ``op.damped(lam)``.

    Args:
      op: a symmetric positive definite :class:`LinearOperator` ``A``. For a
        float16 or bfloat16 ``A`` the inverse is a float32 operator: CG runs
        in float32 around ``A``'s 16-bit matvec, whose rounding (about
        ``eps16 ||A|| ||x||``) bounds the residual it can reach.
      tol: the relative residual tolerance.
      maxiter: the iteration limit (default ``10 n``).

    Returns:
      An :class:`InverseOperator` of the same size; ``.matvec(b)`` gives ``x``
      and ``.solve(b)`` a :class:`SolveResult` with iterations and residual.

    Raises:
      TypeError: if ``op`` is not a LinearOperator.
      ValueError: if ``tol`` is not positive or ``maxiter < 1``.

    >>> import jax.numpy as jnp
    >>> from jaxmc.spectrum import inverse, matrix_operator
    >>> inv = inverse(matrix_operator(jnp.array([[2.0, 1.0], [1.0, 3.0]])), tol=1e-5)
    >>> res = inv.solve(jnp.array([3.0, 5.0]))
    >>> [round(float(x), 4) for x in res.x], bool(res.converged)
    ([0.8, 1.4], True)
    """
    fn = "jaxmc.spectrum.inverse"
    op = in_float32(_loops.check_operator(fn, op))
    tol = _positive(fn, "tol", tol)
    if maxiter is None:
        maxiter = 10 * op.size
    maxiter = _checks.static_int(fn, "maxiter", maxiter, minimum=1)
    inv = InverseOperator.from_factory(
        _CGFactory(op.factory, maxiter),
        (op.dynamic, jnp.asarray(tol, op.dtype)),
        size=op.size,
        dtype=op.dtype,
        name=f"inverse({op.name})",
        traceable=op.traceable,
    )
    inv.operator, inv.tol, inv.maxiter = op, tol, maxiter
    return inv


def _positive(fn: str, name: str, x: Any) -> float:
    try:
        x = float(x)
    except (TypeError, ValueError):
        msg = f"{fn}: argument `{name}` must be a positive float; got {x!r}."
        raise TypeError(msg) from None
    if not x > 0:
        msg = f"{fn}: argument `{name}` must be > 0; got {x}."
        raise ValueError(msg)
    return x


class LogdetEstimate(NamedTuple):
    """A stochastic estimate of ``log det A``.

    Attributes:
      estimate: the mean over probes, ``()``.
      std_error: its standard error, ``std / sqrt(num_probes)``, ``()``.
      samples: the per-probe estimates ``(num_probes,)``.
      num_matvecs: ``num_probes * lanczos_steps``.
    """

    estimate: jax.Array
    std_error: jax.Array
    samples: jax.Array
    num_matvecs: int

    def __repr__(self) -> str:
        if not _checks.is_concrete(self.estimate):
            return "LogdetEstimate(...)"
        return (
            f"LogdetEstimate(estimate={float(self.estimate):.6g}, "
            f"std_error={float(self.std_error):.2g}, "
            f"num_matvecs={self.num_matvecs})"
        )


def _logdet_core(factory, dynamic, key, *, n, dtype, num_probes, steps):
    matvec = factory.prepare(dynamic)

    def one(k):
        z = jax.random.rademacher(k, (n,), dtype)
        alpha, beta, _ = lanczos_tridiag(matvec, z, steps)
        nodes, weights = gauss_quadrature(alpha, beta[:-1])
        used = weights > 0
        safe = jnp.where(used, nodes, 1.0)
        bad = jnp.any(used & (nodes <= 0))
        return n * jnp.sum(jnp.where(used, weights * jnp.log(jnp.abs(safe)), 0)), bad

    keys = jax.random.split(key, num_probes)
    return jax.lax.map(one, keys)


def logdet(
    op: Any,
    /,
    *,
    key: jax.Array,
    num_probes: int = 30,
    lanczos_steps: int = 30,
) -> LogdetEstimate:
    r"""The log-determinant of a symmetric positive definite operator, by SLQ.

    .. math::
        \log\det A = \operatorname{tr} \log A
        \approx \frac{1}{R} \sum_{r=1}^R n \sum_{j=1}^m w_{rj} \log \theta_{rj},

    with Rademacher probes ``z_r`` (``||z_r||^2 = n``) and the Gauss
    quadrature nodes ``theta`` and weights ``w`` of ``m`` Lanczos steps from
    each. The quadrature error falls exponentially in ``m`` (at a rate set by
    the condition number); the probe error as ``1/sqrt(R)``, and
    ``std_error`` estimates it. For Laplace approximations invert and take
    log-determinants of ``op.damped(prior_precision)``.

    Args:
      op: a symmetric positive definite :class:`LinearOperator`. A float16
        or bfloat16 operator is seen in float32: only its matvec is 16-bit;
        the Lanczos runs, quadrature and estimate are float32.
      key: a PRNG key for the probes.
      num_probes: ``R`` (at least 2, for a standard error).
      lanczos_steps: ``m`` (at most ``n``).

    Returns:
      A :class:`LogdetEstimate`: ``estimate``, ``std_error``, ``samples``,
      ``num_matvecs``.

    Raises:
      TypeError: for a non-operator or a bad key.
      ValueError: for ``num_probes < 2``, ``lanczos_steps`` outside ``[1,
        n]``, or (on concrete values) a Ritz value ``<= 0``: the operator is
        not positive definite (damp it).

    >>> import jax, jax.numpy as jnp
    >>> from jaxmc.spectrum import logdet, matrix_operator
    >>> op = matrix_operator(jnp.diag(jnp.array([1.0, 2.0, 4.0])))
    >>> est = logdet(op, key=jax.random.key(0), num_probes=4, lanczos_steps=3)
    >>> round(float(est.estimate), 4), round(float(jnp.log(8.0)), 4)
    (2.0794, 2.0794)
    """
    fn = "jaxmc.spectrum.logdet"
    op = in_float32(_loops.check_operator(fn, op, compiled=True))
    key = _checks.check_key(fn, "key", key)
    num_probes = _checks.static_int(fn, "num_probes", num_probes, minimum=2)
    steps = _checks.static_int(fn, "lanczos_steps", lanczos_steps, minimum=1)
    if steps > op.size:
        msg = (
            f"{fn}: argument `lanczos_steps` must be at most the operator size "
            f"{op.size}; got {steps}."
        )
        raise ValueError(msg)
    samples, bad = _loops.call_compiled(
        _logdet_core,
        op,
        key,
        n=op.size,
        dtype=op.dtype,
        num_probes=num_probes,
        steps=steps,
    )
    if _checks.is_concrete(bad) and bool(jnp.any(bad)):
        msg = (
            f"{fn}: the operator is not positive definite (Lanczos found an "
            f"eigenvalue <= 0); add damping with op.damped(lam), lam > 0."
        )
        raise ValueError(msg)
    est = jnp.mean(samples)
    std = jnp.std(samples, ddof=1) / math.sqrt(num_probes)
    return LogdetEstimate(est, std, samples, num_probes * steps)
