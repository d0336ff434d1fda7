r"""Fisher matrices: exact, Monte-Carlo, and the empirical Fisher.

* :func:`fisher_operator`: the Fisher of the model's predictive distribution,

  .. math::
      F = \frac{1}{N} \sum_n J_n^\top F_f(f_n) J_n, \qquad
      F_f(f) = \mathbb{E}_{y \sim p(\cdot|f)}\big[\nabla_f \log p(y|f)\,
      \nabla_f \log p(y|f)^\top\big],

  with ``J_n`` the Jacobian of the model's output ``f_n`` in the parameters
  (``F_f = diag(p) - p p^T`` for a softmax, ``I / sigma^2`` for a Gaussian;
  see ``_likelihood``). It equals the GGN of the matching loss (the
  cross-entropy, the squared error over ``2 sigma^2``). With ``mc_samples=S``
  the expectation is replaced by ``S`` labels drawn per example: the
  Monte-Carlo Fisher, unbiased, with an error falling as ``1/sqrt(S)``.
* :func:`empirical_fisher_operator`: ``(1/N) sum_n g_n g_n^T`` with ``g_n`` the
  gradient of example ``n``'s loss at its true label (and the gradient
  covariance with ``centered=True``).

Monte-Carlo labels are drawn from noise fixed at construction, one draw per
example and sample (Gumbel noise for a softmax, Gaussian noise for a
Gaussian), so the Monte-Carlo Fisher is one fixed matrix given ``key``, the
same for every ``batch_size``. Streamed batches draw theirs from
``fold_in(key, batch index)``.

The operators are built on the compile-once design of ``_operator``: a frozen
:class:`FisherFactory` (static: functions and options) and a dynamic pytree
(parameters, data, noise), so a fresh operator at new parameters compiles
nothing.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmc import _checks, _xla
from jaxmc.spectrum import _hessian as _h
from jaxmc.spectrum import _likelihood as lk
from jaxmc.spectrum import _params
from jaxmc.spectrum._operator import LinearOperator, host_matvec

__all__ = ["empirical_fisher_operator", "fisher_operator"]


@dataclasses.dataclass(frozen=True)
class FisherFactory(_h.SelectedLeavesFactory):
    """The static half of the Fisher operators (see ``_operator``).

    The dynamic half is ``(params, data, noise)`` in memory (``noise`` None
    unless Monte-Carlo), ``(params, handle, key)`` for streamed data.

    Attributes:
      curvature: ``"fisher"`` or ``"empirical"``.
      fn: ``model_fn`` (Fisher) or ``loss_fn`` (empirical Fisher).
      likelihood: ``"categorical"`` or ``"gaussian"`` (Fisher).
      mc_samples: None (exact) or the number of sampled labels (Fisher).
      noise_scale: the Gaussian's standard deviation (Fisher).
      centered: subtract the mean gradient's outer product (empirical).
      mask: one bool per parameter leaf.
      kind: ``"single"``, ``"memory"`` or ``"stream"``.
      batch_size: the in-memory batch size.
      progress: a progress bar over streamed batches.
    """

    curvature: str
    fn: Callable
    likelihood: str
    mc_samples: int | None
    noise_scale: float
    centered: bool
    mask: tuple[bool, ...]
    kind: str
    batch_size: int | None
    progress: bool

    # --- one batch -------------------------------------------------------------

    def batch_sums(self, params: Any, batch: Any, noise: Any, v: jax.Array) -> Any:
        """Sums over one batch's examples: ``(sum_n M_n v, extra)``."""
        return self.batch_linear(params, batch, noise)(v)

    def batch_linear(self, params: Any, batch: Any, noise: Any) -> Callable:
        """``v -> (sum_n M_n v, extra)`` for one batch, linearised once."""
        theta, unravel = _h._flatten(self.mask, params)

        def at(t):
            return _h._merge(self.mask, params, unravel(t))

        if self.curvature == "fisher":
            z, jvp = jax.linearize(lambda t: self.fn(at(t), batch), theta)
            vjp = jax.linear_transpose(jvp, theta)
            U = None
            if self.mc_samples is not None:
                # the fixed noise is (n, S, ...); the pseudo-gradients (S, n, ...)
                U = lk.pseudo_gradients_from_noise(
                    z, jnp.moveaxis(noise, 1, 0), self.likelihood, self.noise_scale
                )
            apply = lk.output_fisher_apply(z, U, self.likelihood, self.noise_scale)
            return lambda v: (vjp(apply(jvp(v)))[0], None)

        def per_example(t):
            def one(example):
                single = jax.tree_util.tree_map(lambda x: x[None], example)
                return self.fn(at(t), single)

            return jax.vmap(one)(batch)

        _, jvp = jax.linearize(per_example, theta)
        vjp = jax.linear_transpose(jvp, theta)

        def product(v):
            c = jvp(v)  # (n,): g_n^T v for every example
            if not self.centered:
                return vjp(c)[0], None
            both = jax.vmap(lambda u: vjp(u)[0])(jnp.stack([c, jnp.ones_like(c)]))
            return both[0], both[1]

        return product

    def finish(self, total: Any, extra: Any, count: Any, v: jax.Array) -> jax.Array:
        out = total / count
        if self.curvature == "empirical" and self.centered:
            mean = extra / count
            out = out - mean * jnp.vdot(mean, v)
        return out

    # --- the whole data set ----------------------------------------------------

    def prepare(self, dynamic: Any) -> Callable[[jax.Array], jax.Array]:
        params, data, noise = dynamic
        if self.kind == "stream":
            return host_matvec(self._stream_matvec, dynamic, arrays=True)
        if self.kind == "single":
            n = jax.tree_util.tree_leaves(data)[0].shape[0]
            product = self.batch_linear(params, data, noise)

            def matvec(v):
                total, extra = product(v)
                return self.finish(total, extra, n, v)

            return matvec
        N = jax.tree_util.tree_leaves(data)[0].shape[0]

        def matvec(v):
            def sums(batch_noise):
                return self.batch_sums(params, *batch_noise, v)

            zero = (jnp.zeros_like(v), jnp.zeros_like(v) if self.centered else None)
            acc, tail = _h._fold_batches((data, noise), self.batch_size, sums, zero)
            if tail is not None:
                acc = jax.tree_util.tree_map(jnp.add, acc, tail)
            return self.finish(*acc, N, v)

        return matvec

    def _stream_matvec(self, dynamic: Any, v: np.ndarray) -> np.ndarray:
        params, handle, key = dynamic
        dm = _h._STREAMS[int(handle)]
        total, extra, count = np.zeros_like(v), np.zeros_like(v), 0
        for i, batch in enumerate(dm.stream("FisherOperator matvec", self.progress)):
            nb = _h._leading_size(dm.fn, "data", batch)
            _params.check_nesting(dm.fn, _params.mesh_of(batch))
            t, e = _stream_batch(self, params, batch, key, np.int32(i), v)
            total += np.asarray(t)
            if e is not None:
                extra += np.asarray(e)
            count += nb
        return self.finish(total, extra, count, v)  # host_matvec places it

    def noise_shape(self, num: int, out_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The fixed noise's shape for ``num`` examples: ``(num, S, ...)``."""
        return (num, self.mc_samples, *out_shape[1:])


@functools.partial(_xla.jit, static_argnums=0)
def _stream_batch(factory: FisherFactory, params, batch, key, index, v):
    """One streamed batch's sums: compiled once per factory and batch shape."""
    noise = None
    if factory.mc_samples is not None:
        out = jax.eval_shape(factory.fn, params, batch)
        shape = factory.noise_shape(out.shape[0], out.shape)
        noise = lk.sample_noise(
            factory.likelihood, jax.random.fold_in(key, index), shape, out.dtype
        )
    return factory.batch_sums(params, batch, noise, v)


def _build(
    fn: str,
    name: str,
    factory_kwargs: dict,
    params,
    data,
    batch_size,
    param_filter,
    key,
    out_shape_of,
) -> LinearOperator:
    pm = _h._Params(fn, params, param_filter)
    dm = _h._Data(fn, data, batch_size)
    factory = FisherFactory(
        mask=pm.mask, kind=dm.kind, batch_size=dm.batch_size, **factory_kwargs
    )
    out_shape_of(pm, dm)
    if dm.kind == "stream":
        # the streamed batches draw their noise from fold_in(key, batch index)
        extra = key if key is not None else jax.random.key(0)
    else:
        extra = None
        if factory.mc_samples is not None:
            out = jax.eval_shape(factory.fn, pm.tree, dm.first)
            shape = factory.noise_shape(dm.size, out.shape)
            extra = lk.sample_noise(factory.likelihood, key, shape, out.dtype)
    return _h._operator_from(factory, pm, dm, name, (extra,))


def fisher_operator(
    model_fn: Callable[[Any, Any], jax.Array],
    params: Any,
    data: Any,
    *,
    likelihood: str = "categorical",
    mc_samples: int | None = None,
    key: jax.Array | None = None,
    noise_scale: float = 1.0,
    batch_size: int | None = None,
    param_filter: Any = None,
    progress: bool = True,
) -> LinearOperator:
    r"""The Fisher of a model's predictive distribution, matrix-free.

    ``F = (1/N) sum_n J_n^T F_f(f_n) J_n`` (module docstring): a jvp of the
    model, the output Fisher (``diag(p) - p p^T`` or ``I / sigma^2``, or its
    Monte-Carlo estimate from sampled labels) and a vjp per matvec. The exact
    Fisher equals :func:`ggn_operator` with the matching loss (the softmax
    cross-entropy; the squared error divided by ``2 sigma^2``).

    Args:
      model_fn: ``model_fn(params, batch) -> outputs``: logits ``(n, C)`` for
        ``"categorical"``, means ``(n, D)`` or ``(n,)`` for ``"gaussian"``.
      params: the parameter pytree.
      data: as in :func:`hessian_operator` (in memory, batched or streamed);
        labels in it are not used.
      likelihood: ``"categorical"`` or ``"gaussian"``.
      mc_samples: None for the exact expectation over labels; an int ``S``
        for the Monte-Carlo Fisher with ``S`` labels drawn per example (fixed
        at construction given ``key``; independent of ``batch_size``).
      key: the PRNG key for ``mc_samples`` (required then).
      noise_scale: the Gaussian likelihood's standard deviation ``sigma``.
      batch_size: as in :func:`hessian_operator`.
      param_filter: as in :func:`hessian_operator`.
      progress: a progress bar over streamed batches.

    Returns:
      A :class:`LinearOperator` of size ``P`` and the parameters' dtype.

    Raises:
      ValueError: for an unknown likelihood, outputs of the wrong shape,
        ``mc_samples`` without a key, or a ``model_fn`` that fails on the
        first batch.
      TypeError: as :func:`hessian_operator`.

    >>> import jax.numpy as jnp
    >>> from jaxmc.spectrum import fisher_operator
    >>> X = jnp.array([[1.0, 0.0], [0.0, 2.0]])
    >>> op = fisher_operator(lambda w, x: x @ w, jnp.zeros(2), X, likelihood="gaussian")
    >>> op.to_dense().round(3).tolist()  # X^T X / N
    [[0.5, 0.0], [0.0, 2.0]]
    """
    fn = "jaxmc.spectrum.fisher_operator"
    _checks.check_callable(fn, "model_fn", model_fn)
    mc_samples, key, noise_scale = lk.check_options(
        fn, likelihood, mc_samples, key, noise_scale
    )

    def check(pm, dm):
        lk.check_model(fn, likelihood, model_fn, pm.tree, dm.first)

    return _build(
        fn,
        "FisherOperator" if mc_samples is None else "MCFisherOperator",
        {
            "curvature": "fisher",
            "fn": model_fn,
            "likelihood": likelihood,
            "mc_samples": mc_samples,
            "noise_scale": noise_scale,
            "centered": False,
            "progress": progress,
        },
        params,
        data,
        batch_size,
        param_filter,
        key,
        check,
    )


def empirical_fisher_operator(
    loss_fn: Callable[[Any, Any], jax.Array],
    params: Any,
    data: Any,
    *,
    centered: bool = False,
    batch_size: int | None = None,
    param_filter: Any = None,
    progress: bool = True,
) -> LinearOperator:
    r"""The empirical Fisher ``(1/N) sum_n g_n g_n^T``, or the gradient covariance.

    ``g_n`` is the gradient of ``loss_fn`` on example ``n`` alone (a batch of
    one, at its own label). With ``centered=True`` the operator is the
    covariance ``(1/N) sum_n g_n g_n^T - g_bar g_bar^T``, ``g_bar`` the mean
    gradient over the data set. Per-example quantities come by ``jax.vmap``
    over the examples of each batch: one jvp gives every ``g_n^T v``, one vjp
    gives ``sum_n c_n g_n``, so the ``(n, P)`` per-example gradients are never
    stored.

    Args:
      loss_fn: ``loss_fn(params, batch) -> scalar``, the mean loss over a
        batch; it is called on batches of one example (so it must not depend
        on other examples of the batch).
      params: the parameter pytree.
      data: as in :func:`hessian_operator`.
      centered: subtract ``g_bar g_bar^T`` (the gradient covariance).
      batch_size: as in :func:`hessian_operator`.
      param_filter: as in :func:`hessian_operator`.
      progress: a progress bar over streamed batches.

    Returns:
      A positive semi-definite :class:`LinearOperator` of size ``P``.

    Raises:
      ValueError: if ``loss_fn`` does not return a scalar on a one-example
        batch, or fails on it.
      TypeError: as :func:`hessian_operator`.

    >>> import jax.numpy as jnp
    >>> from jaxmc.spectrum import empirical_fisher_operator
    >>> loss = lambda w, xy: jnp.mean((xy[0] @ w - xy[1]) ** 2) / 2
    >>> X = jnp.array([[1.0, 0.0], [0.0, 2.0]])
    >>> op = empirical_fisher_operator(loss, jnp.zeros(2), (X, jnp.ones(2)))
    >>> op.to_dense().round(3).tolist()  # g_1 = (-1, 0), g_2 = (0, -2)
    [[0.5, 0.0], [0.0, 2.0]]
    """
    fn = "jaxmc.spectrum.empirical_fisher_operator"
    _checks.check_callable(fn, "loss_fn", loss_fn)
    if not isinstance(centered, bool):
        msg = f"{fn}: argument `centered` must be a bool; got {centered!r}."
        raise TypeError(msg)

    def check(pm, dm):
        one = jax.tree_util.tree_map(
            lambda x: jax.ShapeDtypeStruct((1, *x.shape[1:]), x.dtype), dm.first
        )
        _h._check_scalar_loss(fn, "loss_fn", loss_fn, pm.tree, one)

    return _build(
        fn,
        "EmpiricalFisherOperator",
        {
            "curvature": "empirical",
            "fn": loss_fn,
            "likelihood": "categorical",
            "mc_samples": None,
            "noise_scale": 1.0,
            "centered": centered,
            "progress": progress,
        },
        params,
        data,
        batch_size,
        param_filter,
        None,
        check,
    )
