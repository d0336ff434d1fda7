"""Extreme eigenpairs of symmetric operators: thick-restart Lanczos, power iteration.

:func:`eigenvalues` runs Lanczos with full reorthogonalisation on a basis of
``m`` vectors, restarted (Wu & Simon's thick restart, a Krylov-Schur variant for
symmetric operators) while the ``k`` wanted Ritz pairs have residuals
``||A y - theta y||`` above ``tol * ||A||``. Everything runs inside
``jax.lax.while_loop`` / ``fori_loop``, so the whole solve compiles to one XLA
program (for operators that stream data from Python, the program runs from
the host, see ``_hosted``). An eager call for one end of the spectrum leaves
the complement search (repeated eigenvalues, invariant subspaces) to a second
program, compiled and run only when the first finds it is needed.
:func:`power_iteration` with deflation is the textbook baseline.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmc import _checks, _xla
from jaxmc.spectrum import _budget, _io, _loops, _operator, _progress, _sharding
from jaxmc.spectrum._algebra import in_float32
from jaxmc.spectrum._lanczos import orthogonalise, tridiag_eigh

__all__ = ["REASONS", "EigenResult", "eigenvalues", "power_iteration"]

_WHICH = ("largest", "smallest", "both", "largest_magnitude")


class EigenResult(NamedTuple):
    """Eigenpairs of a symmetric operator and how well they are resolved.

    Attributes:
      values: the eigenvalues, shape ``(k,)`` (``(2k,)`` for ``which="both"``:
        the ``k`` largest in decreasing order, then the ``k`` smallest in
        increasing order).
      vectors: the unit eigenvectors, as ``op.unravel`` returns them with a
        leading axis of the same length as ``values`` (a ``(k, n)`` array for a
        matrix operator, a parameter pytree with leading axis for Hessians).
      residuals: ``||A v - lambda v||`` for each pair, computed with explicit
        matvecs, shape like ``values``.
      converged: ``residuals <= tol * ||A||`` (``||A||`` estimated by the
        largest Ritz value in magnitude), bools shaped like ``values``.
      num_matvecs: the number of matvecs used (an int array).
      reason: why the solver stopped, an int32 code usable under ``jax.jit``
        (its name is ``REASONS[reason]``, also :attr:`reason_text`):
        0 ``"converged"`` (every wanted pair), 1 ``"noise floor"`` (the
        operator itself is not accurate to ``tol``: its matvec is not exactly
        linear and symmetric at that level), 2 ``"budget exhausted"``
        (``max_matvecs`` spent), 3 ``"unresolved"`` (the wanted eigenvalues
        are closer together than the residuals can tell apart: a cluster, a
        null space, or gaps below the dtype's precision), 4 ``"non-finite"``
        (NaN or inf in the results), 5 ``"underflow"`` (the operator's scale
        is below the dtype's normal range), 6 ``"stalled"`` (the residuals
        stopped decreasing for 10 restarts).
      noise_floor: the operator's estimated accuracy relative to ``||A||``
        when ``reason`` is ``"noise floor"`` (the largest explicit residual
        over ``||A||``), else 0.
    """

    values: jax.Array
    vectors: Any
    residuals: jax.Array
    converged: jax.Array
    num_matvecs: jax.Array
    reason: Any = None
    noise_floor: Any = None

    @property
    def reason_text(self) -> str:
        """The name of ``reason`` (needs a concrete result)."""
        if self.reason is None:
            return "converged" if bool(jnp.all(self.converged)) else "unknown"
        return REASONS[int(self.reason)]

    @property
    def ok(self) -> jax.Array:
        """True when every pair converged and every value is finite (jittable)."""
        fine = jnp.all(self.converged) & jnp.all(jnp.isfinite(self.values))
        if self.reason is None:
            return fine
        return fine & (self.reason == 0)

    to_dict = _io.to_dict_method
    save = _io.save_method

    def __repr__(self) -> str:
        if not _checks.is_concrete(self.values):
            return f"EigenResult(values={self.values}, ...)"
        vals = np.array2string(np.asarray(self.values), precision=6)
        why = "" if self.reason is None else f", reason={self.reason_text!r}"
        return (
            f"EigenResult(values={vals}, "
            f"max_residual={float(jnp.max(self.residuals)):.2e}, "
            f"converged={int(jnp.sum(self.converged))}/{self.converged.size}, "
            f"num_matvecs={int(self.num_matvecs)}{why})"
        )


#: The names of :attr:`EigenResult.reason`'s codes.
REASONS = (
    "converged",
    "noise floor",
    "budget exhausted",
    "unresolved",
    "non-finite",
    "underflow",
    "stalled",
)


def _rank(x: jax.Array) -> jax.Array:
    return jnp.argsort(jnp.argsort(x))


def _priority(theta: jax.Array, which: str) -> jax.Array:
    """Lower is more wanted; ``which="both"`` interleaves the two ends."""
    if which == "largest":
        return _rank(-theta)
    if which == "smallest":
        return _rank(theta)
    if which == "largest_magnitude":
        return _rank(-jnp.abs(theta))
    return jnp.minimum(2 * _rank(-theta), 2 * _rank(theta) + 1)


def _select(theta: jax.Array, which: str, k: int, valid=None) -> jax.Array:
    """Indices of the k wanted Ritz values, in the order they are reported.

    ``valid`` (bool, like ``theta``): the Ritz values of a partly filled basis
    (see :func:`_restart_loop`); the others are never selected. None: all.
    """
    hi = theta if valid is None else jnp.where(valid, theta, -jnp.inf)
    lo = theta if valid is None else jnp.where(valid, theta, jnp.inf)
    if which == "largest":
        return jnp.argsort(-hi)[:k]
    if which == "smallest":
        return jnp.argsort(lo)[:k]
    if which == "largest_magnitude":
        mag = jnp.abs(theta)
        mag = mag if valid is None else jnp.where(valid, mag, -jnp.inf)
        return jnp.argsort(-mag)[:k]
    return jnp.concatenate([jnp.argsort(-hi)[:k], jnp.argsort(lo)[:k]])


def _copy_tol(dtype, scale, tol, n):
    """Distance below which two Ritz values are copies of one eigenvalue.

    In float64, values within ``tol * ||A||`` (and within the pair's residual)
    are equal to the accuracy asked for: a repeated eigenvalue found twice,
    or a ghost copy made by an inexact operator. Lower precisions cannot tell
    a repeated eigenvalue from a cluster of distinct ones closer than their
    resolution, so only rounding-level duplicates count there.
    """
    if jnp.dtype(dtype) == jnp.float64:
        return tol * scale
    return 0.1 * np.sqrt(n) * jnp.finfo(dtype).eps * scale


def _gaps(theta: jax.Array, idx: jax.Array, res: jax.Array, copy_tol) -> jax.Array:
    """For each selected Ritz value, the distance to the nearest distinct one.

    In float64, Ritz values within the pair's (small) residual of it are
    copies of the same eigenvalue (a repeated eigenvalue found more than
    once), not neighbours.
    """
    d = jnp.abs(theta[idx][:, None] - theta[None, :])
    same = d <= jnp.minimum(res[:, None], copy_tol)
    d = jnp.where(same, jnp.inf, d)
    return jnp.min(d, axis=1)


def _resolved(res, gaps, scale, dtype, n):
    """A pair is told apart from its neighbours.

    Its residual is at most half the gap to the nearest other Ritz value, and
    that gap exceeds three times the resolution of the dtype (``sqrt(n) eps
    ||A||``, the rounding noise of a matvec): closer eigenvalues cannot be
    told apart, so a pair there may not be the wanted one. The margin is
    measured: in a float32 cluster of 17 eigenvalues below the resolution
    (``tests/test_spectrum_honesty.py``), Krylov spaces often hold a single
    Ritz value of the cluster, 2 to 3 resolutions from the next one, and a
    margin of 2 flagged a wrong pair converged for 4 to 6 of 30 keys; 3 for
    none. In float64, a pair whose residual
    is at the rounding level is exact to working precision, which covers
    repeated eigenvalues (gap 0); float32 cannot tell a repeated eigenvalue
    from a cluster of distinct ones 1e-7 * ||A|| apart.
    """
    eps = jnp.finfo(dtype).eps
    floor = np.sqrt(n) * eps * scale
    told = (res <= gaps / 2) & (gaps >= 3 * floor)
    if jnp.dtype(dtype) == jnp.float64:
        told = told | (res <= 4 * floor)
    return told


def _lanczos(
    matvec,
    v0,
    pool,
    *,
    k,
    which,
    tol,
    m,
    p,
    max_matvecs,
    check_multiplicity=None,
    stage="whole",
    warm=None,
):
    """Thick-restart Lanczos; returns values, vectors, residuals, flags, info.

    The operator is rescaled by ``s = max|A q0|`` (an infinity norm, which
    cannot underflow) so that tiny or huge operators keep their residuals in
    the normal range. The restart loop stops when every wanted pair meets the
    same test that sets ``converged`` (residual estimates below ``tol / 2``,
    each pair resolved from its neighbouring Ritz values), when the budget is
    spent, or when the residuals have stalled for several cycles; explicit
    residuals then decide ``converged`` and the reason.

    ``stage="whole"`` runs the complement search of :func:`_after_restarts`
    in the same program. ``stage="first"`` leaves it out (a third of the
    program) and returns ``(outputs, resume)``: when ``resume["trigger"]``
    is set, :func:`_lanczos_resume` runs the search from ``resume`` in a
    second program, with the same result as ``"whole"``.

    ``warm`` (a bool scalar, may be traced; None: False): the start holds
    earlier eigenvectors; see :func:`_restart_loop`.
    """
    (n,) = v0.shape
    dtype = v0.dtype
    budget = _user_budget(k, which, max_matvecs)
    kk = 2 * k if which == "both" else k
    search = check_multiplicity is not False and n > kk and stage == "whole"
    # Without a search in this program, the restart loop computes the
    # explicit residuals' products itself, at its own matvec: the program
    # then holds one copy of the operator's matvec instead of two.
    st = _restart_loop(
        matvec,
        v0,
        pool,
        k=k,
        which=which,
        tol=tol,
        m=m,
        p=p,
        max_matvecs=max_matvecs,
        residuals=not search,
        warm=warm,
    )
    V, s = st["V"], st["s"]
    theta, S, est, scale, est_ok = st["est"]
    valid = jnp.arange(m) < st["fill"]  # the pairs of the basis built

    def mv(v):
        return matvec(v) / s

    idx = _select(theta, which, k, valid)
    if check_multiplicity is None and which in ("smallest", "both"):
        # Semi-definite operators (GGN, Fisher) have null spaces at this end.
        trigger = jnp.asarray(True)
    elif check_multiplicity is None:
        values = theta[idx]
        close = jnp.abs(values[:, None] - values[None, :]) <= tol * scale
        dup = jnp.sum(close) > kk
        trigger = st["broke_any"] | dup
    else:
        trigger = jnp.asarray(bool(check_multiplicity))
    wrap = dict(
        s=s,
        s0=st["s0"],
        since=st["since"],
        est_ok=est_ok,
        scale=scale,
        tol=tol,
        budget=budget,
    )

    def first_gaps(res):
        copy_tol = _copy_tol(dtype, scale, tol, n)
        real = jnp.where(valid, theta, jnp.inf)
        return _gaps(real, idx, jnp.maximum(res, est[:kk]), copy_tol)

    if search:
        post = _after_restarts(
            mv,
            theta[idx],
            _sharding.constrain(S[:, idx].T @ V[:m]),
            V,
            first_gaps=first_gaps,
            trigger=trigger,
            pool=pool,
            which=which,
            tol=tol,
            steps=min(m, n - kk),
        )
        values, X, residuals, gaps, extra, AX = post
    else:  # the residual pass ran in the restart loop (its matvecs counted)
        values, X, AX, extra = theta[idx], st["X"], st["AX"], 0
        residuals = jnp.linalg.norm(AX - values[:, None] * X, axis=1)
        gaps = first_gaps(residuals)
    out = _wrap_up(values, X, residuals, gaps, st["nmv"] + extra, **wrap)
    if stage == "whole":
        return out
    resume = dict(
        trigger=trigger,
        values=values,
        X=X,
        AX=AX,
        res=residuals,
        gaps=gaps,
        nmv=st["nmv"] + extra,
        **{key: wrap[key] for key in ("s", "s0", "since", "est_ok", "scale")},
    )
    return out, resume


def _lanczos_resume(matvec, pool, resume, *, k, which, tol, m, max_matvecs, **_):
    """The complement search of a ``stage="first"`` solve, from its ``resume``."""
    values, X = resume["values"], resume["X"]
    kk, n = X.shape
    dtype = X.dtype
    s = resume["s"]

    def mv(v):
        return matvec(v) / s

    # The search's basis: zeros, where the one-program solve reuses the
    # restart basis (the rows beyond the current step are masked either way).
    basis = _sharding.constrain(jnp.zeros((m + 1, n), dtype))
    post = _after_restarts(
        mv,
        values,
        X,
        basis,
        first_gaps=lambda res: resume["gaps"],  # used only before a first search
        trigger=jnp.asarray(True),
        pool=pool,
        which=which,
        tol=tol,
        steps=min(m, n - kk),
        start=resume,
    )
    values, X, residuals, gaps, extra, _ = post
    budget = _user_budget(k, which, max_matvecs)
    wrap = {key: resume[key] for key in ("s", "s0", "since", "est_ok", "scale")}
    nmv = resume["nmv"] + extra
    return _wrap_up(values, X, residuals, gaps, nmv, tol=tol, budget=budget, **wrap)


def _user_budget(k: int, which: str, max_matvecs: int) -> int:
    """The matvec budget as the user gave it: the restart loop's plus the checks."""
    return max_matvecs + (2 * k if which == "both" else k)


def _wrap_up(
    values, X, residuals, gaps, nmv, *, s, s0, since, est_ok, scale, tol, budget
):
    """Flags, reason and noise floor from the explicit residuals; unscaled."""
    kk, n = X.shape
    dtype = X.dtype
    eps = jnp.finfo(dtype).eps
    tiny = jnp.finfo(dtype).tiny
    sub = (s0 > 0) & (s0 < tiny / eps)
    res_ok = residuals <= tol * scale
    resolved = _resolved(residuals, gaps, scale, dtype, n)
    finite = jnp.all(jnp.isfinite(values)) & jnp.all(jnp.isfinite(residuals))
    finite = finite & jnp.isfinite(s0)
    converged = res_ok & resolved & finite & ~sub
    floor = jnp.max(residuals) / scale
    reason = jnp.select(
        [
            ~finite,
            sub,
            jnp.all(converged),
            jnp.all(res_ok) & ~jnp.all(resolved),
            jnp.all(est_ok),
            since >= _STALL_CYCLES,
        ],
        [4, 5, 0, 3, 1, 6],
        default=2,
    ).astype(jnp.int32)
    noise_floor = jnp.where(reason == 1, floor, jnp.zeros_like(floor))
    _progress.report(nmv, budget, floor)
    return values * s, X, residuals * s, converged, nmv, (reason, noise_floor)


_STALL_CYCLES = 10


def _restart_loop(
    matvec, v0, pool, *, k, which, tol, m, p, max_matvecs, residuals, warm=None
):
    """The restart loop of :func:`_lanczos`: its final state (a dict).

    ``warm`` (a bool scalar, may be traced; None: a cold start): the start
    vector holds earlier eigenvectors (``init``). Then

    * the basis grows by ``chunk`` vectors (:func:`_warm_chunk`) between
      convergence checks: the extension stops to test the Ritz pairs of the
      ``fill`` vectors built so far (the leading ``fill x fill`` block of
      ``T``; residual estimates ``|beta S[fill - 1, i]|``), and the loop ends
      as soon as they pass, after a few steps instead of a whole basis;
    * the wanted pairs pass only once the guard pair (the next Ritz value
      after them) has converged too or lies clearly apart (:func:`_guard_ok`):
      the start's eigenvectors converge at once, while an eigenvalue that has
      moved into the wanted set since is found only through the start's
      random part.

    A cold start checks once per cycle (``chunk = m``), as the whole basis is
    needed anyway, with the test above left out. The thick restart happens
    only once the basis is full (``fill == m``). The state's ``fill`` says
    how many rows of ``V`` (and of ``S``, whose other rows are zero) are the
    basis; the first ``fill`` Ritz values in ``est`` are its pairs.

    ``residuals`` (static): once the loop would stop, one more pass of its
    step runs the products ``A x_i / s`` of the wanted Ritz vectors
    ``X = S[:, idx]' V`` (the explicit residuals' matvecs) through the same
    matvec, its Lanczos updates masked; the state then holds ``X`` and
    ``AX`` (``(kk, n)``) and ``nmv`` counts the ``kk`` products.
    """
    (n,) = v0.shape
    dtype = v0.dtype
    eps = jnp.finfo(dtype).eps
    tiny = jnp.finfo(dtype).tiny
    rows = jnp.arange(m + 1)
    q0 = v0 / jnp.linalg.norm(v0)

    # ``pool`` is a Gaussian vector drawn by the caller (the random part of
    # the start); the fresh directions needed after a breakdown and by the
    # complement search are cheap deterministic variants of it (a generator
    # in the loops would put threefry in every loop body, and each draw
    # costs about as much compile time as the rest of a Lanczos step).
    pool = pool.astype(dtype)
    tol_in = tol / 2

    # The program holds one Lanczos step (one matvec), one small eigenproblem
    # per cycle and no copy of either outside the loop: the first extension
    # is cycle 0 of the restart loop, and the scale s = max|A q0| is set by
    # its first product, so compiling costs the same for any restart count.
    kk = 2 * k if which == "both" else k
    chunk = m if warm is None else jnp.where(warm, _warm_chunk(m), m)

    def extend(V, T, beta, anorm, broke_any, s, s0, j0, j1, cycle, final, X, AX):
        # in the residual pass, the Lanczos updates keep their old values
        def pick(old, new):
            return jnp.where(final, old, new) if residuals else new

        def step(j, carry):
            V, T, beta, anorm, broke_any, s, s0, AX = carry
            # the residual pass multiplies the Ritz vectors, at the same matvec
            jx = jnp.minimum(j, kk - 1)
            w = matvec(jnp.where(final, X[jx], V[j]) if residuals else V[j])
            first = (cycle == 0) & (j == 0)
            w_max = jnp.max(jnp.abs(w))
            s0 = jnp.where(first, w_max, s0)
            usable = jnp.isfinite(w_max) & (w_max > 0)
            s = jnp.where(first, jnp.where(usable, w_max, jnp.ones_like(s)), s)
            w = w / s
            if residuals:
                AX = AX.at[jx].set(jnp.where(final, w, AX[jx]))
            wnorm = jnp.linalg.norm(w)
            anorm = pick(anorm, jnp.maximum(anorm, wnorm))
            mask = (rows <= j).astype(dtype)
            # after a breakdown (a tiny remainder), a fresh direction instead
            w, h, broke = orthogonalise(
                V,
                w,
                mask,
                restart=(
                    lambda b: b <= 100 * eps * np.sqrt(m) * anorm,
                    lambda: _fresh_vector(pool, cycle * (m + 1) + j),
                ),
            )
            col = h[:m] * mask[:m]
            T = pick(T, T.at[:, j].set(col).at[j, :].set(col))
            norm = jnp.linalg.norm(w)
            beta = pick(beta, jnp.where(broke, jnp.zeros((), dtype), norm))
            row = pick(V[j + 1], w / jnp.maximum(norm, tiny))
            V = _sharding.constrain(V.at[j + 1].set(row))
            broke_any = pick(broke_any, broke_any | broke)
            return V, T, beta, anorm, broke_any, s, s0, AX

        carry = (V, T, beta, anorm, broke_any, s, s0, AX)
        return jax.lax.fori_loop(j0, j1, step, carry)

    def estimates(T, beta, fill):
        # The pairs of the leading fill x fill block: the rest of T (zero)
        # becomes bound * I, above every eigenvalue of the block (a Gershgorin
        # bound), so its eigenvalues sort last and the first ``fill`` are the
        # block's. With fill == m every mask below is all true (a no-op).
        valid = jnp.arange(m) < fill
        both = valid[:, None] & valid[None, :]
        bound = 1 + 2 * jnp.max(jnp.sum(jnp.abs(T), axis=1))
        eye = jnp.eye(m, dtype=bool)
        theta, S = jnp.linalg.eigh(jnp.where(both, T, jnp.where(eye, bound, 0)))
        S = jnp.where(valid[:, None], S, 0)
        idx = _select(theta, which, k, valid)
        res_all = jnp.abs(beta * S[fill - 1])  # every pair's residual estimate
        res = res_all[idx]
        scale = jnp.maximum(jnp.max(jnp.where(valid, jnp.abs(theta), 0)), tiny)
        real = jnp.where(valid, theta, jnp.inf)
        gaps = _gaps(real, idx, res, _copy_tol(dtype, scale, tol, n))
        ok = (res <= tol_in * scale) & _resolved(res, gaps, scale, dtype, n)
        if warm is not None:
            arrived = _guard_ok(theta, res_all, idx, valid, which, k, tol_in * scale)
            ok = ok & (arrived | ~warm)
        return theta, S, res, scale, ok

    zero = jnp.zeros((), dtype)
    one = jnp.ones((), dtype)
    inf = jnp.asarray(jnp.inf, dtype)
    est = (
        jnp.zeros((m,), dtype),
        jnp.eye(m, dtype=dtype),
        jnp.zeros((kk,), dtype),
        one,
        jnp.zeros((kk,), bool),
    )
    # The best (smallest) largest wanted residual so far and the cycles since
    # it last halved: residuals that stop falling mean a floor is reached.
    state = dict(
        V=_sharding.constrain(jnp.zeros((m + 1, n), dtype).at[0].set(q0)),
        T=jnp.zeros((m, m), dtype),
        beta=zero,
        anorm=zero,
        broke_any=jnp.asarray(False),
        s=one,
        s0=one,
        nmv=jnp.asarray(0),
        cycle=jnp.asarray(0),
        best=inf,
        since=jnp.asarray(0),
        est=est,
        fill=jnp.asarray(0),
        final=jnp.asarray(False),
        done=jnp.asarray(False),
        X=jnp.zeros((kk if residuals else 1, n), dtype),
        AX=jnp.zeros((kk if residuals else 1, n), dtype),
    )
    budget = _user_budget(k, which, max_matvecs)

    def more_cycles(st):
        # a partly filled basis is completed (a cycle is within the budget)
        nmv_ok = st["nmv"] + (m - p) <= max_matvecs
        restart = nmv_ok & (m < n) & (st["since"] < _STALL_CYCLES)
        return ~jnp.all(st["est"][-1]) & ((st["fill"] < m) | restart)

    def body(st):
        theta, S, *_ = st["est"]
        cycle = st["cycle"]
        first = cycle == 0
        final = st["final"]  # the residual pass (only with ``residuals``)
        fill = st["fill"]
        V, T = st["V"], st["T"]
        # Thick restart: keep the p best Ritz vectors and the residual vector.
        # In cycle 0 (theta = 0, S = I, so keep = 0..p-1) this leaves the
        # start vector in place and T zero, and the extension starts at 0.
        # A partly filled basis (fill < m, after a check) is extended as is.
        keep = jnp.argsort(_priority(theta, which), stable=True)[:p]
        Vk = S[:, keep].T @ V[:m]
        Vr = _sharding.constrain(jnp.zeros_like(V).at[:p].set(Vk).at[p].set(V[m]))
        Tr = jnp.zeros_like(T).at[jnp.arange(p), jnp.arange(p)].set(theta[keep])
        grow = ~first & (fill < m)
        Vr, Tr = jnp.where(grow | final, V, Vr), jnp.where(grow | final, T, Tr)
        X, AX = st["X"], st["AX"]
        if residuals:  # the residual pass keeps the basis and forms X from it
            idx = _select(theta, which, k, jnp.arange(m) < fill)
            X = _sharding.constrain(S[:, idx].T @ V[:m])
            X = jnp.where(final, X, st["X"])
        j0 = jnp.where(first | final, 0, jnp.where(grow, fill, p))
        # (a check needs more Ritz pairs than are wanted)
        j1 = jnp.minimum(m, jnp.maximum(j0 + chunk, kk + 1))
        j1 = jnp.where(final, kk, j1)
        fill = jnp.where(final, fill, j1).astype(st["fill"].dtype)
        V, T, beta, anorm, broke_any, s, s0, AX = extend(
            Vr,
            Tr,
            st["beta"],
            st["anorm"],
            st["broke_any"],
            st["s"],
            st["s0"],
            j0,
            j1,
            cycle,
            final,
            X,
            AX,
        )
        est = estimates(T, beta, fill)
        worst, scale = jnp.max(est[2]), est[3]
        nmv = st["nmv"] + (j1 - j0)
        _progress.report(nmv, budget, worst / scale)  # streamed solves
        better = (worst < st["best"]) & ~final
        best = jnp.where(better, worst, jnp.minimum(st["best"], worst))
        # stalls count whole cycles (a full basis), not the checks within one
        ended = ~final & (fill == m)
        since = jnp.where(
            better,
            jnp.zeros_like(st["since"]),
            st["since"] + ended.astype(st["since"].dtype),
        )
        new = dict(
            V=V,
            T=T,
            beta=beta,
            anorm=anorm,
            broke_any=broke_any,
            s=s,
            s0=s0,
            nmv=nmv,
            cycle=cycle + (~final).astype(cycle.dtype),
            best=best,
            since=since,
            est=est,
            fill=fill,
            X=X,
            AX=AX,
        )
        stop = ~more_cycles(new)
        new["final"] = residuals & ~final & stop
        new["done"] = final | (stop & (not residuals))
        return new

    return jax.lax.while_loop(lambda st: ~st["done"], body, state)


def _guard_ok(theta, res, idx, valid, which, k, converged_res):
    """Whether the guard pairs have arrived: a warm start stops only then.

    The guard is the next Ritz value after the wanted ones at each wanted end
    (one; two for ``which="both"``). A warm start holds the previous wanted
    eigenvectors almost exactly, so their pairs converge within a few steps,
    even when an eigenvalue from elsewhere has since moved into the wanted
    set (eigenvalues cross during training): that one is reached only
    through the start's random part, by the extreme Ritz value among the
    unwanted ones, which climbs towards it. On its way its residual is
    comparable to its distance from the wanted values (a mixture of
    eigenvectors on both sides of it). So the guard must either converge
    (residual at most ``converged_res``) or have a residual below
    ``_GUARD_ROOM`` times its distance to the wanted values.

    ``res``: the residual estimates of all ``m`` Ritz pairs; ``idx``: the
    wanted ones; ``valid``: the pairs of the basis built. Measured on
    float32 crossings like those of ``tests/test_spectrum_warm_start.py``
    (n = 200, the previous eigenvectors rotated by 0.01 or 0.1): without the
    guard, 32 of 40 warm solves returned a wrong value flagged converged
    (38 of 40 with the checks within a cycle); with a room factor of 0.5,
    18 of 80; 0.2, 3 of 80; 0.05, none of 80; 0.02, none of 200.
    """
    # the (k+1)-th wanted at each end: last of each half for "both"
    g = _select(theta, which, k + 1, valid)
    g = g[np.array([k, 2 * k + 1])] if which == "both" else g[k]
    values = theta[idx]
    if which == "largest":
        room = jnp.min(values) - theta[g]
    elif which == "smallest":
        room = theta[g] - jnp.max(values)
    elif which == "largest_magnitude":
        room = jnp.min(jnp.abs(values)) - jnp.abs(theta[g])
    else:
        room = jnp.stack(
            [jnp.min(values[:k]) - theta[g[0]], theta[g[1]] - jnp.max(values[k:])]
        )
    arrived = (res[g] <= converged_res) | (res[g] <= _GUARD_ROOM * room)
    return jnp.all(arrived)


_GUARD_ROOM = 0.02


def _fresh_vector(pool: jax.Array, t: Any) -> jax.Array:
    """A new direction for index ``t`` (an int scalar): ``pool`` modulated.

    ``pool * sin((i + 1) c_t + t)`` with a frequency ``c_t`` that differs per
    ``t``: for a Gaussian ``pool`` these are almost surely linearly
    independent of any fixed subspace, which is all a restart needs.
    """
    t = jnp.asarray(t, pool.dtype)
    i = jnp.arange(1, pool.shape[0] + 1, dtype=pool.dtype)
    return pool * jnp.sin(i * (0.7548776662466927 + 0.5698402909980532 * t) + t)


def _after_restarts(
    mv,
    values,
    X,
    basis,
    *,
    first_gaps,
    trigger,
    pool,
    which,
    tol,
    steps,
    start=None,
):
    """Explicit residuals of the wanted pairs, then the complement searches.

    Used by the programs that search (a solve without one computes its
    explicit residuals in :func:`_restart_loop`). One loop with one matvec
    per iteration (so the program holds one copy of the operator's matvec
    for all of this) runs two phases in turn:

    * residuals: ``A x_i`` for each wanted vector, giving the explicit
      residuals ``||A x_i - lambda_i x_i||`` and the gaps that decide
      ``converged``;
    * a complement search (when ``trigger`` is set, and again while it
      changes the wanted set, at most once per wanted pair): ``steps``
      Lanczos steps on ``P A P`` with ``P = I - X^T X`` from a fresh
      direction. A single Krylov sequence holds one copy of each
      eigenvalue, so a repeated eigenvalue is found once (or as often as
      restarts add fresh directions); this finds the further copies and any
      eigenvalue the first search missed. The wanted pairs are then chosen
      among both sets (found pairs win ties, so nothing changes unless the
      complement holds a value as wanted as a found one), and their
      residuals are computed again.

    The bookkeeping of both phases runs in every iteration (selected by the
    phase; it is small beside a matvec), so the loop state is updated in
    place; the ends of the phases are conds (``lax.cond``) that return only small
    arrays (residuals and gaps, a start vector, the picked Ritz vectors).
    ``first_gaps(residuals)`` gives the gaps of the restart loop's pairs;
    ``basis`` (at least ``steps + 1`` rows of ``n``) is the restart loop's
    basis, whose buffer holds the complement's basis (rows beyond the
    current step are masked, so its contents do not matter).
    ``start`` (a ``resume`` dict of :func:`_lanczos`, with ``AX``, ``res``
    and ``gaps`` of a residual phase already run on ``values`` and ``X``)
    begins with the first complement search instead of the residuals.
    Returns ``(values, X, residuals, gaps, matvecs, AX)``.
    """
    kk, n = X.shape
    dtype = X.dtype
    tiny = jnp.finfo(dtype).tiny
    big = jnp.asarray(jnp.finfo(dtype).max, dtype)
    rows = jnp.arange(basis.shape[0])

    def proj(v, X):  # two passes, in a loop (one copy of the products)
        return orthogonalise(X, v)[0]

    def pick_union(values, theta, real):
        allv = jnp.concatenate([values, theta])
        found = jnp.concatenate([jnp.ones(kk, bool), real])
        low = jnp.where(found, allv, big)  # padding never wins
        high = jnp.where(found, allv, -big)
        if which == "smallest":
            pick = jnp.argsort(low, stable=True)[:kk]
        elif which == "largest":
            pick = jnp.argsort(-high, stable=True)[:kk]
        elif which == "largest_magnitude":
            mag = jnp.where(found, jnp.abs(allv), -1)
            pick = jnp.argsort(-mag, stable=True)[:kk]
        else:
            half = kk // 2
            top = jnp.argsort(-high, stable=True)[:half]
            bot = jnp.argsort(low, stable=True)[:half]
            pick = jnp.concatenate([top, bot])
        return allv[pick], pick

    def search_done(c):
        """The complement's Ritz pairs merged with the found ones."""
        theta, U = tridiag_eigh(c["alpha"], c["beta"][:-1])
        Q = c["Q"]  # rows steps.. are not the search's (a slice would copy)
        # Ritz vector j is U[:, j]' Q; the rows of Q are orthonormal, or zero
        # after a breakdown (then the padded Ritz vectors are zero).
        live = (jnp.linalg.norm(Q, axis=1)[:steps] > 0.5).astype(dtype)
        norms = jnp.sqrt(jnp.sum(U**2 * live[:, None], axis=0))
        real = norms > 0.5
        new_values, pick = pick_union(c["values"], theta, real)
        # only the picked Ritz vectors are formed
        j = jnp.clip(pick - kk, 0, steps - 1)
        coef = U[:, j] / jnp.where(real[j], norms[j], 1.0)[None, :]
        pad = jnp.zeros((Q.shape[0] - steps, kk), dtype)
        Y = jnp.concatenate([coef, pad]).T @ Q
        old = c["X"][jnp.minimum(pick, kk - 1)]
        new_X = jnp.where((pick < kk)[:, None], old, Y)
        return new_values, _sharding.constrain(new_X), theta, real, pick

    def unchanged(c):
        same = jnp.arange(kk)
        return c["values"], c["X"], c["theta"], c["real"], same

    def residuals_and_gaps(c):
        res = jnp.linalg.norm(c["AX"] - c["values"][:, None] * c["X"], axis=1)
        # Gaps to everything seen: after a search, to the complement's other
        # Ritz values too, with copies (within the residual) not neighbours.
        seen = jnp.concatenate(
            [c["old_values"], jnp.where(c["real"], c["theta"], jnp.inf)]
        )
        d = jnp.abs(c["values"][:, None] - seen[None, :])
        copy_tol = _copy_tol(dtype, jnp.max(jnp.abs(c["values"])), tol, n)
        d = jnp.where(d <= jnp.minimum(res[:, None], copy_tol), jnp.inf, d)
        kept = c["pick"] < kk
        old = c["old_gaps"][jnp.minimum(c["pick"], kk - 1)]
        new_gaps = jnp.min(d, axis=1)
        new_gaps = jnp.where(kept, jnp.minimum(new_gaps, old), new_gaps)
        return res, jnp.where(c["it"] == 0, first_gaps(res), new_gaps)

    def body(c):
        i, in_res = c["i"], c["phase"] == 0
        ir = jnp.minimum(i, kk - 1)
        X = c["X"]
        q = proj(c["Q"][jnp.minimum(i, steps)], X)
        w = mv(jnp.where(in_res, X[ir], q))  # the one matvec
        c = dict(c, count=c["count"] + 1, i=i + 1)
        c["AX"] = c["AX"].at[ir].set(jnp.where(in_res, w, c["AX"][ir]))
        # a Lanczos step on P A P (its result is kept in phase 1)
        Q = c["Q"]
        w = proj(w, X)
        a = jnp.vdot(q, w)
        mask = (rows <= i).astype(dtype)
        w, _ = orthogonalise(Q, w, mask)  # full reorthogonalisation
        b = jnp.linalg.norm(w)
        lscale = jnp.maximum(c["lscale"], jnp.abs(a) + b)
        ok = b > 100.0 * jnp.finfo(dtype).eps * lscale * np.sqrt(n)
        b = jnp.where(ok, b, 0.0)
        q = jnp.where(ok, w / jnp.where(ok, b, 1.0), 0.0)
        il, j = jnp.minimum(i, steps - 1), jnp.minimum(i + 1, steps)
        c["Q"] = _sharding.constrain(Q.at[j].set(jnp.where(in_res, Q[j], q)))
        c["alpha"] = c["alpha"].at[il].set(jnp.where(in_res, c["alpha"][il], a))
        c["beta"] = c["beta"].at[il].set(jnp.where(in_res, c["beta"][il], b))
        c["lscale"] = jnp.where(in_res, c["lscale"], lscale)
        # end of the residual phase: residuals, gaps, and whether to search
        res_end = in_res & (c["i"] == kk)
        c["res"], c["gaps"] = jax.lax.cond(
            res_end, residuals_and_gaps, lambda c: (c["res"], c["gaps"]), c
        )
        again = jnp.where(c["it"] == 0, trigger, c["moved"]) & (c["it"] < kk)
        c["go"] = ~res_end | again
        start = res_end & again

        def fresh_start(c):
            r = proj(_fresh_vector(pool, -1 - c["it"]), X)
            return r / jnp.maximum(jnp.linalg.norm(r), tiny)

        r = jax.lax.cond(start, fresh_start, lambda c: c["Q"][0], c)
        c["Q"] = c["Q"].at[0].set(r)
        c["lscale"] = jnp.where(start, jnp.zeros_like(c["lscale"]), c["lscale"])
        # end of a search: merge the complement's Ritz pairs, new residuals
        s_end = ~in_res & (c["i"] == steps)
        new_values, new_X, theta, real, pick = jax.lax.cond(
            s_end, search_done, unchanged, c
        )
        c["old_values"] = jnp.where(s_end, c["values"], c["old_values"])
        c["old_gaps"] = jnp.where(s_end, c["gaps"], c["old_gaps"])
        c["moved"] = jnp.where(s_end, jnp.any(pick >= kk), c["moved"])
        c["pick"] = jnp.where(s_end, pick, c["pick"])
        c.update(values=new_values, X=new_X, theta=theta, real=real)
        c["it"] = c["it"] + s_end
        c["phase"] = jnp.where(start, 1, jnp.where(s_end, 0, c["phase"]))
        c["i"] = jnp.where(start | s_end, 0, c["i"])
        return c

    zeros_k = jnp.zeros((kk,), dtype)
    init = dict(
        phase=jnp.asarray(0),
        i=jnp.asarray(0),
        go=jnp.asarray(True),
        it=jnp.asarray(0),
        count=jnp.asarray(0),
        values=values,
        X=X,
        AX=jnp.zeros_like(X),
        res=zeros_k,
        gaps=zeros_k,
        old_values=values,
        old_gaps=zeros_k,
        pick=jnp.arange(kk),
        moved=jnp.asarray(False),
        Q=basis,  # the restart loop's basis buffer, reused (stale rows masked)
        alpha=jnp.zeros((steps,), dtype),
        beta=jnp.zeros((steps,), dtype),
        lscale=jnp.zeros((), dtype),
        theta=jnp.zeros((steps,), dtype),
        real=jnp.zeros((steps,), bool),
    )
    if start is not None:
        # the state at the end of the first residual phase, as ``body``
        # leaves it when it starts the first search
        r = proj(_fresh_vector(pool, -1), X)
        r = r / jnp.maximum(jnp.linalg.norm(r), tiny)
        init.update(
            phase=jnp.asarray(1),
            AX=start["AX"],
            res=start["res"],
            gaps=start["gaps"],
            Q=init["Q"].at[0].set(r),
        )
    c = jax.lax.while_loop(lambda c: c["go"], body, init)
    return c["values"], c["X"], c["res"], c["gaps"], c["count"], c["AX"]


def _explicit_residuals(matvec, values, X):
    AX = jax.lax.map(matvec, X)
    return jnp.linalg.norm(AX - values[:, None] * X, axis=1)


def _default_tol(dtype) -> float:
    return float(np.sqrt(jnp.finfo(dtype).eps))


def eigenvalues(
    op: Any,
    /,
    k: int = 5,
    *,
    which: str = "largest",
    key: jax.Array,
    tol: float | None = None,
    max_matvecs: int | None = None,
    krylov_dim: int | None = None,
    init: Any = None,
    strict: bool = False,
    check_multiplicity: bool | None = None,
    check_symmetric: bool = False,
    memory_limit: int | None = None,
) -> EigenResult:
    r"""The ``k`` extreme eigenpairs of a symmetric operator, by thick-restart Lanczos.

    Finds ``A v_i = lambda_i v_i`` for the ``k`` largest (``which="largest"``),
    smallest (most negative, ``"smallest"``), largest in magnitude
    (``"largest_magnitude"``) eigenvalues, or the ``k`` largest and the ``k``
    smallest together (``"both"``). Lanczos with full reorthogonalisation
    builds an orthonormal basis of ``krylov_dim`` vectors; the Ritz pairs of
    the projected matrix approximate eigenpairs with residual
    ``||A y - theta y|| = |beta_m s_m|``. While a wanted pair has a residual
    above ``tol * ||A||`` (and the matvec budget allows), the basis is
    compressed to the best Ritz vectors and extended again (thick restart).

    Eigenvalue errors are about ``residual^2 / gap`` for well-separated
    eigenvalues and at most ``residual``, so the default ``tol = sqrt(eps)``
    (1.5e-8 in float64, 3.5e-4 in float32) gives eigenvalues to about
    ``eps * ||A||``. In float32 residuals stall near ``1e-6 * ||A||``: asking
    for a smaller ``tol`` there leaves ``converged`` False. Zero and repeated
    eigenvalues, rank-deficient operators and ``k`` above the rank are handled
    (invariant subspaces are continued with fresh random directions), never
    producing NaN.

    **When is a pair converged?** ``converged[i]`` holds when the explicit
    residual ``||A v_i - lambda_i v_i|| <= tol * ||A||`` *and* the pair is
    told apart from its neighbours (residual at most half the distance to the
    nearest other Ritz value, or at the rounding level): a small residual
    alone only says that *some* eigenvalue lies near ``lambda_i``, and in a
    cluster narrower than ``tol * ||A||`` (a null space, float32 at tiny
    eigenvalues) it need not be the wanted one. The restart loop stops on the
    same test (on its residual estimates, with a margin), so it never stops
    early with the budget unspent unless it has found that it cannot do
    better; ``reason`` says which case ended the solve (see
    :class:`EigenResult`): the operator's own noise floor (its matvec is
    inexact, e.g. float32 inside a float64 loss; ``noise_floor`` then gives
    its level), an unresolved cluster, residuals that stalled for 10
    restarts, the budget, non-finite values or underflow. The operator is
    rescaled internally by ``max|A v0|``, so operators of tiny or huge scale
    neither underflow nor overflow.

    **Repeated eigenvalues.** One Krylov sequence holds one copy of each
    eigenvalue. For ``which="smallest"`` and ``"both"`` (where semi-definite
    operators have their null space), and for ``"largest"`` when the solve
    finds an invariant subspace or returns equal values (signs of
    multiplicity), a second Lanczos search on the
    complement of the found vectors (``krylov_dim`` more matvecs) finds the
    further copies and any missed eigenvalue, and the wanted pairs are chosen
    among both (``check_multiplicity=True`` always runs it, ``False`` never).

    Eagerly, a result with an unconverged pair raises a ``UserWarning`` that
    states the reason and the remedy (``strict=True`` raises a
    ``RuntimeError`` instead). Under ``jax.jit`` read ``result.reason`` and
    ``result.ok`` (or wrap the call in ``jax.experimental.checkify`` after
    ``checkify.check(result.ok, ...)``).

    **Gradients.** ``values`` are differentiable (reverse mode, ``jax.grad``)
    with respect to the operator's dynamic arrays, e.g. the parameters of a
    :func:`hessian_operator` built inside the differentiated function: for a
    simple eigenvalue ``d lambda = v' dA v``, a custom VJP that costs one vjp
    through the matvec per pair (a third-derivative-vector product for a
    Hessian). ``vectors`` and ``residuals`` carry no gradient, and the
    formula assumes the differentiated eigenvalues are simple (not repeated)
    and converged. Streamed (host-side) operators are not differentiable.

    The whole solve runs in ``jax.lax`` loops and works under ``jax.jit``
    (with ``k``, ``which`` and the budgets static). The result is deterministic
    given ``key``, which draws the starting vector.

    Args:
      op: a :class:`LinearOperator` of size ``n``, symmetric.
      k: the number of eigenpairs, ``1 <= k <= n``.
      which: ``"largest"``, ``"smallest"``, ``"both"`` or ``"largest_magnitude"``.
      key: a PRNG key (``jax.random.key(seed)``).
      tol: the relative residual tolerance (default ``sqrt(eps)`` of the dtype).
      max_matvecs: the budget of matvecs (default ``30 * krylov_dim``); the
        last ``k`` (``2k`` for ``"both"``) are the explicit residual checks.
      krylov_dim: the basis size ``m`` (default ``max(2 k' + 1, k' + 24)``
        capped at ``n``, with ``k'`` the number of wanted pairs).
      init: a warm start: an earlier :class:`EigenResult` (of a nearby
        operator, e.g. the previous checkpoint's), or its vectors, as a flat
        ``(j, n)`` (or ``(n,)``) array or a pytree with a leading axis shaped
        like ``op.unravel``'s output. Lanczos starts from the normalised sum of
        these vectors (plus a ``1e-3`` random component drawn from ``key``),
        which holds the wanted eigenvectors of a nearby operator, and checks
        convergence every few steps, so it can stop before its first basis
        is full. An eigenvalue that has moved into the wanted set since (a
        crossing) is found through the random component: a warm solve also
        waits for the next Ritz value after the wanted ones (the guard) to
        converge, or to lie clearly below them. None (default): a random
        start. Warm and cold starts run the same compiled solve (the start
        vector is its argument), so tracking along training compiles it
        once.
      strict: raise a ``RuntimeError`` (eagerly) instead of warning when a
        pair is unconverged.
      check_multiplicity: None (default) searches the complement of the
        found vectors for ``"smallest"`` / ``"both"``, and otherwise when
        the solve shows signs of repeated eigenvalues; True always, False
        never.
      check_symmetric: test symmetry first with ``u'Av`` against ``v'Au`` on
        random pairs (two matvecs; eagerly), raising if the operator is not
        symmetric to ``sqrt(eps)``.
      memory_limit: bytes per device the solver's vectors may take (about
        ``(2.5 krylov_dim + 3 k + 3) n`` numbers, see ``_budget``); without an
        explicit ``krylov_dim`` the largest basis that fits is used (more
        restarts, the same ``tol``). None: the default basis, checked against
        the memory available. Either way, a basis that cannot fit raises a
        ``MemoryError`` (``jaxmc._memory.InsufficientMemoryError``) saying
        how much it needs and which option lowers it, before allocating.

    Returns:
      An :class:`EigenResult`; ``values`` has shape ``(k,)`` (``(2k,)`` for
      ``"both"``) in the operator's dtype, except for float16 and bfloat16
      operators: their Lanczos runs in float32 (only the matvec is 16-bit)
      and values and residuals are float32, the vectors 16-bit.

    Raises:
      ValueError: if ``k > n`` or ``k < 1``, ``which`` is unknown, the budget is
        too small for the basis, or (eagerly) the matvec returns non-finite
        values (the message names the parameters).
      TypeError: if ``op`` is not an operator or ``key`` not a PRNG key.
      RuntimeError: with ``strict=True``, if a pair is unconverged.

    >>> import jax, jax.numpy as jnp
    >>> from jaxmc.spectrum import eigenvalues, matrix_operator
    >>> op = matrix_operator(jnp.diag(jnp.arange(10.0)))
    >>> res = eigenvalues(op, 3, key=jax.random.key(0))
    >>> res.values.round(6).tolist()
    [9.0, 8.0, 7.0]
    """
    fn = "jaxmc.spectrum.eigenvalues"
    _loops.check_operator(fn, op, compiled=True)
    key = _checks.check_key(fn, "key", key)
    static = eigen_options(
        fn, op.size, op.dtype, k, which, tol, max_matvecs, krylov_dim
    )
    memory_limit = _budget.check_limit(fn, memory_limit)
    static = _budget.fit_eigen(
        fn,
        op,
        static,
        memory_limit,
        krylov_dim is not None,
        lambda m: eigen_options(
            fn, op.size, op.dtype, k, which, tol, max_matvecs or 30 * static["m"], m
        ),
    )
    init, init_form = _check_init(fn, op, init)
    start = _warm_start(op, init, init_form)
    strict = _loops.check_bool(fn, "strict", strict)
    if check_multiplicity is not None:
        check_multiplicity = _loops.check_bool(
            fn, "check_multiplicity", check_multiplicity
        )
    if _loops.check_bool(fn, "check_symmetric", check_symmetric):
        _loops.check_symmetric(fn, op, key)
    out = _differentiable_solve(
        op.factory,
        dict(check_multiplicity=check_multiplicity, **static),
        _sharding.keep_data_sharding(op.dynamic),  # closed over under jit
        key,
        start,
        op.traceable,
        source=op,
    )
    values, vectors, residuals, converged, nmv, finite, reason, floor = out
    _loops.raise_if_nonfinite(fn, op, key, finite)
    result = EigenResult(
        values=values,
        vectors=vectors,
        residuals=residuals,
        converged=converged,
        num_matvecs=nmv,
        reason=reason,
        noise_floor=floor,
    )
    warn_unconverged(fn, result, static["tol"], op.dtype, which, strict)
    return result


_REMEDY = {
    1: (
        "the operator is only accurate to about {floor:.1e}*||A|| (its matvec is "
        "not exactly linear and symmetric at that level, e.g. float32 inside a "
        "float64 loss); the values are converged to that floor. Pass "
        "tol={tol_hint:.0e} or compute the operator in float64 throughout"
    ),
    2: "the matvec budget was spent; raise max_matvecs (or krylov_dim)",
    3: (
        "the wanted eigenvalues lie in a cluster narrower than the residuals "
        "(about {dim} Ritz values within tol*||A|| of the end{null}); the "
        "values are within tol*||A|| of eigenvalues but may not be the wanted "
        "ones. Use float64{semi}, or a smaller tol"
    ),
    5: (
        "the operator's scale is below the dtype's normal range (max|Av| is "
        "subnormal); rescale the operator (e.g. the loss) or use float64"
    ),
    6: (
        "the residuals stopped decreasing for 10 restarts (a noise floor, or "
        "very slow convergence); raise max_matvecs or krylov_dim, loosen tol, "
        "or use float64"
    ),
}


def warn_unconverged(
    fn: str, result: EigenResult, tol: float, dtype: Any, which: str, strict: bool
) -> None:
    """Warns (or raises, when ``strict``) about a concrete unconverged result."""
    # NumPy on the fetched flags: no eager XLA operation per call
    if not _checks.is_concrete(result.converged) or np.asarray(result.converged).all():
        return
    code = int(result.reason) if result.reason is not None else 2
    if code == 0:  # converged overall, flags false for some pair: budget
        code = 2
    floor = float(result.noise_floor) if result.noise_floor is not None else 0.0
    values = np.asarray(result.values)
    scale = max(float(np.max(np.abs(values))), np.finfo(np.float64).tiny)
    end = values[-1] if which in ("smallest", "both") else values[0]
    dim = int(np.sum(np.abs(values - end) <= tol * scale))
    semi = (
        ', or which="largest" only: on a semi-definite operator the smallest '
        "end is a null space"
        if which in ("smallest", "both")
        else ""
    )
    null = f", a null space of dimension >= {dim} if it is at 0" if dim > 1 else ""
    why = _REMEDY.get(code, "").format(
        floor=floor, tol_hint=max(2 * floor, tol), dim=dim, null=null, semi=semi
    )
    if jnp.dtype(dtype) != jnp.float64 and code in (2, 3, 6):
        why += " (float32 resolves eigenvalues only to about 1e-7*||A||: float64 "
        why += "is the remedy for tiny or clustered ends)"
    n_bad = int(np.sum(~np.asarray(result.converged)))
    msg = (
        f"{fn}: {n_bad} of {values.size} eigenpairs did not converge "
        f"(reason: {REASONS[code] if code < len(REASONS) else 'stalled'}): {why}."
    )
    if strict:
        raise RuntimeError(msg)
    warnings.warn(msg, UserWarning, stacklevel=3)


def eigen_options(
    fn: str,
    n: int,
    dtype: Any,
    k: Any,
    which: str,
    tol: Any,
    max_matvecs: Any,
    krylov_dim: Any,
) -> dict[str, Any]:
    """Checks the options of :func:`eigenvalues`; the static keywords of its core."""
    _checks.check_one_of(fn, "which", which, _WHICH)
    k = _checks.static_int(fn, "k", k, minimum=1)
    if k > n:
        msg = (
            f"{fn}: argument `k` must be at most the operator size {n}; got {k}. "
            f"For all eigenvalues of a small operator use "
            f"jnp.linalg.eigvalsh(op.to_dense())."
        )
        raise ValueError(msg)
    kw = min(2 * k, n) if which == "both" else k
    nout = 2 * k if which == "both" else k
    if krylov_dim is None:
        m = min(n, max(2 * kw + 1, kw + 24))
    else:
        m = _checks.static_int(fn, "krylov_dim", krylov_dim, minimum=1)
        if m > n or (m <= kw and m < n):
            msg = (
                f"{fn}: argument `krylov_dim` must be in ({kw}, {n}] (above the "
                f"number of wanted pairs, at most the size); got {m}."
            )
            raise ValueError(msg)
    if max_matvecs is None:
        max_matvecs = 30 * m
    else:
        max_matvecs = _checks.static_int(fn, "max_matvecs", max_matvecs, minimum=1)
        if max_matvecs < m + nout:
            msg = (
                f"{fn}: argument `max_matvecs` must be at least krylov_dim + "
                f"{nout} = {m + nout} (one Lanczos basis and the residual checks); "
                f"got {max_matvecs}."
            )
            raise ValueError(msg)
    tol = _default_tol(dtype) if tol is None else _loops.check_tol(fn, "tol", tol)
    p = min(m - 1, kw + (m - kw) // 2)
    return dict(
        k=k,
        which=which,
        tol=tol,
        m=m,
        p=p,
        max_matvecs=max_matvecs - nout,
        n=n,
        dtype=jnp.dtype(dtype),
    )


def _check_init(fn: str, op: Any, init: Any) -> tuple[Any, str]:
    """``init`` as the core takes it, and its form: none, flat or tree."""
    if init is None:
        return None, "none"
    if isinstance(init, EigenResult):
        init = init.vectors
    n = op.size
    if isinstance(init, jax.Array | np.ndarray) and init.shape[-1:] == (n,):
        if init.ndim in (1, 2):
            init = jnp.asarray(init)
            return (init[None] if init.ndim == 1 else init), "flat"
    # checked once per factory and abstract init (a warm start along
    # training passes the same shapes at every checkpoint)
    sig = _operator.abstract_key(op, init)
    if sig in _INIT_OK:
        return init, "tree"
    try:
        shapes = jax.eval_shape(jax.vmap(op.ravel), init)
    except Exception as err:  # noqa: BLE001 - re-raised with context
        msg = (
            f"{fn}: argument `init` must be an EigenResult, a flat array of shape "
            f"(n,) or (j, n) with n = {n}, or a pytree of vectors with a leading "
            f"axis shaped like `op.unravel`'s output; got "
            f"{_checks.describe(init)} ({type(err).__name__}: {err})."
        )
        raise ValueError(msg) from None
    if shapes.ndim != 2 or shapes.shape[1] != n:
        msg = (
            f"{fn}: argument `init` must flatten to (j, {n}) vectors; got "
            f"shape {shapes.shape}."
        )
        raise ValueError(msg)
    _INIT_OK.add(sig)
    return init, "tree"


_INIT_OK = _operator.CheckedSignatures()


def _work_dtype(dtype: Any) -> Any:
    """The dtype of the Lanczos vectors: float32 for 16-bit operators."""
    # LAPACK has no 16-bit kernels, and a 16-bit basis loses orthogonality at
    # once; only the matvec is 16-bit.
    return jnp.dtype(jnp.float32 if jnp.dtype(dtype).itemsize < 4 else dtype)


def _warm_start(op: Any, init: Any, init_form: str) -> Any:
    """The solve's ``start`` argument: the unit sum of ``init``'s vectors, or 0.

    The solve takes an ``(n,)`` vector either way, so a first checkpoint
    (no ``init``) and the warm-started ones after it run the same program.
    Zero means a cold start: an eager call passes host zeros placed on the
    device (a transfer, no compiled program; a device array like the warm
    start's, so that both find one kept program, see ``jaxmc/_persist.py``);
    under a transformation they are traced.
    """
    work = _work_dtype(op.dtype)
    if init_form == "none":
        if _xla.at_top():  # no transformation: the arrays are concrete
            return jax.device_put(np.zeros((op.size,), work))
        return jnp.zeros((op.size,), work)
    return _unit_sum(op.factory, op.dynamic, init, form=init_form, work=work)


@functools.partial(
    _xla.jit, static_argnums=0, static_argnames=("form", "work"), persist=True
)
def _unit_sum(factory, dynamic, init, *, form, work):
    X = init if form == "flat" else jax.vmap(lambda t: factory.ravel(dynamic, t))(init)
    X = X.astype(work)
    tiny = jnp.finfo(work).tiny
    X = X / jnp.maximum(jnp.linalg.norm(X, axis=1, keepdims=True), tiny)
    w = jnp.sum(X, axis=0)
    return w / jnp.maximum(jnp.linalg.norm(w), tiny)


def _start_vector(z, start):
    """The Gaussian ``z`` (cold, ``start`` zero), or ``start`` mixed with it.

    A warm start mixes in ``z`` at relative size ``1e-3`` so that the Krylov
    space does not close on the span of ``init`` when it is an exact
    invariant subspace.
    """
    warm = jnp.any(start != 0)
    v0 = jnp.where(warm, start + 1e-3 * z / jnp.linalg.norm(z), z)
    # Under an enclosing jit a cold start's zeros are a constant and the
    # select folds away; the barrier keeps XLA from fusing the Lanczos start
    # into either form differently, so eager and jitted solves agree bitwise.
    return jax.lax.optimization_barrier(v0)


def _differentiable_solve(
    factory, static, dynamic, key, start, traceable=True, source=None
):
    """The compiled solve, with the eigenvalues differentiable in ``dynamic``.

    For a simple eigenvalue ``lambda = v' A v`` with ``||v|| = 1``, ``d lambda
    = v' dA v`` (the terms with ``dv`` vanish since ``A v = lambda v`` and
    ``v' dv = 0``). So the cotangent of ``dynamic`` for cotangents ``g`` on the
    values is the gradient in ``dynamic`` of ``sum_i g_i x_i' A(dynamic) x_i``
    with the eigenvectors ``x_i`` held fixed: one vjp through the factory's
    ``prepare`` (for a Hessian operator, a third-derivative-vector product).
    The vectors, residuals and flags get no gradient.
    """
    op = _Parts(factory, None, traceable, source)

    @jax.custom_vjp
    def solve(dynamic, key, start):
        op.dynamic = dynamic
        if not _split_search(static, traceable, (dynamic, key, start)):
            return _loops.call_compiled(_eigen_core, op, key, start, **static)
        # An eager solve whose complement search is needed only now and then
        # (a repeated wanted eigenvalue, an invariant subspace) compiles the
        # search as a second program, when it is first needed.
        out, resume = _loops.call_compiled(
            _eigen_core, op, key, start, stage="first", **static
        )
        if not bool(resume["trigger"]):
            return out
        del out  # its vectors: the search's result replaces them
        return _loops.call_compiled(_eigen_resume_core, op, key, resume, **static)

    def fwd(dynamic, key, start):
        out = solve(dynamic, key, start)
        return out, (dynamic, out[1])

    def bwd(res, cts):
        dyn, vectors = res
        g = cts[0]
        X = jax.vmap(lambda t: factory.ravel(dyn, t))(vectors)
        X = jax.lax.stop_gradient(X)

        def quad(d):
            mv = factory.prepare(d)
            return jnp.sum(g * jnp.sum(X * jax.vmap(mv)(X), axis=1))

        (ct_dynamic,) = jax.vjp(quad, dyn)[1](jnp.ones((), g.dtype))
        return ct_dynamic, None, None

    solve.defvjp(fwd, bwd)
    return solve(dynamic, key, start)


def _split_search(static: dict, traceable: bool, args: Any) -> bool:
    """Compile the complement search apart (only when it runs)?

    Only for eager calls (concrete arguments, in-memory data) that ask for
    one end (``"largest"``, ``"largest_magnitude"``) with the default
    ``check_multiplicity``: there the search runs only when the solve finds
    a repeated wanted value or an invariant subspace. Under ``jax.jit`` or
    ``jax.vmap`` the solve stays one program.
    """
    return (
        traceable
        and static["check_multiplicity"] is None
        and static["which"] in ("largest", "largest_magnitude")
        and static["n"] > static["k"]
        and _checks.is_concrete(args)
    )


class _Parts:
    """An operator's factory and dynamic pytree, as ``call_compiled`` takes them.

    ``source`` is the operator they come from (for ``call_compiled`` to check
    its matvec when the solve fails), or None.
    """

    def __init__(self, factory, dynamic, traceable=True, source=None):
        self.factory = factory
        self.dynamic = dynamic
        self.traceable = traceable
        self.source = source


def _solver_parts(factory, dynamic, key, n, dtype):
    """The working matvec, its dtype and the solve's one random draw."""
    matvec = _sharding.shard_matvec(factory.prepare(dynamic))
    # 16-bit operators: the Lanczos vectors, inner products and the small
    # eigenproblems run in float32; only the matvec is 16-bit.
    work = _work_dtype(dtype)
    # The one random draw of the solve: the start and the restart directions.
    z = _sharding.constrain(jax.random.normal(key, (n,), work))
    if work != dtype:
        op_matvec = matvec

        def matvec(v):
            return op_matvec(v.astype(dtype)).astype(work)

    return matvec, z


def _outputs(factory, dynamic, dtype, lanczos_out):
    values, X, residuals, converged, nmv, (reason, floor) = lanczos_out
    vectors = jax.vmap(lambda x: factory.unravel(dynamic, x.astype(dtype)))(X)
    vectors = _sharding.constrain_tree(vectors)
    finite = _loops.all_finite(values, residuals)
    return values, vectors, residuals, converged, nmv, finite, reason, floor


def _warm_chunk(m: int) -> int:
    """Lanczos steps between the convergence checks of a warm-started cycle.

    Each check costs an ``m x m`` eigenproblem; along the benchmark's SGD
    trajectory (``benchmarks/spectrum_tracking.py``, ``m = 29``) a warm start
    needs 10 to 18 steps, and checks every 2 or 3 steps cost the least.
    """
    return max(3, m // 8)


def _eigen_core(factory, dynamic, key, start, *, n, dtype, stage="whole", **options):
    matvec, z = _solver_parts(factory, dynamic, key, n, dtype)
    v0 = _sharding.constrain(_start_vector(z, start))
    warm = jnp.any(start != 0)
    out = _lanczos(matvec, v0, z, stage=stage, warm=warm, **options)
    if stage == "whole":
        return _outputs(factory, dynamic, dtype, out)
    out, resume = out
    return _outputs(factory, dynamic, dtype, out), resume


def _eigen_resume_core(factory, dynamic, key, resume, *, n, dtype, **options):
    matvec, z = _solver_parts(factory, dynamic, key, n, dtype)
    return _outputs(
        factory, dynamic, dtype, _lanczos_resume(matvec, z, resume, **options)
    )


def power_iteration(
    op: Any,
    /,
    k: int = 1,
    *,
    key: jax.Array,
    tol: float = 1e-3,
    max_iters: int = 100,
    strict: bool = False,
) -> EigenResult:
    r"""The ``k`` largest-magnitude eigenpairs by power iteration with deflation.

    The textbook baseline (what PyHessian does): for ``i = 1..k``, iterate
    ``v <- A_i v / ||A_i v||`` with the deflated operator
    ``A_i = A - sum_{j<i} lambda_j u_j u_j^T``, estimating ``lambda = v^T A_i v``,
    until its relative change falls below ``tol`` or ``max_iters`` matvecs.
    Convergence is linear with rate ``|lambda_{i+1} / lambda_i|``: slow for
    close eigenvalues, and the relative-change test stops long before the
    eigenvector is accurate. Prefer :func:`eigenvalues`.

    Args:
      op: a :class:`LinearOperator` of size ``n``, symmetric. A float16 or
        bfloat16 operator is seen in float32: only its matvec is 16-bit;
        values and vectors are float32.
      k: the number of eigenpairs, ``1 <= k <= n``.
      key: a PRNG key for the starting vectors.
      tol: the relative-change stopping tolerance (PyHessian's default 1e-3).
      max_iters: the most iterations per eigenpair.
      strict: raise a ``RuntimeError`` (eagerly) instead of warning when a
        pair did not meet the stopping test.

    Returns:
      An :class:`EigenResult` with ``(k,)`` values in the order found (by
      decreasing magnitude when converged); ``converged`` reports whether the
      relative-change test was met, ``residuals`` the explicit
      ``||A v - lambda v||``.

    Raises:
      ValueError: if ``k`` is outside ``[1, n]`` or ``max_iters < 1``.
      TypeError: if ``op`` is not an operator or ``key`` not a PRNG key.

    >>> import jax, jax.numpy as jnp
    >>> from jaxmc.spectrum import matrix_operator, power_iteration
    >>> op = matrix_operator(jnp.diag(jnp.array([1.0, -2.0, 10.0])))
    >>> res = power_iteration(op, 1, key=jax.random.key(0), tol=1e-10)
    >>> round(float(res.values[0]), 4)
    10.0
    """
    fn = "jaxmc.spectrum.power_iteration"
    # 16-bit: iterate in float32
    op = in_float32(_loops.check_operator(fn, op, compiled=True))
    key = _checks.check_key(fn, "key", key)
    n = op.size
    k = _checks.static_int(fn, "k", k, minimum=1)
    if k > n:
        msg = f"{fn}: argument `k` must be at most the operator size {n}; got {k}."
        raise ValueError(msg)
    max_iters = _checks.static_int(fn, "max_iters", max_iters, minimum=1)
    strict = _loops.check_bool(fn, "strict", strict)
    tol = _loops.check_tol(fn, "tol", tol)
    lams, U, residuals, converged, total, finite, reason, floor = _loops.call_compiled(
        _power_core,
        op,
        key,
        k=k,
        n=n,
        dtype=op.dtype,
        tol=tol,
        max_iters=max_iters,
    )
    _loops.raise_if_nonfinite(fn, op, key, finite)
    result = EigenResult(
        values=lams,
        vectors=U,
        residuals=residuals,
        converged=converged,
        num_matvecs=total,
        reason=reason,
        noise_floor=floor,
    )
    warn_unconverged(fn, result, tol, op.dtype, "largest_magnitude", strict)
    return result


def _power_core(factory, dynamic, key, *, k, n, dtype, tol, max_iters):
    matvec = factory.prepare(dynamic)
    tiny = jnp.finfo(dtype).tiny
    U = jnp.zeros((k, n), dtype)
    lams = jnp.zeros((k,), dtype)
    conv = []
    total = jnp.asarray(0)
    for i, ki in enumerate(jax.random.split(key, k)):
        v = jax.random.normal(ki, (n,), dtype)
        v = v / jnp.linalg.norm(v)

        def apply(v, U=U, lams=lams):
            return matvec(v) - (lams * (U @ v)) @ U

        def cond(s):
            _, lam, lam_old, it = s
            change = jnp.abs(lam - lam_old) / jnp.maximum(jnp.abs(lam), tiny)
            return (it < max_iters) & ((it < 2) | (change > tol))

        def body(s, apply=apply):
            v, lam, _, it = s
            w = apply(v)
            lam_new = v @ w
            v = w / jnp.maximum(jnp.linalg.norm(w), tiny)
            return v, lam_new, lam, it + 1

        zero = jnp.zeros((), dtype)
        v, lam, lam_old, it = jax.lax.while_loop(
            cond, body, (v, zero, zero, jnp.asarray(0))
        )
        change = jnp.abs(lam - lam_old) / jnp.maximum(jnp.abs(lam), tiny)
        conv.append(change <= tol)
        total = total + it
        U = U.at[i].set(v)
        lams = lams.at[i].set(lam)
    residuals = _explicit_residuals(matvec, lams, U)
    vectors = jax.vmap(lambda x: factory.unravel(dynamic, x))(U)
    finite = _loops.all_finite(lams, residuals)
    converged = jnp.stack(conv)
    # the reason and the (zero) noise floor inside the program: no eager ops
    reason = jnp.where(~finite, 4, jnp.where(jnp.all(converged), 0, 2)).astype(
        jnp.int32
    )
    floor = jnp.zeros((), dtype)
    return lams, vectors, residuals, converged, total + k, finite, reason, floor
