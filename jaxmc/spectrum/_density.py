r"""Spectral densities of symmetric operators: SLQ and the kernel polynomial method.

The spectral density of a symmetric ``n x n`` operator ``A`` with eigenvalues
``lambda_1, ..., lambda_n`` is the measure

    phi(t) = (1/n) sum_i delta(t - lambda_i),

which integrates to 1. Both estimators here see ``A`` only through matvecs and
return it smoothed on a grid of points.

* :func:`spectral_density`, stochastic Lanczos quadrature (SLQ; Golub & Meurant
  2010, Lin, Saad & Yang 2016, Ghorbani, Krishnan & Xiao 2019): for a random unit
  probe ``v``, ``v^T f(A) v = sum_j w_j f(theta_j)`` exactly for polynomials of
  degree ``< 2m``, with the Gauss quadrature nodes ``theta_j`` and weights
  ``w_j`` read off the eigen-decomposition of the ``m x m`` Lanczos tridiagonal
  (Golub-Welsch). Averaged over probes, ``E[v^T f(A) v] = (1/n) tr f(A)``; with
  ``f`` a Gaussian kernel this is the smoothed density.
* :func:`kpm_density`, the kernel polynomial method (Weisse et al. 2006): the
  Chebyshev moments ``mu_k = (1/n) tr T_k(B)`` of the operator scaled into
  ``[-1, 1]`` (``B = (A - c) / h``), estimated with Rademacher probes, summed
  with Jackson damping.

Outliers and bulk (``deflate=k``): the top ``k`` eigenpairs are computed to full
accuracy by :func:`jaxmc.spectrum.eigenvalues` (thick-restart Lanczos to its
default residual tolerance, eigenvalues to about ``eps * ||A||``) and the
density of the rest (the bulk) is estimated on the deflated operator ``P A P``
restricted to the range of ``P = I - V V^T``. The convention:
the ``k`` outliers are point masses of ``1/n`` each, reported in ``outliers``;
the smooth ``density`` holds the bulk and integrates to ``(n - k) / n``
(``bulk_mass``), so bulk plus point masses integrate to 1.
"""

from __future__ import annotations

import math
import statistics
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmc import _checks
from jaxmc.spectrum import _budget, _io, _sharding
from jaxmc.spectrum._algebra import in_float32
from jaxmc.spectrum._eigen import _lanczos, eigen_options
from jaxmc.spectrum._lanczos import gauss_quadrature, lanczos_tridiag, tridiag_eigh
from jaxmc.spectrum._loops import (
    all_finite,
    call_compiled,
    check_bool,
    check_operator,
    raise_if_nonfinite,
)
from jaxmc.spectrum._loops import check_symmetric as check_symmetric_op
from jaxmc.spectrum._operator import LinearOperator

__all__ = ["KPMDensity", "SpectralDensity", "kpm_density", "spectral_density"]

_DEFAULT_POINTS = 1000
# Runs are vmapped together while runs * steps * n stays below this many entries
# (the Lanczos bases held at once); beyond it they run in smaller batches.
_BATCH_ENTRIES = 2**24


def _fmt(x: Any) -> str:
    try:
        return f"{float(x):.4g}"
    except (TypeError, jax.errors.ConcretizationTypeError):
        return "?"


class SpectralDensity(NamedTuple):
    """A spectral density estimated by stochastic Lanczos quadrature.

    Attributes:
      grid: the points ``(g,)`` where the density is evaluated.
      density: the smoothed density ``(g,)``, the mean over runs. It integrates
        to ``bulk_mass`` (1 without deflation).
      lower: the lower edge ``(g,)`` of the pointwise confidence band on
        ``density`` (clipped at 0).
      upper: the upper edge ``(g,)`` of the band.
      nodes: the Gauss quadrature nodes (Ritz values), ``(num_runs, m)``.
      weights: their weights ``(num_runs, m)``; each row sums to ``bulk_mass``.
      outliers: the deflated top eigenvalues ``(k,)``, in descending order, each
        a point mass of ``1/n`` (empty without deflation).
      sigma: the standard deviation of the Gaussian smoothing kernel, ``()``.
      bulk_mass: ``(n - k) / n``, ``()``.
    """

    grid: jax.Array
    density: jax.Array
    lower: jax.Array
    upper: jax.Array
    nodes: jax.Array
    weights: jax.Array
    outliers: jax.Array
    sigma: jax.Array
    bulk_mass: jax.Array
    to_dict = _io.to_dict_method
    save = _io.save_method

    @property
    def ok(self) -> jax.Array:
        """True when the density, band, nodes and outliers are finite (jittable).

        Under ``jax.jit`` a non-finite operator gives NaN without an error;
        test ``result.ok`` there, or raise inside the program with
        ``jax.experimental.checkify.check(result.ok, "...")`` under
        ``checkify.checkify``.
        """
        return all_finite(
            self.density, self.lower, self.upper, self.nodes, self.outliers
        )

    def __repr__(self) -> str:
        runs, m = self.nodes.shape
        outs = ", ".join(_fmt(o) for o in self.outliers)
        return (
            f"SpectralDensity(grid=[{_fmt(self.grid[0])}, {_fmt(self.grid[-1])}] "
            f"x {self.grid.shape[0]}, runs={runs}, lanczos_steps={m}, "
            f"sigma={_fmt(self.sigma)}, outliers=[{outs}], "
            f"bulk_mass={_fmt(self.bulk_mass)})"
        )


class KPMDensity(NamedTuple):
    """A spectral density estimated by the kernel polynomial method.

    Attributes:
      grid: the points ``(g,)`` where the density is evaluated.
      density: the damped Chebyshev series ``(g,)``, averaged over probes (zero
        outside ``bounds``).
      lower: the lower edge ``(g,)`` of the pointwise confidence band (clipped
        at 0).
      upper: the upper edge ``(g,)`` of the band.
      moments: the estimated Chebyshev moments ``(num_moments,)`` (undamped).
      bounds: the interval ``(2,)`` mapped onto ``[-1, 1]``.
      outliers: always empty ``(0,)`` (KPM does not deflate); kept so that both
        results plot alike.
    """

    grid: jax.Array
    density: jax.Array
    lower: jax.Array
    upper: jax.Array
    moments: jax.Array
    bounds: jax.Array
    outliers: jax.Array
    to_dict = _io.to_dict_method
    save = _io.save_method

    @property
    def ok(self) -> jax.Array:
        """True when the result is finite and ``bounds`` hold the spectrum (jittable).

        Every Chebyshev moment of a spectrum inside ``bounds`` is at most 1 in
        magnitude; a larger one means that eigenvalues lie outside and the
        series diverges. Eagerly that raises; under ``jax.jit`` test
        ``result.ok`` (or ``jax.experimental.checkify.check(result.ok, ...)``).
        """
        limit = 1.0 + _moment_slack(self.moments.dtype)
        return all_finite(self.density, self.lower, self.upper, self.moments) & (
            jnp.max(jnp.abs(self.moments)) <= limit
        )

    def __repr__(self) -> str:
        return (
            f"KPMDensity(grid=[{_fmt(self.grid[0])}, {_fmt(self.grid[-1])}] "
            f"x {self.grid.shape[0]}, num_moments={self.moments.shape[0]}, "
            f"bounds=[{_fmt(self.bounds[0])}, {_fmt(self.bounds[1])}])"
        )


# --------------------------------------------------------------------------- checks


def _check_grid(fn: str, grid: Any, dtype: Any) -> jax.Array | int:
    """Returns a number of points (int) or a rank-1 grid array of ``dtype``."""
    if grid is None:
        return _DEFAULT_POINTS
    if isinstance(grid, int | np.integer) and not isinstance(grid, bool):
        return _checks.static_int(fn, "grid", grid, minimum=2)
    grid = _checks.as_array(fn, "grid", grid)
    _checks.check_rank(fn, "grid", grid, 1)
    if grid.shape[0] < 2:
        msg = f"{fn}: argument `grid` must hold at least 2 points; got {grid.shape[0]}."
        raise ValueError(msg)
    _checks.check_floating(fn, "grid", grid)
    _checks.check_finite(fn, "grid", grid)
    return grid.astype(dtype)


def _check_positive(fn: str, name: str, x: Any) -> None:
    """None, or a positive finite real scalar (a traced one is not value-checked)."""
    if x is None:
        return
    real = isinstance(x, float | int | np.integer | np.floating) and not isinstance(
        x, bool | np.bool_
    )
    if not real and isinstance(x, jax.Array | np.ndarray):
        real = x.shape == () and (
            jnp.issubdtype(x.dtype, jnp.floating)
            or jnp.issubdtype(x.dtype, jnp.integer)
        )
    if not real:
        msg = (
            f"{fn}: argument `{name}` must be None or a positive real scalar; got "
            f"{_checks.describe(x) if hasattr(x, 'shape') else repr(x)}."
        )
        raise TypeError(msg)
    if not _checks.is_concrete(x):
        return
    value = float(np.asarray(x))
    if not np.isfinite(value) or value <= 0:
        msg = (
            f"{fn}: argument `{name}` must be a positive finite scalar; got {value!r}."
        )
        raise ValueError(msg)


def _check_confidence(fn: str, confidence: Any) -> float:
    if isinstance(confidence, bool | np.bool_) or not isinstance(
        confidence, float | int | np.floating | np.integer
    ):
        msg = (
            f"{fn}: argument `confidence` must be a float in (0, 1); "
            f"got {type(confidence).__name__} {confidence!r}."
        )
        raise TypeError(msg)
    if not 0.0 < float(confidence) < 1.0:
        msg = (
            f"{fn}: argument `confidence` must be a float in (0, 1); "
            f"got {confidence!r}."
        )
        raise ValueError(msg)
    return float(confidence)


def _moment_slack(dtype: Any) -> float:
    """How far above 1 a Chebyshev moment may round: ``10 sqrt(eps)``."""
    return 10.0 * float(np.sqrt(jnp.finfo(dtype).eps))


def _band(per_run: jax.Array, confidence: float) -> tuple[jax.Array, ...]:
    """Mean over axis 0 and a normal-approximation confidence band around it."""
    runs = per_run.shape[0]
    mean = jnp.mean(per_run, axis=0)
    if runs == 1:
        return mean, mean, mean
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2.0)
    half = z * jnp.std(per_run, axis=0, ddof=1) / math.sqrt(runs)
    return mean, jnp.maximum(mean - half, 0.0), mean + half


def _run_batch(runs: int, entries_per_run: int) -> int:
    return max(1, min(runs, _BATCH_ENTRIES // max(entries_per_run, 1)))


def _map_runs(
    f: Any, keys: jax.Array, entries_per_run: int, sequential: bool = False
) -> Any:
    """``f`` over the keys: vmapped in batches, or one at a time (``sequential``).

    Runs over data sharded across devices go one at a time: vmapping the
    sharded HVP over runs inside the Lanczos loop deadlocked XLA:CPU's
    collectives (4 host devices, 2 runs, 40 steps); one run at a time keeps
    the data-parallel all-reduce and completes.
    """
    batch = _run_batch(keys.shape[0], entries_per_run)
    return jax.lax.map(f, keys, batch_size=1 if sequential else batch)


def spans_devices(tree: Any) -> bool:
    """Whether any array of ``tree`` is sharded or replicated over several devices."""
    for x in jax.tree_util.tree_leaves(tree):
        sharding = getattr(x, "sharding", None)
        if sharding is not None and len(sharding.device_set) > 1:
            return True
    return False


def _rademacher(key: jax.Array, n: int, dtype: Any) -> jax.Array:
    return jax.random.rademacher(key, (n,), dtype=dtype)


# ----------------------------------------------------------------------------- SLQ


def spectral_density(
    op: LinearOperator,
    /,
    *,
    num_runs: int = 10,
    lanczos_steps: int = 80,
    key: jax.Array,
    grid: jax.Array | int | None = None,
    sigma: float | jax.Array | None = None,
    deflate: int = 0,
    confidence: float = 0.95,
    check_symmetric: bool = False,
    memory_limit: int | None = None,
) -> SpectralDensity:
    r"""Estimates the spectral density of ``op`` by stochastic Lanczos quadrature.

    For each of ``num_runs`` Rademacher probes ``v`` (unit-normalised), ``m =
    min(lanczos_steps, n - deflate)`` Lanczos steps with full
    reorthogonalisation give a tridiagonal ``T = U diag(theta) U^T``; the nodes
    ``theta_j`` with weights ``w_j = U_{1j}^2`` are a Gauss quadrature rule for
    the probe's spectral measure, exact for polynomials of degree ``< 2m``. The
    density is the mean over runs of

        phi_sigma(t) = sum_j w_j N(t; theta_j, sigma^2),

    and the band is the normal-approximation ``confidence`` interval of that
    mean, pointwise: ``mean +- z * std_runs / sqrt(num_runs)`` (zero width for
    one run). See the module docstring for the ``deflate`` convention.

    Args:
      op: a symmetric :class:`LinearOperator` of size ``n``. A float16 or
        bfloat16 operator is seen in float32: only its matvec is 16-bit; the
        Lanczos runs, nodes, weights and density are float32.
      num_runs: the number of random probes (Lanczos runs), ``>= 1``.
      lanczos_steps: Lanczos steps per run (capped at ``n - deflate``); each
        costs one matvec. ``2 * lanczos_steps`` quadrature moments are exact.
      key: a PRNG key; the result is deterministic given it.
      grid: where to evaluate the density: an array ``(g,)``, a number of
        points (default 1000): half spread over the bulk (the central 95% of
        the quadrature mass, plus ``6 sigma`` on each side), half over all
        the nodes, so the bulk stays resolved however far outliers lie.
      sigma: the width of the Gaussian kernel; None for 1% of the width of the
        bulk, the central 95% of the quadrature mass (weighted quantiles of the
        nodes of all runs), so that outliers, deflated or not, do not widen
        it. With the default grid, a node outside the bulk is then smoothed
        with at least the grid spacing there (``1.5 (span / 500)``, so that
        its mass stays on the grid) and at least 2.5% of its tail's extent
        (from the bulk's edge to the farthest node on that side; scaled down
        for tails of fewer than 8 eigenvalues, so that a few outliers stay
        sharp), so that the isolated eigenvalues of a sparse tail form a
        smooth density, not a spike each; ``res.sigma`` is the bulk's width.
      deflate: the number ``k`` of top eigenvalues to take out as outliers.
      confidence: the level of the band, in ``(0, 1)``.
      check_symmetric: test symmetry first with ``u'Av`` against ``v'Au`` on
        random pairs (four matvecs; eagerly), raising if the operator is not
        symmetric to ``sqrt(eps)``.
      memory_limit: bytes per device the Lanczos vectors may take (about
        ``3 m + 4`` vectors of ``n`` per run in flight, see ``_budget``).
        When the default layout does not fit, runs go one at a time (same
        result), then ``lanczos_steps`` is lowered with a warning (fewer exact
        moments: a smoother density). None: checked against the memory
        available, raising a ``MemoryError`` that names the option to lower.

    Returns:
      A :class:`SpectralDensity` in ``op.dtype``: ``grid``, ``density``,
      ``lower``, ``upper`` ``(g,)``; ``nodes``, ``weights`` ``(num_runs, m)``;
      ``outliers`` ``(deflate,)``; ``sigma`` and ``bulk_mass`` scalars.

    Raises:
      TypeError: if ``op`` is not a real LinearOperator, ``key`` not a PRNG key,
        a count not an int, ``sigma`` or ``confidence`` not a real number.
      ValueError: for counts out of range, ``deflate >= n``, a bad grid, or a
        non-positive ``sigma``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from jaxmc.spectrum import matrix_operator, spectral_density
      >>> op = matrix_operator(jnp.diag(jnp.arange(1.0, 21.0)))
      >>> res = spectral_density(op, key=jax.random.key(0), lanczos_steps=20)
      >>> mass = float(jnp.trapezoid(res.density, res.grid))
      >>> round(mass, 3)
      1.0
    """
    fn = "jaxmc.spectrum.spectral_density"
    # 16-bit: all but the matvec in f32
    op = in_float32(check_operator(fn, op, compiled=True))
    n, dtype = op.size, op.dtype
    num_runs = _checks.static_int(fn, "num_runs", num_runs, minimum=1)
    lanczos_steps = _checks.static_int(fn, "lanczos_steps", lanczos_steps, minimum=1)
    deflate = _checks.static_int(fn, "deflate", deflate, minimum=0)
    if deflate >= n:
        msg = (
            f"{fn}: argument `deflate` must be smaller than the operator's size "
            f"{n}; got {deflate}."
        )
        raise ValueError(msg)
    key = _checks.check_key(fn, "key", key)
    grid = _check_grid(fn, grid, dtype)
    _check_positive(fn, "sigma", sigma)
    confidence = _check_confidence(fn, confidence)
    if check_bool(fn, "check_symmetric", check_symmetric):
        check_symmetric_op(fn, op, key)

    m = min(lanczos_steps, n - deflate)
    eig = ()
    extra = 0
    if deflate:
        opts = eigen_options(fn, n, dtype, deflate, "largest", None, None, None)
        eig = tuple(sorted((k, v) for k, v in opts.items() if k not in ("n", "dtype")))
        extra = deflate
    batch = _run_batch(num_runs, m * n)
    m, batch = _budget.fit_slq(
        fn, op, m, batch, _budget.check_limit(fn, memory_limit), extra
    )
    grid_arg = None if isinstance(grid, int) else grid
    sigma_arg = None if sigma is None else jnp.asarray(sigma, dtype)
    result, finite = call_compiled(
        _slq_core,
        op,
        key,
        grid_arg,
        sigma_arg,
        n=n,
        dtype=dtype,
        m=m,
        num_runs=num_runs,
        deflate=deflate,
        eig=eig,
        batch=batch,
        grid_points=grid if isinstance(grid, int) else None,
        confidence=confidence,
        sequential=spans_devices(op.dynamic),
    )
    raise_if_nonfinite(fn, op, key, finite)
    return result


def _slq_core(
    factory,
    dynamic,
    key,
    grid,
    sigma,
    *,
    n,
    dtype,
    m,
    num_runs,
    deflate,
    eig,
    grid_points,
    confidence,
    sequential=False,
    batch=None,
):
    op_matvec = _sharding.shard_matvec(factory.prepare(dynamic))
    key_out, key_runs = jax.random.split(key)
    if deflate:
        v0 = _sharding.constrain(jax.random.normal(key_out, (n,), dtype))
        outliers, X, *_ = _lanczos(op_matvec, v0, v0, **dict(eig))
        V = X.T  # (n, deflate), orthonormal columns

        def project(v):
            return v - V @ (V.T @ v)

        def matvec(v):
            return project(op_matvec(project(v)))
    else:
        outliers = jnp.zeros((0,), dtype)

        def project(v):
            return v

        matvec = op_matvec
    bulk_mass = jnp.asarray((n - deflate) / n, dtype)

    def run(k):
        v0 = project(_sharding.constrain(_rademacher(k, n, dtype)))
        alpha, beta, _ = lanczos_tridiag(matvec, v0, m)
        return gauss_quadrature(alpha, beta[:-1])

    keys = jax.random.split(key_runs, num_runs)
    if batch is None:
        nodes, weights = _map_runs(run, keys, m * n, sequential)
    else:
        nodes, weights = jax.lax.map(run, keys, batch_size=1 if sequential else batch)
    finite = all_finite(nodes, weights, outliers)
    weights = weights * bulk_mass
    result = smoothed(
        nodes,
        weights,
        outliers,
        bulk_mass,
        grid=grid_points if grid is None else grid,
        sigma=sigma,
        confidence=confidence,
        n=n,
    )
    return result, finite


# The smallest kernel width of a node outside the bulk, per unit of the
# extent of its tail, for tails of at least _TAIL_COUNT eigenvalues.
_TAIL_WIDTH = 0.025
_TAIL_COUNT = 8.0


def smoothed(
    nodes: jax.Array,
    weights: jax.Array,
    outliers: jax.Array,
    bulk_mass: jax.Array,
    *,
    grid: jax.Array | int,
    sigma: Any,
    confidence: float,
    n: int | None = None,
) -> SpectralDensity:
    """The Gaussian-smoothed density of quadrature rules ``(runs, m)``, one per run.

    ``n``, the operator's size, counts the eigenvalues of a tail (its weight
    times ``n``) for the tail's kernel width; None: any tail counts as many.
    """
    dtype = nodes.dtype
    # Nodes with (numerically) zero weight come from a finished Krylov space.
    live = weights > 1e-12 * bulk_mass
    lo = jnp.min(jnp.where(live, nodes, jnp.inf))
    hi = jnp.max(jnp.where(live, nodes, -jnp.inf))
    b_lo, b_hi = _bulk_range(nodes, jnp.where(live, weights, 0.0))
    adaptive = sigma is None and isinstance(grid, int)
    if sigma is None:
        floor = jnp.finfo(dtype).eps ** 0.5 * jnp.maximum(
            jnp.maximum(jnp.abs(lo), jnp.abs(hi)), 1.0
        )
        sigma = 0.01 * jnp.maximum(b_hi - b_lo, floor)
    sigma = jnp.asarray(sigma, dtype)
    width = jnp.full(nodes.shape, sigma)
    if isinstance(grid, int):
        # Half the points on the bulk, half on the whole span, so the bulk is
        # resolved however far the outliers lie.
        core_lo, core_hi = b_lo - 6.0 * sigma, b_hi + 6.0 * sigma
        step = 2.0 * (hi - lo + 12.0 * sigma) / grid  # the spacing off the bulk
        if adaptive:
            # Nodes outside the bulk get at least the grid spacing there, so
            # their mass is on the grid (a narrower bump would fall between),
            # and at least a fortieth of their tail's extent (from the bulk's
            # edge to the farthest node on that side): the isolated eigenvalues
            # of a sparse tail (a trained network's) merge into a smooth
            # density instead of one spike each, while the bulk keeps its
            # width.
            # A tail of fewer than _TAIL_COUNT eigenvalues (a few outliers) is
            # smoothed proportionally less, so that outliers stay sharp.
            upper = nodes > b_hi
            lower = nodes < b_lo
            outside = upper | lower
            extent = jnp.where(upper, hi - b_hi, b_lo - lo)
            if n is None:
                ramp = jnp.ones_like(nodes)
            else:
                runs = nodes.shape[0]
                count_hi = jnp.sum(jnp.where(upper & live, weights, 0.0)) * n / runs
                count_lo = jnp.sum(jnp.where(lower & live, weights, 0.0)) * n / runs
                count = jnp.where(upper, count_hi, count_lo)
                ramp = jnp.clip(count / _TAIL_COUNT, 0.0, 1.0)
            tail = jnp.maximum(
                jnp.maximum(sigma, 1.5 * step), _TAIL_WIDTH * ramp * extent
            )
            width = jnp.where(outside & live, tail, sigma)
        pad = 6.0 * jnp.maximum(jnp.max(jnp.where(live, width, 0.0)), sigma)
        grid = _two_scale_grid(lo - pad, hi + pad, core_lo, core_hi, grid, dtype)

    z = (grid[None, :, None] - nodes[:, None, :]) / width[:, None, :]
    kernel = jnp.exp(-0.5 * z * z) / (width[:, None, :] * math.sqrt(2.0 * math.pi))
    per_run = jnp.sum(kernel * weights[:, None, :], axis=-1)
    density, lower, upper = _band(per_run, confidence)
    return SpectralDensity(
        grid=grid,
        density=density,
        lower=lower,
        upper=upper,
        nodes=nodes,
        weights=weights,
        outliers=outliers,
        sigma=sigma,
        bulk_mass=bulk_mass,
    )


def _two_scale_grid(
    lo: jax.Array,
    hi: jax.Array,
    core_lo: jax.Array,
    core_hi: jax.Array,
    num: int,
    dtype: Any,
) -> jax.Array:
    """``num`` points on ``[lo, hi]``: half evenly spread, half on the core.

    The points are the quantiles of the mixture ``(U[lo, hi] + U[core]) / 2``,
    so the grid is evenly spaced on each of the (up to) three pieces, finer on
    the core. When the core fills more than a quarter of ``[lo, hi]`` (no far
    outliers), the grid is simply even, where the trapezoid rule integrates the
    Gaussian-smoothed density to near machine precision.
    """
    core_lo = jnp.clip(core_lo, lo, hi)
    core_hi = jnp.clip(core_hi, core_lo, hi)
    knots = jnp.stack([lo, core_lo, core_hi, hi])
    core_w = jnp.maximum(core_hi - core_lo, jnp.finfo(dtype).tiny)
    cdf = 0.5 * (knots - lo) / (hi - lo) + 0.5 * jnp.clip(
        (knots - core_lo) / core_w, 0.0, 1.0
    )
    u = jnp.linspace(0.0, 1.0, num, dtype=dtype)
    two_scale = jnp.interp(u, cdf, knots).astype(dtype)
    even = jnp.linspace(lo, hi, num, dtype=dtype)
    return jnp.where(core_w > 0.25 * (hi - lo), even, two_scale)


def _bulk_range(nodes: jax.Array, weights: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The central 95% of the (pooled, weighted) nodes: the bulk's extent.

    The weighted 2.5% and 97.5% quantiles of the quadrature nodes of all runs,
    so a few outliers (each a mass of about ``1/n``) do not widen it.
    """
    x = nodes.reshape(-1)
    w = weights.reshape(-1)
    order = jnp.argsort(x)
    x, w = x[order], w[order]
    cdf = jnp.cumsum(w) / jnp.maximum(jnp.sum(w), jnp.finfo(w.dtype).tiny)
    i_lo = jnp.clip(jnp.searchsorted(cdf, 0.025), 0, x.shape[0] - 1)
    i_hi = jnp.clip(jnp.searchsorted(cdf, 0.975), 0, x.shape[0] - 1)
    return x[i_lo], x[i_hi]


def exact_density(
    evals: jax.Array, k: int, *, grid: Any = None, sigma: Any = None
) -> SpectralDensity:
    """The smoothed density of known eigenvalues, the top ``k`` as outliers.

    Used for blocks small enough to decompose densely: one "run" whose nodes
    are the ``n - k`` bulk eigenvalues, each of weight ``1/n``.
    """
    evals = jnp.sort(evals)
    n = evals.shape[0]
    bulk_mass = jnp.asarray((n - k) / n, evals.dtype)
    nodes = evals[None, : n - k]
    weights = jnp.full(nodes.shape, 1.0 / n, evals.dtype)
    grid = _check_grid("jaxmc.spectrum.layer_spectra", grid, evals.dtype)
    return smoothed(
        nodes,
        weights,
        evals[n - k :][::-1],
        bulk_mass,
        grid=grid,
        sigma=sigma,
        confidence=0.95,
        n=n,
    )


# ----------------------------------------------------------------------------- KPM


def spectral_bounds(
    matvec: Any,
    n: int,
    dtype: Any,
    *,
    key: jax.Array,
    steps: int = 30,
    margin: float = 0.05,
) -> jax.Array:
    """An interval ``(2,)`` holding the spectrum, from a few Lanczos steps.

    The extreme Ritz values are moved outwards by their residual bounds
    ``|beta_m U_{mj}|`` and the interval is widened by ``margin`` times its
    width on each side (a safety margin, since Ritz values approach the extreme
    eigenvalues from inside).
    """
    m = min(n, steps)
    v0 = jax.random.normal(key, (n,), dtype=dtype)
    alpha, beta, _ = lanczos_tridiag(matvec, v0, m)
    theta, U = tridiag_eigh(alpha, beta[:-1])
    res = jnp.abs(beta[-1] * U[-1, :])
    lo = theta[0] - res[0]
    hi = theta[-1] + res[-1]
    width = hi - lo
    floor = jnp.finfo(dtype).eps ** 0.5 * jnp.maximum(
        jnp.maximum(jnp.abs(lo), jnp.abs(hi)), 1.0
    )
    width = jnp.maximum(width, floor)
    return jnp.stack([lo - margin * width, hi + margin * width])


def jackson_damping(num_moments: int, dtype: Any) -> jax.Array:
    """The Jackson kernel's damping factors ``g_k``, ``k < num_moments``."""
    N = num_moments + 1
    k = jnp.arange(num_moments, dtype=dtype)
    a = math.pi / N
    return ((N - k) * jnp.cos(a * k) + jnp.sin(a * k) / math.tan(a)) / N


def kpm_density(
    op: LinearOperator,
    /,
    *,
    num_moments: int = 100,
    num_probes: int = 10,
    key: jax.Array,
    grid: jax.Array | int | None = None,
    bounds: Any = None,
    confidence: float = 0.95,
    kernel: str = "jackson",
    check_symmetric: bool = False,
) -> KPMDensity:
    r"""Estimates the spectral density of ``op`` by the kernel polynomial method.

    With ``bounds = [a, b]`` holding the spectrum, ``c = (a + b) / 2`` and ``h =
    (b - a) / 2``, the scaled operator ``B = (A - c I) / h`` has its spectrum in
    ``[-1, 1]``. The Chebyshev moments ``mu_k = (1/n) tr T_k(B)`` are estimated
    with Rademacher probes ``z`` as ``z^T T_k(B) z / z^T z``, using the
    three-term recurrence and the doubling identities ``T_{2j} = 2 T_j^2 - T_0``,
    ``T_{2j+1} = 2 T_{j+1} T_j - T_1`` (``ceil(num_moments / 2)`` matvecs per
    probe). The density at ``t`` (``y = (t - c) / h``) is

        phi(t) = [g_0 mu_0 + 2 sum_{k >= 1} g_k mu_k T_k(y)]
                 / (pi h sqrt(1 - y^2))

    with the Jackson damping factors ``g_k`` (``kernel="jackson"``, the default:
    a positive kernel, so no Gibbs ringing near sharp features and the
    interval ends; ``kernel="none"`` sets ``g_k = 1``, the truncated series),
    and 0 outside ``(a, b)``. The band is the pointwise ``confidence`` interval
    of the mean over probes.

    Args:
      op: a symmetric :class:`LinearOperator` of size ``n``. A float16 or
        bfloat16 operator is seen in float32: only its matvec is 16-bit; the
        Chebyshev recurrence, moments and density are float32.
      num_moments: the number of Chebyshev moments, ``>= 2``.
      num_probes: the number of Rademacher probes, ``>= 1``.
      key: a PRNG key; the result is deterministic given it.
      grid: an array ``(g,)``, a number of points, or None for 1000 points
        evenly spaced inside ``bounds``, a kernel width ``pi / num_moments``
        (in the scaled variable) away from the endpoints, where the weight
        ``1 / sqrt(1 - y^2)`` is singular and amplifies the probes' noise.
      bounds: ``(a, b)`` containing every eigenvalue; None for an interval from
        30 Lanczos steps widened by 5% on each side. The method diverges if an
        eigenvalue lies outside: that shows as Chebyshev moments above 1 in
        magnitude (beyond ``10 sqrt(eps)`` of rounding), which raises a
        ValueError eagerly and sets ``result.ok`` False under ``jax.jit``.
      confidence: the level of the band, in ``(0, 1)``.
      kernel: the damping of the Chebyshev series, ``"jackson"`` or ``"none"``.
      check_symmetric: as for :func:`spectral_density`.

    Returns:
      A :class:`KPMDensity` in ``op.dtype``: ``grid``, ``density``, ``lower``,
      ``upper`` ``(g,)``, ``moments`` ``(num_moments,)``, ``bounds`` ``(2,)``.

    Raises:
      TypeError: if ``op`` is not a real LinearOperator or ``key`` is not a key.
      ValueError: for counts out of range, a bad grid, bad bounds or an
        unknown ``kernel``, or (eagerly) eigenvalues outside ``bounds``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from jaxmc.spectrum import matrix_operator, kpm_density
      >>> op = matrix_operator(jnp.diag(jnp.linspace(-1.0, 1.0, 50)))
      >>> res = kpm_density(op, num_moments=40, key=jax.random.key(0))
      >>> round(float(res.moments[0]), 6)
      1.0
    """
    fn = "jaxmc.spectrum.kpm_density"
    # 16-bit: all but the matvec in f32
    op = in_float32(check_operator(fn, op, compiled=True))
    n, dtype = op.size, op.dtype
    num_moments = _checks.static_int(fn, "num_moments", num_moments, minimum=2)
    num_probes = _checks.static_int(fn, "num_probes", num_probes, minimum=1)
    key = _checks.check_key(fn, "key", key)
    grid = _check_grid(fn, grid, dtype)
    confidence = _check_confidence(fn, confidence)
    _checks.check_one_of(fn, "kernel", kernel, ("jackson", "none"))
    if check_bool(fn, "check_symmetric", check_symmetric):
        check_symmetric_op(fn, op, key)
    if bounds is not None:
        bounds = _checks.as_array(fn, "bounds", bounds)
        _checks.check_shape(fn, "bounds", bounds, (2,))
        _checks.check_floating(fn, "bounds", bounds)
        if _checks.is_concrete(bounds) and not bool(bounds[0] < bounds[1]):
            msg = (
                f"{fn}: argument `bounds` must be an interval (a, b) with a < b; "
                f"got {np.asarray(bounds).tolist()}."
            )
            raise ValueError(msg)
    result, finite, excess = call_compiled(
        _kpm_core,
        op,
        key,
        None if isinstance(grid, int) else grid,
        bounds,
        n=n,
        dtype=dtype,
        num_moments=num_moments,
        num_probes=num_probes,
        grid_points=grid if isinstance(grid, int) else None,
        confidence=confidence,
        kernel=kernel,
        sequential=spans_devices(op.dynamic),
    )
    _raise_if_outside(fn, result, excess, given=bounds is not None)
    raise_if_nonfinite(fn, op, key, finite)
    return result


def _raise_if_outside(fn: str, result: KPMDensity, excess: Any, *, given: bool):
    """Raises when a concrete per-probe moment exceeds 1 beyond rounding."""
    if not _checks.is_concrete(excess):
        return
    excess = float(excess)
    if np.isnan(excess) or excess <= 1.0 + _moment_slack(result.moments.dtype):
        return
    a, b = (float(x) for x in result.bounds)
    source = (
        "argument `bounds`"
        if given
        else "the automatic `bounds` (from 30 Lanczos steps)"
    )
    msg = (
        f"{fn}: {source} [{a:.6g}, {b:.6g}] miss part of the spectrum: a "
        f"Chebyshev moment reached {excess:.3g} in magnitude (at most 1 when every "
        f"eigenvalue lies inside), so the series diverges. Pass wider `bounds`, "
        f'e.g. from eigenvalues(op, 1, which="both") widened by a few percent.'
    )
    raise ValueError(msg)


def _kpm_core(
    factory,
    dynamic,
    key,
    grid,
    bounds,
    *,
    n,
    dtype,
    num_moments,
    num_probes,
    grid_points,
    confidence,
    kernel,
    sequential=False,
):
    op_matvec = _sharding.shard_matvec(factory.prepare(dynamic))
    key_bounds, key_probes = jax.random.split(key)
    if bounds is None:
        bounds = spectral_bounds(op_matvec, n, dtype, key=key_bounds)
    bounds = bounds.astype(dtype)
    c = (bounds[0] + bounds[1]) / 2
    h = (bounds[1] - bounds[0]) / 2

    def scaled(v):
        return (op_matvec(v) - c * v) / h

    half = (num_moments + 1) // 2

    def probe_moments(k):
        z = _sharding.constrain(_rademacher(k, n, dtype))
        zz = jnp.vdot(z, z)
        t1 = scaled(z)
        mu0 = jnp.ones((), dtype)
        mu1 = jnp.vdot(z, t1) / zz

        def body(carry, _):
            t_prev, t_cur = carry
            t_next = 2.0 * scaled(t_cur) - t_prev
            even = 2.0 * jnp.vdot(t_cur, t_cur) / zz - mu0
            odd = 2.0 * jnp.vdot(t_next, t_cur) / zz - mu1
            return (t_cur, t_next), jnp.stack([even, odd])

        _, rest = jax.lax.scan(body, (z, t1), None, length=half - 1)
        mus = jnp.concatenate([jnp.stack([mu0, mu1]), rest.reshape(-1)])
        return mus[:num_moments]

    keys = jax.random.split(key_probes, num_probes)
    # (num_probes, num_moments)
    moments = _map_runs(probe_moments, keys, 3 * n, sequential)
    finite = all_finite(moments)
    excess = jnp.max(jnp.abs(moments))

    if grid is None:
        edge = 1.0 - min(math.pi / num_moments, 0.5)
        grid = c + h * jnp.linspace(-edge, edge, grid_points, dtype=dtype)
    y = (grid - c) / h
    inside = jnp.abs(y) < 1.0
    y_in = jnp.where(inside, y, 0.0)
    k = jnp.arange(num_moments, dtype=dtype)
    T = jnp.cos(k[:, None] * jnp.arccos(y_in)[None, :])  # (num_moments, g)
    if kernel == "jackson":
        g = jackson_damping(num_moments, dtype)
    else:
        g = jnp.ones((num_moments,), dtype)
    coef = g * jnp.where(k == 0, 1.0, 2.0)
    series = (moments * coef[None, :]) @ T  # (num_probes, g)
    weight = jnp.where(inside, 1.0 / (jnp.pi * h * jnp.sqrt(1.0 - y_in**2)), 0.0)
    per_probe = series * weight[None, :]
    density, lower, upper = _band(per_probe, confidence)
    result = KPMDensity(
        grid=grid,
        density=density,
        lower=lower,
        upper=upper,
        moments=jnp.mean(moments, axis=0),
        bounds=bounds,
        outliers=jnp.zeros((0,), dtype),
    )
    return result, finite, excess
