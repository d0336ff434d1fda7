r"""Sharpness inside a training step: the top Hessian eigenvalue, warm-started.

Researchers follow the sharpness :math:`\lambda_{\max}(\nabla^2 L)` along
training (progressive sharpening and the edge of stability, Cohen et al.
2021). Building an operator and solving to convergence at every step costs far
more than the step itself; but consecutive steps change the Hessian little, so
a few Lanczos steps started from the previous step's eigenvector estimate
track the top eigenpair at the cost of a few Hessian-vector products a step.

:func:`sharpness_tracker` returns a pure ``init`` / ``update`` pair over a
small state, shaped like an optax transformation, to be called inside the
user's own ``jax.jit``-compiled training step (or a ``jax.lax.scan`` over
steps)::

    tracker = jaxmc.spectrum.sharpness_tracker(loss_fn, num_matvecs=5)
    state = tracker.init(params, key=key)

    @jax.jit
    def train_step(params, sharp, batch):
        loss, grads, sharp = tracker.value_grad_and_update(sharp, params, batch)
        params = jax.tree.map(lambda p, g: p - eta * g, params, grads)
        return params, sharp          # sharp.value is lambda_max at params

Each update linearises the gradient once (``jax.linearize``, which also gives
the loss and the gradient the step needs anyway) and replays the linear part
``num_matvecs`` times in a Lanczos recurrence with full reorthogonalisation,
started from the carried vector. The top Ritz pair of that Krylov space
becomes the new estimate: its value is never below the Rayleigh quotient of
the carried vector, and ``residual`` (:math:`\beta_m |y_m|`, exact in exact
arithmetic) bounds its distance to an eigenvalue of the batch Hessian.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from jaxmc import _checks
from jaxmc.spectrum._lanczos import orthogonalise

__all__ = ["SharpnessState", "SharpnessTracker", "sharpness_tracker"]

_FN = "jaxmc.spectrum.sharpness_tracker"


class SharpnessState(NamedTuple):
    r"""The state carried between training steps by :func:`sharpness_tracker`.

    Attributes:
      vector: the current estimate of the top eigenvector, a pytree shaped like
        ``params`` with unit Euclidean norm over all leaves.
      value: scalar, the top Ritz value at the last update (the sharpness
        estimate at the parameters of that update; NaN before the first).
      residual: scalar, the Ritz residual :math:`\|Hv - \theta v\|` of that
        pair (inf before the first update).
      step: int32 scalar, the number of updates so far.
      key: the PRNG key of the small random direction mixed into the next
        update's start (split at every update).
    """

    vector: Any
    value: jax.Array
    residual: jax.Array
    step: jax.Array
    key: jax.Array


class SharpnessTracker(NamedTuple):
    """A pure ``init`` / ``update`` pair, as :func:`sharpness_tracker` returns.

    Attributes:
      init: ``init(params, *, key) -> SharpnessState``, a random unit start.
      update: ``update(state, params, batch) -> SharpnessState``, a few
        Lanczos steps on the Hessian of ``loss_fn(., batch)`` at ``params``.
      value_grad_and_update: ``(state, params, batch) -> (loss, grads,
        state)``: the same update, also returning the batch loss and its
        gradient, which the one linearisation computes anyway.
      num_matvecs: the Hessian-vector products per update.
    """

    init: Callable[..., SharpnessState]
    update: Callable[..., SharpnessState]
    value_grad_and_update: Callable[..., tuple[Any, Any, SharpnessState]]
    num_matvecs: int


def sharpness_tracker(
    loss_fn: Callable[[Any, Any], jax.Array], /, *, num_matvecs: int = 5
) -> SharpnessTracker:
    r"""Tracks the top Hessian eigenvalue of the batch loss inside training.

    For ``loss_fn(params, batch) -> scalar`` the tracker estimates
    :math:`\lambda_{\max}(\nabla^2_\theta \ell(\theta, \text{batch}))` at each
    update by ``num_matvecs`` steps of Lanczos (full reorthogonalisation),
    warm-started from the previous estimate's eigenvector; the top Ritz pair
    of the Krylov space is the new estimate. Along a training trajectory the
    eigenvector moves little per step, so a handful of matvecs per step keeps
    the estimate at the dense top eigenvalue (see the README's figures).
    Each start also holds a random direction of relative size
    ``sqrt(eps)`` (drawn from the state's key), so that an eigenvalue rising
    above the tracked one is picked up within a few updates: from the
    converged vector alone, an invariant subspace, it never would be.

    The functions are pure and jittable: call ``update`` inside a
    ``jax.jit``-compiled training step or a ``jax.lax.scan`` body. Cost per
    update: one linearisation of the gradient (about one gradient evaluation,
    and it also yields the loss and gradient, see ``value_grad_and_update``)
    plus ``num_matvecs`` replays of its linear part.

    Args:
      loss_fn: ``loss_fn(params, batch) -> scalar``, as for
        :func:`jaxmc.spectrum.hessian_operator`.
      num_matvecs: Hessian-vector products per update (the Lanczos steps),
        an int >= 1. Power iteration would need many more for the same error.

    Returns:
      A :class:`SharpnessTracker` with ``init(params, *, key)``,
      ``update(state, params, batch)`` and
      ``value_grad_and_update(state, params, batch)``. The state's ``value``
      is the sharpness estimate, ``residual`` its Ritz residual, ``vector``
      the eigenvector estimate shaped like ``params``.

    Raises:
      TypeError: if ``loss_fn`` is not callable, ``num_matvecs`` is not an
        int, or (at ``init``) the parameters are not floating.
      ValueError: if ``num_matvecs < 1``, or (at ``update``) ``loss_fn`` does
        not return a scalar.

    >>> import jax, jax.numpy as jnp
    >>> A = jnp.diag(jnp.array([3.0, 1.0, -2.0]))
    >>> tracker = sharpness_tracker(lambda p, b: 0.5 * p @ A @ p, num_matvecs=3)
    >>> state = tracker.init(jnp.ones(3), key=jax.random.key(0))
    >>> state = jax.jit(tracker.update)(state, jnp.ones(3), None)
    >>> round(float(state.value), 6)
    3.0
    """
    _checks.check_callable(_FN, "loss_fn", loss_fn)
    m = _checks.static_int(_FN, "num_matvecs", num_matvecs, minimum=1)

    def init(params: Any, *, key: jax.Array) -> SharpnessState:
        flat, unravel = _ravel(params, "init")
        key = _checks.check_key(f"{_FN}(...).init", "key", key)
        key, sub = jax.random.split(key)
        v = jax.random.normal(sub, flat.shape, flat.dtype)
        v = v / jnp.linalg.norm(v)
        nan = jnp.asarray(jnp.nan, flat.dtype)
        inf = jnp.asarray(jnp.inf, flat.dtype)
        step = jnp.zeros((), jnp.int32)
        return SharpnessState(unravel(v), nan, inf, step, key)

    def value_grad_and_update(
        state: SharpnessState, params: Any, batch: Any
    ) -> tuple[jax.Array, Any, SharpnessState]:
        flat, unravel = _ravel(params, "update")

        def value_and_grad(p_flat):
            loss, grads = jax.value_and_grad(_scalar_loss(loss_fn))(
                unravel(p_flat), batch
            )
            return loss, ravel_pytree(grads)[0]

        (loss, g), lin = jax.linearize(value_and_grad, flat)
        v0 = ravel_pytree(state.vector)[0]
        if v0.shape != flat.shape:
            msg = (
                f"{_FN}(...).update: the state's vector has {v0.shape[0]} entries "
                f"but `params` has {flat.shape[0]}; build the state with "
                f"init(params) for these parameters."
            )
            raise ValueError(msg)
        key, sub = jax.random.split(state.key)
        start = _mixed_start(v0.astype(flat.dtype), sub)
        value, vec, res = _lanczos_top(lambda v: lin(v)[1], start, m)
        ok = jnp.isfinite(value) & jnp.all(jnp.isfinite(vec))
        # A non-finite Hessian (overflow, NaN loss) reports NaN but keeps the
        # carried vector, so that tracking resumes once the loss is finite.
        vec = jnp.where(ok, vec, v0)
        value = jnp.where(ok, value, jnp.nan)
        res = jnp.where(ok, res, jnp.nan)
        new = SharpnessState(unravel(vec), value, res, state.step + 1, key)
        return loss, unravel(g), new

    def update(state: SharpnessState, params: Any, batch: Any) -> SharpnessState:
        return value_grad_and_update(state, params, batch)[2]

    return SharpnessTracker(init, update, value_grad_and_update, m)


def _mixed_start(v0: jax.Array, key: jax.Array) -> jax.Array:
    """The carried vector plus a random direction of relative size sqrt(eps).

    A converged carried vector spans an invariant subspace of the Hessian (to
    rounding), so Lanczos from it alone can never see an eigenvalue that
    rises above the tracked one (eigenvalues cross during training): the
    tracker would report the old top, with a tiny residual, for ever. The
    random part's component along the new top eigenvector grows by the
    Krylov filter's factor at every update, so the tracker moves to it after
    a few updates (more when the two are close). At size ``sqrt(eps)`` it
    changes the tracked value by about ``eps`` relative.
    """
    dtype = v0.dtype
    z = jax.random.normal(key, v0.shape, dtype)
    tiny = jnp.finfo(dtype).tiny
    v = v0 / jnp.maximum(jnp.linalg.norm(v0), tiny)
    z = z / jnp.maximum(jnp.linalg.norm(z), tiny)
    return v + jnp.sqrt(jnp.finfo(dtype).eps).astype(dtype) * z


def _ravel(params: Any, where: str):
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        msg = f"{_FN}(...).{where}: argument `params` has no array leaves."
        raise ValueError(msg)
    for leaf in leaves:
        if not jnp.issubdtype(jnp.result_type(leaf), jnp.floating):
            msg = (
                f"{_FN}(...).{where}: argument `params` must hold real floating "
                f"arrays; got a leaf of dtype {jnp.result_type(leaf)}."
            )
            raise TypeError(msg)
    return ravel_pytree(params)


def _scalar_loss(loss_fn):
    def wrapped(params, batch):
        out = loss_fn(params, batch)
        if jnp.shape(out) != ():
            msg = (
                f"{_FN}: `loss_fn(params, batch)` must return a scalar; got shape "
                f"{jnp.shape(out)}."
            )
            raise ValueError(msg)
        return out

    return wrapped


def _lanczos_top(
    matvec: Callable[[jax.Array], jax.Array], v0: jax.Array, m: int
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Top Ritz pair of the m-step Krylov space of ``matvec`` from ``v0``.

    Full reorthogonalisation (twice, classical Gram-Schmidt). At a breakdown
    (an invariant subspace found before m steps) the remaining steps are
    masked out: their diagonal entries of T are set below every Ritz value,
    so they never become the top pair.
    """
    n = v0.shape[0]
    dtype = v0.dtype
    eps = jnp.finfo(dtype).eps
    q0 = v0 / jnp.linalg.norm(v0)

    def body(i, carry):
        V, alphas, betas, active, q, scale = carry
        q = jnp.where(active[i], q, 0.0)
        V = V.at[i].set(q)
        w = matvec(q)
        a = jnp.vdot(q, w)
        w = orthogonalise(V, w)[0]
        b = jnp.linalg.norm(w)
        scale = jnp.maximum(scale, jnp.abs(a) + b + jnp.where(i > 0, betas[i - 1], 0))
        alive = active[i] & (b > 100 * eps * scale)
        active = active.at[i + 1].set(alive)
        alphas = alphas.at[i].set(jnp.where(active[i], a, 0.0))
        betas = betas.at[i].set(jnp.where(active[i], b, 0.0))
        q = jnp.where(alive, w / jnp.where(alive, b, 1.0), 0.0)
        return V, alphas, betas, active, q, scale

    init = (
        jnp.zeros((m, n), dtype),
        jnp.zeros(m, dtype),
        jnp.zeros(m, dtype),
        jnp.ones(m + 1, bool),
        q0,
        jnp.zeros((), dtype),
    )
    V, alphas, betas, active, _, _ = jax.lax.fori_loop(0, m, body, init)
    live = active[:m]
    floor = alphas[0] - (1 + jnp.abs(alphas[0]))
    diag = jnp.where(live, alphas, floor)
    off = jnp.where(live[1:], betas[:-1], 0.0)
    T = jnp.diag(diag) + jnp.diag(off, 1) + jnp.diag(off, -1)
    theta, S = jnp.linalg.eigh(T)
    y = S[:, -1]
    vec = V.T @ y
    vec = vec / jnp.linalg.norm(vec)
    last = jnp.sum(live) - 1
    residual = jnp.abs(betas[last] * y[last])
    return theta[-1], vec, residual
