"""Stochastic trace and diagonal estimation from matvecs with random probes.

* Hutchinson: ``tr(A) ~ (1/m) sum_i z_i^T A z_i`` with ``E[z z^T] = I``.
* Hutch++ (Meyer, Musco, Musco & Woodruff, 2021): the trace of a rank-``s``
  sketch ``Q Q^T A Q Q^T`` exactly, plus Hutchinson on the deflated rest
  ``(I - Q Q^T) A (I - Q Q^T)``; error ``O(1/m)`` instead of ``O(1/sqrt(m))``
  when the spectrum decays.
* XTrace (Epperly, Tropp & Webber, 2024): an exchangeable Hutch++ that uses
  every probe both in the sketch and in the residual estimate (leave-one-out),
  via matfree's ``stochtrace.leave_one_out_xtrace``.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmc import _checks
from jaxmc.spectrum import _io, _loops, _sharding
from jaxmc.spectrum._algebra import in_float32

__all__ = ["DiagonalEstimate", "TraceEstimate", "diagonal", "trace"]

_METHODS = ("hutch++", "hutchinson", "xtrace")
_PROBES = ("rademacher", "gaussian")


class TraceEstimate(NamedTuple):
    """A stochastic trace estimate.

    Attributes:
      estimate: the trace estimate (a scalar in the operator's dtype).
      std_error: its standard error, from the spread of the independent
        Hutchinson terms (or of the leave-one-out estimates for XTrace).
      num_matvecs: the number of matvecs used.
    """

    estimate: jax.Array
    std_error: jax.Array
    num_matvecs: int
    to_dict = _io.to_dict_method
    save = _io.save_method

    @property
    def ok(self) -> jax.Array:
        """True when the estimate and its standard error are finite (jittable).

        Under ``jax.jit`` a non-finite operator gives NaN without an error;
        test ``result.ok`` there, or raise inside the program with
        ``jax.experimental.checkify.check(result.ok, "...")`` under
        ``checkify.checkify``.
        """
        return jnp.isfinite(self.estimate) & jnp.isfinite(self.std_error)

    def __repr__(self) -> str:
        if not _checks.is_concrete((self.estimate, self.std_error)):
            return f"TraceEstimate(estimate={self.estimate}, ...)"
        return (
            f"TraceEstimate(estimate={float(self.estimate):.6g}, "
            f"std_error={float(self.std_error):.2g}, "
            f"num_matvecs={self.num_matvecs})"
        )


class DiagonalEstimate(NamedTuple):
    """A stochastic diagonal estimate.

    Attributes:
      estimate: the diagonal, shaped as ``op.unravel`` returns (a flat ``(n,)``
        vector for matrix operators, a parameter pytree for Hessians).
      std_error: the standard error of each entry, shaped like ``estimate``.
      num_matvecs: the number of matvecs used.
    """

    estimate: Any
    std_error: Any
    num_matvecs: int
    to_dict = _io.to_dict_method
    save = _io.save_method

    @property
    def ok(self) -> jax.Array:
        """True when every entry and standard error is finite (jittable).

        See :attr:`TraceEstimate.ok` for its use under ``jax.jit``.
        """
        return _loops.all_finite(self.estimate, self.std_error)

    def __repr__(self) -> str:
        return f"DiagonalEstimate(num_matvecs={self.num_matvecs}, ...)"


def _probes(key: jax.Array, shape: tuple[int, ...], dtype: Any, kind: str):
    if kind == "rademacher":
        return jax.random.rademacher(key, shape, dtype)
    return jax.random.normal(key, shape, dtype)


def _check_common(fn, op, key, num_matvecs, probes, minimum, check_symmetric):
    _loops.check_operator(fn, op, compiled=True)
    key = _checks.check_key(fn, "key", key)
    num_matvecs = _checks.static_int(fn, "num_matvecs", num_matvecs, minimum=minimum)
    _checks.check_one_of(fn, "probes", probes, _PROBES)
    if _loops.check_bool(fn, "check_symmetric", check_symmetric):
        _loops.check_symmetric(fn, op, key)
    return key, num_matvecs


def _std_error(samples: jax.Array, axis: int = 0) -> jax.Array:
    """``std(samples, ddof=1) / sqrt(m)`` along ``axis``, safe from underflow.

    The samples are divided by their largest magnitude (per entry along the
    other axes) before squaring, so that tiny operators (float32 at 1e-20 and
    below, where squares underflow to 0) do not report a zero error.
    """
    m = samples.shape[axis]
    scale = jnp.max(jnp.abs(samples), axis=axis, keepdims=True)
    scale = jnp.where(scale > 0, scale, 1.0)
    se = jnp.std(samples / scale, axis=axis, ddof=1, keepdims=True) * scale
    return jnp.squeeze(se, axis=axis) / np.sqrt(m)


def trace(
    op: Any,
    /,
    *,
    method: str = "hutch++",
    num_matvecs: int = 30,
    key: jax.Array,
    probes: str = "rademacher",
    check_symmetric: bool = False,
) -> TraceEstimate:
    r"""Estimates ``tr(A)`` from ``num_matvecs`` matvecs with random probes.

    ``"hutchinson"``: ``(1/m) sum_i z_i^T A z_i``, unbiased, standard error
    ``std(z^T A z) / sqrt(m)``. ``"hutch++"`` (the default): ``s = m // 3``
    probes ``S`` give an orthonormal basis ``Q`` of ``A S``; then
    ``tr(A) ~ tr(Q^T A Q) + (1/g) sum_i z_i^T (I - QQ^T) A (I - QQ^T) z_i`` with
    the remaining ``g = m - 2s`` probes; unbiased, with the standard error of
    the second term. ``"xtrace"``: matfree's XTrace with ``m // 2`` sphere
    probes (``probes`` ignored: XTrace needs rotation-invariant probes);
    the standard error is that of the leave-one-out estimates. When the
    sketch covers the whole operator (``2 (m // 2) >= n``), matfree forms it
    densely, which costs ``n`` matvecs; one more matvec sets the scale (so
    that tiny operators do not underflow in matfree's squares).

    The ``m`` probe vectors are drawn at once (``(m, n)`` numbers) and the
    matvecs applied one after another. Works under ``jax.jit`` with
    ``method``, ``num_matvecs`` and ``probes`` static.

    Args:
      op: a :class:`LinearOperator` of size ``n``. A float16 or bfloat16
        operator is seen in float32: only its matvec is 16-bit; probes, sums,
        the sketch's QR and the estimate are float32.
      method: ``"hutch++"``, ``"hutchinson"`` or ``"xtrace"``.
      num_matvecs: the budget ``m`` (at least 2; 4 for Hutch++ and XTrace).
      key: a PRNG key.
      probes: ``"rademacher"`` (random signs, the default; lower variance)
        or ``"gaussian"``.

      check_symmetric: test symmetry first with ``u'Av`` against ``v'Au`` on
        random pairs (four matvecs; eagerly), raising if the operator is not
        symmetric to ``sqrt(eps)``.

    Returns:
      A :class:`TraceEstimate` (estimate, std_error, num_matvecs).

    Raises:
      ValueError: for an unknown method or probe kind, too small a budget, or
        (eagerly) a matvec returning non-finite values.
      TypeError: if ``op`` is not an operator or ``key`` not a PRNG key.

    >>> import jax, jax.numpy as jnp
    >>> from jaxmc.spectrum import matrix_operator, trace
    >>> op = matrix_operator(jnp.diag(jnp.array([3.0, 2.0, 1.0, 0.0, 0.0, 0.0])))
    >>> round(float(trace(op, num_matvecs=9, key=jax.random.key(0)).estimate), 4)
    6.0
    """
    fn = "jaxmc.spectrum.trace"
    _checks.check_one_of(fn, "method", method, _METHODS)
    minimum = 2 if method == "hutchinson" else 4
    key, m = _check_common(fn, op, key, num_matvecs, probes, minimum, check_symmetric)
    op = in_float32(op)  # 16-bit: probes, sums and QR in float32
    est, se, finite = _loops.call_compiled(
        _trace_core,
        op,
        key,
        method=method,
        m=m,
        n=op.size,
        dtype=op.dtype,
        probes=probes,
    )
    used = m
    if method == "xtrace":
        num = _xtrace_samples(m, op.size)
        used = (2 * num if 2 * num < op.size else op.size) + 1
    _loops.raise_if_nonfinite(fn, op, key, finite)
    result = TraceEstimate(estimate=est, std_error=se, num_matvecs=used)
    if _checks.is_concrete(se) and float(se) > abs(float(est)):
        msg = (
            f"{fn}: the standard error {float(se):.3g} exceeds the estimate "
            f"{float(est):.3g} ({method}, {used} matvecs): the trace is not "
            f"resolved. Raise num_matvecs (the error falls like 1/num_matvecs "
            f"for hutch++ and xtrace, 1/sqrt(num_matvecs) for hutchinson)."
        )
        warnings.warn(msg, UserWarning, stacklevel=2)
    return result


def _xtrace_samples(m: int, n: int) -> int:
    return min(m // 2, n)


def _trace_core(factory, dynamic, key, *, method, m, n, dtype, probes):
    mv = _sharding.shard_matvec(factory.prepare(dynamic))
    if method == "hutchinson":
        Z = _sharding.constrain(_probes(key, (m, n), dtype, probes))
        samples = jnp.sum(Z * jax.lax.map(mv, Z), axis=1)
        est, se = jnp.mean(samples), _std_error(samples)
    elif method == "hutch++":
        s = m // 3
        g = m - 2 * s
        k1, k2 = jax.random.split(key)
        S = _sharding.constrain(_probes(k1, (s, n), dtype, probes))
        Y = jax.lax.map(mv, S)
        # Q is scale-free: normalise first so that tiny operators do not
        # underflow in the QR's column norms.
        Y = Y / jnp.maximum(jnp.max(jnp.abs(Y)), jnp.finfo(dtype).tiny)
        Q = jnp.linalg.qr(Y.T)[0]  # (n, s)
        Q = _sharding.constrain(Q, axis=0)
        top = jnp.sum(Q * jax.lax.map(mv, Q.T).T)
        G = _sharding.constrain(_probes(k2, (g, n), dtype, probes))
        G = G - (G @ Q) @ Q.T
        AG = jax.lax.map(mv, G)
        AG = AG - (AG @ Q) @ Q.T
        samples = jnp.sum(G * AG, axis=1)
        est = top + jnp.mean(samples)
        se = _std_error(samples) if g > 1 else jnp.zeros((), dtype)
    else:
        from matfree import stochtrace

        num = _xtrace_samples(m, n)
        sampler = stochtrace.sampler_sphere(jnp.zeros((n,), dtype), num=num)
        estimator = stochtrace.estimator_leave_one_out_mean_and_sem(
            stochtrace.leave_one_out_xtrace(), sampler
        )
        # One more matvec sets the scale: matfree squares the products, which
        # underflow for tiny operators (float32 below about 1e-19).
        z = jax.random.normal(jax.random.fold_in(key, 7), (n,), dtype)
        scale = jnp.max(jnp.abs(mv(z)))
        scale = jnp.where(scale > 0, scale, 1.0)

        def scaled(v):
            return mv(v) / scale

        # matfree relies on NumPy-style rank promotion.
        with jax.numpy_rank_promotion("allow"):
            est, se = estimator(scaled, key)
        est, se = est * scale, se * scale
    return est, se, _loops.all_finite(est)


def diagonal(
    op: Any,
    /,
    *,
    num_matvecs: int = 30,
    key: jax.Array,
    probes: str = "rademacher",
    check_symmetric: bool = False,
) -> DiagonalEstimate:
    r"""Estimates ``diag(A)`` from matvecs with random probes (Bekas et al., 2007).

    ``diag(A) ~ (1/m) sum_i z_i * (A z_i)`` (elementwise), unbiased for probes
    with ``E[z z^T] = I``; with Rademacher probes entry ``j`` has variance
    ``sum_{l != j} A_jl^2 / m``, so diagonally dominant operators are
    estimated well. Works under ``jax.jit`` with ``num_matvecs`` and ``probes``
    static.

    Args:
      op: a :class:`LinearOperator` of size ``n``. A float16 or bfloat16
        operator is seen in float32: only its matvec is 16-bit; probes and
        sums are float32, and the diagonal comes back in the operator's form
        and dtype.
      num_matvecs: the number of probes ``m`` (at least 2).
      key: a PRNG key.
      probes: ``"rademacher"`` (default) or ``"gaussian"``.
      check_symmetric: as for :func:`trace`.

    Returns:
      A :class:`DiagonalEstimate`: ``estimate`` and ``std_error`` shaped as
      ``op.unravel`` returns (parameter pytrees for Hessian operators).

    Raises:
      ValueError: for an unknown probe kind or ``num_matvecs < 2``.
      TypeError: if ``op`` is not an operator or ``key`` not a PRNG key.

    >>> import jax, jax.numpy as jnp
    >>> from jaxmc.spectrum import diagonal, matrix_operator
    >>> op = matrix_operator(jnp.diag(jnp.array([3.0, 2.0, 1.0])))
    >>> diagonal(op, num_matvecs=4, key=jax.random.key(0)).estimate.round(4).tolist()
    [3.0, 2.0, 1.0]
    """
    fn = "jaxmc.spectrum.diagonal"
    key, m = _check_common(fn, op, key, num_matvecs, probes, 2, check_symmetric)
    op = in_float32(op)  # 16-bit: probes and sums in float32
    est, se, finite = _loops.call_compiled(
        _diagonal_core, op, key, m=m, n=op.size, dtype=op.dtype, probes=probes
    )
    _loops.raise_if_nonfinite(fn, op, key, finite)
    return DiagonalEstimate(estimate=est, std_error=se, num_matvecs=m)


def _diagonal_core(factory, dynamic, key, *, m, n, dtype, probes):
    mv = _sharding.shard_matvec(factory.prepare(dynamic))
    Z = _sharding.constrain(_probes(key, (m, n), dtype, probes))
    samples = Z * jax.lax.map(mv, Z)
    est = _sharding.constrain(jnp.mean(samples, axis=0))
    se = _std_error(samples)
    finite = _loops.all_finite(est)
    unravel = functools.partial(factory.unravel, dynamic)
    tree = functools.partial(_sharding.constrain_tree, lead=0)
    return tree(unravel(est)), tree(unravel(se)), finite
