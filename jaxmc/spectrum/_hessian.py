"""Curvature operators of a loss over model parameters and a data set.

Two operators share one batching engine:

* :func:`hessian_operator`: the Hessian ``H = d^2 L / d theta^2`` of the
  dataset-mean loss ``L(theta) = (1/N) sum_b n_b loss_fn(theta, batch_b)``.
* :func:`ggn_operator`: the generalised Gauss-Newton matrix ``J^T H_L J``, with
  ``J`` the Jacobian of ``model_fn`` and ``H_L`` the Hessian of the loss in the
  model's outputs.

Batches are weighted by their size ``n_b``, so the operator does not depend on
how the data are cut into batches. Data come in three forms:

* a pytree of arrays with a leading example axis (in memory), one batch when
  ``batch_size`` is None, otherwise consecutive slices of ``batch_size``
  examples reduced in a ``jax.lax`` loop (the last one may be shorter);
* a callable returning a fresh iterable of such batches (``lambda: batches``
  for a list of batches), or a re-iterable object that is not a pytree (a data
  loader): streamed by a host-side Python loop with a progress bar. A plain
  list or tuple of arrays is a pytree, hence read as in-memory data.

When the data are one batch, the curvature-vector product comes by default
from a linearisation stored once (``jax.linearize`` of the gradient for
forward-over-reverse, ``jax.vjp`` of the gradient for reverse-over-reverse), so
each matvec replays only the linear part, never the forward pass
(``benchmarks/spectrum_hvp.py``: about 1.3x faster than recomputing it).
``linearize=False`` recomputes the forward pass in every matvec instead, which
saves the memory of the stored residuals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxmc import _checks
from jaxmc.spectrum import _params
from jaxmc.spectrum._operator import LinearOperator

__all__ = ["ggn_operator", "hessian_operator"]

_HVP_MODES = ("fwd-rev", "rev-rev")


def _is_array_tree(data: Any) -> bool:
    leaves = jax.tree_util.tree_leaves(data)
    return bool(leaves) and all(
        isinstance(x, jax.Array | np.ndarray | np.generic) for x in leaves
    )


def _list_of_batches_hint(data: Any) -> str:
    """A hint when ``data`` looks like a list of batches read as one batch."""
    return _params.list_of_batches_hint(data)


def _leading_size(fn: str, name: str, batch: Any) -> int:
    leaves_with_path = jax.tree_util.tree_leaves_with_path(batch)
    sizes = {}
    for path, leaf in leaves_with_path:
        if np.ndim(leaf) == 0:
            msg = (
                f"{fn}: every array in `{name}` needs a leading example axis; "
                f"the leaf at {jax.tree_util.keystr(path) or 'the root'} is a scalar."
            )
            raise ValueError(msg)
        sizes[jax.tree_util.keystr(path) or "root"] = np.shape(leaf)[0]
    if len(set(sizes.values())) > 1:
        given = ", ".join(f"{k}: {v}" for k, v in sizes.items())
        msg = (
            f"{fn}: all arrays in `{name}` must have the same leading (example) "
            f"axis; got sizes {given}.{_list_of_batches_hint(batch)}"
        )
        raise ValueError(msg)
    return int(next(iter(sizes.values())))


def _resolve_filter(fn: str, param_filter: Any, params: Any) -> list[bool]:
    """One bool per leaf of ``params`` (in tree_flatten order)."""
    paths_leaves = jax.tree_util.tree_leaves_with_path(params)
    if param_filter is None:
        return [True] * len(paths_leaves)
    if callable(param_filter):
        mask = [bool(param_filter(path, leaf)) for path, leaf in paths_leaves]
    else:
        try:
            mask_tree = jax.tree_util.tree_map(
                lambda _, m: bool(m), params, param_filter
            )
        except (ValueError, TypeError) as err:
            msg = (
                f"{fn}: argument `param_filter` must be a callable "
                f"(key_path, leaf) -> bool or a pytree of bools with the structure "
                f"of `params`; got {type(param_filter).__name__} ({err})."
            )
            raise TypeError(msg) from None
        mask = jax.tree_util.tree_leaves(mask_tree)
    if not any(mask):
        msg = f"{fn}: argument `param_filter` selects no parameters."
        raise ValueError(msg)
    return mask


class _Params:
    """Flattens the selected leaves of a parameter pytree to one vector."""

    def __init__(self, fn: str, params: Any, param_filter: Any):
        paths_leaves = jax.tree_util.tree_leaves_with_path(params)
        if not paths_leaves:
            msg = f"{fn}: argument `params` has no array leaves."
            raise ValueError(msg)
        self.treedef = jax.tree_util.tree_structure(params)
        self.leaves = [jnp.asarray(leaf) for _, leaf in paths_leaves]
        self.paths = [jax.tree_util.keystr(p) for p, _ in paths_leaves]
        for path, leaf in zip(self.paths, self.leaves, strict=True):
            if not jnp.issubdtype(leaf.dtype, jnp.floating):
                msg = (
                    f"{fn}: argument `params` must hold floating arrays; the leaf "
                    f"at {path or 'the root'} has dtype {leaf.dtype}."
                )
                raise TypeError(msg)
        self.mask = _resolve_filter(fn, param_filter, params)
        selected = [x for x, m in zip(self.leaves, self.mask, strict=True) if m]
        self.theta, self._unravel_selected = ravel_pytree(selected)

    def merge(self, theta: jax.Array) -> Any:
        """The full parameter pytree with the selected leaves read from theta."""
        selected = iter(self._unravel_selected(theta))
        leaves = [
            next(selected) if m else x
            for x, m in zip(self.leaves, self.mask, strict=True)
        ]
        return jax.tree_util.tree_unflatten(self.treedef, leaves)

    def ravel(self, tree: Any) -> jax.Array:
        leaves = jax.tree_util.tree_leaves(tree)
        selected = [x for x, m in zip(leaves, self.mask, strict=True) if m]
        return ravel_pytree(selected)[0]

    def unravel(self, v: jax.Array) -> Any:
        """A pytree like params: v in the selected leaves, zeros elsewhere."""
        selected = iter(self._unravel_selected(v))
        leaves = [
            next(selected) if m else jnp.zeros_like(x)
            for x, m in zip(self.leaves, self.mask, strict=True)
        ]
        return jax.tree_util.tree_unflatten(self.treedef, leaves)

    def nonfinite_paths(self, v: jax.Array) -> list[str]:
        bad = self._unravel_selected(~jnp.isfinite(v))
        paths = [p for p, m in zip(self.paths, self.mask, strict=True) if m]
        return [
            p or "<root>" for p, b in zip(paths, bad, strict=True) if bool(jnp.any(b))
        ]


def _check_scalar_loss(fn: str, name: str, f: Callable, *args: Any) -> None:
    try:
        out = jax.eval_shape(f, *args)
    except Exception as err:  # noqa: BLE001 - re-raised with context
        msg = (
            f"{fn}: calling `{name}` on `params` and the first batch of `data` "
            f"failed; check that the parameter and data shapes match what "
            f"`{name}` expects. It raised {type(err).__name__}: {err}"
            f"{_params.list_of_batches_hint(args[-1], f, args[0]) if args else ''}"
        )
        raise ValueError(msg) from err
    if not hasattr(out, "shape") or out.shape != ():
        msg = (
            f"{fn}: `{name}` must return a scalar (the mean loss over the batch); "
            f"got {_checks.describe(out)}."
        )
        raise ValueError(msg)
    if not jnp.issubdtype(out.dtype, jnp.floating):
        msg = f"{fn}: `{name}` must return a floating scalar; got dtype {out.dtype}."
        raise TypeError(msg)


class _Data:
    """The three data forms behind one interface."""

    def __init__(self, fn: str, data: Any, batch_size: Any):
        self.fn = fn
        if batch_size is not None:
            batch_size = _checks.static_int(fn, "batch_size", batch_size, minimum=1)
        self.batch_size = batch_size
        if isinstance(data, Iterator):
            msg = (
                f"{fn}: argument `data` is a one-shot iterator, but every "
                f"matvec passes over the data again; pass a re-iterable loader "
                f"or a callable returning a fresh iterator (e.g. "
                f"`lambda: make_batches()`)."
            )
            raise TypeError(msg)
        if _is_array_tree(data):
            self.kind = "memory"
            self.data = data
            self.size = _leading_size(fn, "data", data)
            if batch_size is None or batch_size >= self.size:
                self.kind = "single"
            self.first = self._slice(0, min(batch_size or self.size, self.size))
        elif callable(data) or (
            isinstance(data, Iterable) and not isinstance(data, str | bytes)
        ):
            self.kind = "stream"
            self.factory = data if callable(data) else (lambda: data)
            first = next(iter(self.factory()), None)
            if first is None or not _is_array_tree(first):
                msg = (
                    f"{fn}: argument `data` must yield batches that are pytrees "
                    f"of arrays; got {type(first).__name__} as the first batch."
                )
                raise TypeError(msg)
            _leading_size(fn, "data", first)
            self.first = first
        else:
            msg = (
                f"{fn}: argument `data` must be a pytree of arrays with a leading "
                f"example axis, or an iterable of such batches; got "
                f"{type(data).__name__}."
            )
            raise TypeError(msg)

    def _slice(self, start: int, stop: int) -> Any:
        return jax.tree_util.tree_map(lambda x: x[start:stop], self.data)


def _build(
    fn: str,
    name: str,
    pm: _Params,
    dm: _Data,
    *,
    prepare: Callable[[jax.Array, Any], Callable[[jax.Array], jax.Array]],
    direct: Callable[[jax.Array, Any, jax.Array], jax.Array],
    progress: bool,
    linearize: bool,
) -> LinearOperator:
    """Wraps per-batch curvature products into a dataset-mean LinearOperator.

    ``prepare(theta, batch)`` returns a jax.tree_util.Partial computing the
    product for one batch (a stored linearisation); ``direct(theta, batch, v)``
    computes it from scratch (no storage across matvecs).
    """
    theta = pm.theta
    n = theta.size
    dtype = theta.dtype

    if dm.kind == "single":
        # A Partial holding the data (or the linearisation's residuals), sharded
        # as given: the algorithms pass it to their compiled programs as an
        # argument, so XLA sees the shardings and inserts the reductions.
        if linearize:
            flat_matvec = jax.jit(prepare)(theta, dm.data)
        else:
            flat_matvec = jax.tree_util.Partial(direct, theta, dm.data)
        traceable = True
    elif dm.kind == "memory":
        bs, N = dm.batch_size, dm.size
        num_full, rest = divmod(N, bs)
        data = dm.data

        def flat_matvec(v):
            def body(i, acc):
                batch = jax.tree_util.tree_map(
                    lambda x: jax.lax.dynamic_slice_in_dim(x, i * bs, bs), data
                )
                return acc + direct(theta, batch, v)

            acc = jax.lax.fori_loop(0, num_full, body, jnp.zeros_like(v))
            out = acc * (bs / N)
            if rest:
                tail = jax.tree_util.tree_map(lambda x: x[num_full * bs :], data)
                out = out + direct(theta, tail, v) * (rest / N)
            return out

        traceable = True
    else:
        from tqdm.auto import tqdm

        direct_jit = jax.jit(direct)

        def flat_matvec(v):
            quiet = not progress or not _checks.is_concrete(v)
            acc = jnp.zeros_like(v)
            count = 0
            for batch in tqdm(
                dm.factory(), desc=f"{name} matvec", leave=False, disable=quiet
            ):
                nb = _leading_size(fn, "data", batch)
                acc = acc + direct_jit(theta, batch, v) * nb
                count += nb
            return acc / count

        traceable = False

    op = LinearOperator(
        flat_matvec,
        size=n,
        dtype=dtype,
        ravel=pm.ravel,
        unravel=pm.unravel,
        name=name,
        traceable=traceable,
    )
    op.nonfinite_paths = pm.nonfinite_paths
    return op


def hessian_operator(
    loss_fn: Callable[[Any, Any], jax.Array],
    params: Any,
    data: Any,
    *,
    batch_size: int | None = None,
    param_filter: Any = None,
    hvp: str = "fwd-rev",
    linearize: bool = True,
    progress: bool = True,
) -> LinearOperator:
    r"""The Hessian of a dataset-mean loss as a matrix-free operator.

    .. math::
        H = \nabla^2_\theta L(\theta), \qquad
        L(\theta) = \frac{1}{N} \sum_b n_b\, \ell(\theta, \text{batch}_b),

    where ``loss_fn(params, batch)`` returns the mean loss ``l`` over a batch of
    ``n_b`` examples. Each matvec ``H v`` costs a few gradient evaluations; the
    ``(P, P)`` Hessian is never formed (use ``op.to_dense(chunk_size=...)`` on
    small problems).

    Args:
      loss_fn: ``loss_fn(params, batch) -> scalar``, the mean loss over a batch.
      params: the point ``theta``: any pytree of floating arrays (dicts, lists,
        flax or equinox parameters). Vectors are flattened in
        ``jax.tree_util`` leaf order with ``jax.flatten_util.ravel_pytree``.
      data: a pytree of arrays with a leading example axis of size ``N``; or a
        callable returning a fresh iterable of such batches (``lambda:
        batch_list``), or a re-iterable loader object, streamed batch by batch
        (a list or tuple is a pytree: it is read as in-memory data).
      batch_size: for in-memory data, the number of examples per batch
        (None: all at once). The result does not depend on it.
      param_filter: restricts the operator to some parameters: None (all), a
        pytree of bools shaped like ``params``, or a callable
        ``(key_path, leaf) -> bool`` (``key_path`` as in
        ``jax.tree_util.tree_leaves_with_path``). The operator is then the
        Hessian block of the selected leaves; its ``unravel`` puts zeros in the
        others.
      hvp: ``"fwd-rev"`` (forward-over-reverse, a jvp of the gradient; the
        default) or ``"rev-rev"`` (reverse-over-reverse, a vjp of the gradient).
      linearize: for one-batch data, store the gradient's linearisation (or
        vjp) once and replay only its linear part in each matvec (the
        default); False recomputes the forward pass in every matvec, saving
        the memory of the stored residuals (a forward and backward pass).
        Batched and streamed data always recompute.
      progress: show a tqdm progress bar over streamed batches (never under jit,
        never for in-memory data).

    Returns:
      A :class:`LinearOperator` of size ``P`` (the number of selected
      parameters) and the parameters' dtype. ``op.matvec`` takes a flat
      ``(P,)`` vector or a pytree like ``params``.

    Raises:
      ValueError: if ``loss_fn`` does not return a scalar, fails on ``params``
        and the first batch (mismatched shapes), or the data arrays have
        different leading sizes; if ``param_filter`` selects nothing.
      TypeError: for non-floating parameters, a one-shot iterator as ``data``,
        or an unknown ``param_filter`` type.

    >>> import jax.numpy as jnp
    >>> from jaxmc.spectrum import hessian_operator
    >>> loss = lambda w, xy: jnp.mean((xy[0] @ w - xy[1]) ** 2)
    >>> X = jnp.array([[1.0, 0.0], [0.0, 2.0]])
    >>> op = hessian_operator(loss, jnp.zeros(2), (X, jnp.zeros(2)))
    >>> op.to_dense().round(3).tolist()  # 2 X^T X / N
    [[1.0, 0.0], [0.0, 4.0]]
    """
    fn = "jaxmc.spectrum.hessian_operator"
    _checks.check_callable(fn, "loss_fn", loss_fn)
    _checks.check_one_of(fn, "hvp", hvp, _HVP_MODES)
    params, loss_fn, param_filter = _params.adapt_params(
        fn, params, loss_fn, param_filter
    )
    pm = _Params(fn, params, param_filter)
    dm = _Data(fn, data, batch_size)
    _check_scalar_loss(fn, "loss_fn", loss_fn, params, dm.first)

    def loss_flat(theta, batch):
        return loss_fn(pm.merge(theta), batch)

    grad = jax.grad(loss_flat)

    if hvp == "fwd-rev":

        def prepare(theta, batch):
            return jax.linearize(lambda t: grad(t, batch), theta)[1]

        def direct(theta, batch, v):
            return jax.jvp(lambda t: grad(t, batch), (theta,), (v,))[1]

    else:

        def prepare(theta, batch):
            vjp = jax.vjp(lambda t: grad(t, batch), theta)[1]
            return jax.tree_util.Partial(_first, vjp)

        def direct(theta, batch, v):
            return jax.vjp(lambda t: grad(t, batch), theta)[1](v)[0]

    return _build(
        fn,
        "HessianOperator",
        pm,
        dm,
        prepare=prepare,
        direct=direct,
        progress=progress,
        linearize=linearize,
    )


def _first(vjp: Callable, v: jax.Array) -> jax.Array:
    return vjp(v)[0]


def ggn_operator(
    model_fn: Callable[[Any, Any], Any],
    loss_fn: Callable[[Any, Any], jax.Array],
    params: Any,
    data: Any,
    /,
    *,
    batch_size: int | None = None,
    param_filter: Any = None,
    linearize: bool = True,
    progress: bool = True,
) -> LinearOperator:
    r"""The generalised Gauss-Newton matrix of a dataset-mean loss, matrix-free.

    .. math::
        G = \frac{1}{N} \sum_b n_b\, J_b^\top H_{\ell,b} J_b, \qquad
        J_b = \partial_\theta f(\theta, \text{batch}_b), \quad
        H_{\ell,b} = \nabla^2_z \ell(z, \text{batch}_b)\big|_{z = f(\theta, \text{batch}_b)},

    with ``f = model_fn`` and ``l = loss_fn``, so that ``loss_fn(model_fn(params,
    batch), batch)`` is the mean loss over the batch. ``G`` is the Hessian minus
    the terms with second derivatives of the model; it is positive
    semi-definite when the loss is convex in the outputs (squared error,
    softmax cross-entropy). Each matvec is a jvp of the model, a Hessian-vector
    product of the loss in the outputs and a vjp of the model.

    Args:
      model_fn: ``model_fn(params, batch) -> outputs`` (any pytree of arrays).
      loss_fn: ``loss_fn(outputs, batch) -> scalar``, the mean over the batch.
      params: any pytree of floating arrays, as in :func:`hessian_operator`.
      data: as in :func:`hessian_operator`.
      batch_size: as in :func:`hessian_operator`.
      param_filter: as in :func:`hessian_operator`.
      linearize: as in :func:`hessian_operator` (stores the model's
        linearisation and the loss Hessian's for one-batch data).
      progress: as in :func:`hessian_operator`.

    Returns:
      A :class:`LinearOperator` of size ``P`` and the parameters' dtype.

    Raises:
      ValueError: as :func:`hessian_operator`, for the composed loss.
      TypeError: as :func:`hessian_operator`.

    >>> import jax.numpy as jnp
    >>> from jaxmc.spectrum import ggn_operator
    >>> model = lambda w, xy: xy[0] @ w
    >>> loss = lambda z, xy: jnp.mean((z - xy[1]) ** 2)
    >>> X = jnp.array([[1.0, 0.0], [0.0, 2.0]])
    >>> ggn_operator(model, loss, jnp.zeros(2), (X, jnp.zeros(2))).to_dense().round(3).tolist()
    [[1.0, 0.0], [0.0, 4.0]]
    """  # noqa: E501
    fn = "jaxmc.spectrum.ggn_operator"
    _checks.check_callable(fn, "model_fn", model_fn)
    _checks.check_callable(fn, "loss_fn", loss_fn)
    params, model_fn, param_filter = _params.adapt_params(
        fn, params, model_fn, param_filter
    )
    pm = _Params(fn, params, param_filter)
    dm = _Data(fn, data, batch_size)
    _check_scalar_loss(
        fn, "loss_fn", lambda p, b: loss_fn(model_fn(p, b), b), params, dm.first
    )

    def model_flat(theta, batch):
        return model_fn(pm.merge(theta), batch)

    def ggn_parts(theta, batch):
        z, jvp = jax.linearize(lambda t: model_flat(t, batch), theta)
        vjp = jax.linear_transpose(jvp, theta)
        gz = jax.grad(loss_fn)
        hl = jax.linearize(lambda u: gz(u, batch), z)[1]
        return jax.tree_util.Partial(_ggn_apply, jvp, hl, vjp)

    def direct(theta, batch, v):
        return ggn_parts(theta, batch)(v)

    return _build(
        fn,
        "GGNOperator",
        pm,
        dm,
        prepare=ggn_parts,
        direct=direct,
        progress=progress,
        linearize=linearize,
    )


def _ggn_apply(jvp: Callable, hl: Callable, vjp: Callable, v: jax.Array) -> jax.Array:
    return vjp(hl(jvp(v)))[0]
