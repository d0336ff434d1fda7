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
  ``batch_size`` is None, otherwise batches of ``batch_size`` examples reduced
  in a ``jax.lax`` loop (strided: batch ``i`` holds examples ``i, i + m, i +
  2m, ...`` of the first ``m * batch_size``, so that data sharded over the
  example axis stay data-parallel; the remaining examples form a last, shorter
  batch);
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

import dataclasses
import functools
import itertools
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as jex_core
from jax.flatten_util import ravel_pytree

from jaxmc import _checks, _xla
from jaxmc._bounded import BoundedDict
from jaxmc.spectrum import _params, _progress, _sharding
from jaxmc.spectrum._operator import (
    CheckedSignatures,
    LinearOperator,
    MatvecFactory,
    abstract_tree,
    host_matvec,
)

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


def _nonempty_size(fn: str, name: str, batch: Any) -> int:
    """``_leading_size``, raising ValueError when it is 0 (no examples)."""
    size = _leading_size(fn, name, batch)
    if size == 0:
        what = "the first batch of `data`" if name == "first batch" else f"`{name}`"
        msg = (
            f"{fn}: {what} holds no examples (leading axis of size 0); the "
            f"dataset-mean loss needs at least one example."
        )
        raise ValueError(msg)
    return size


def _leading_size(fn: str, name: str, batch: Any) -> int:
    shapes = [np.shape(x) for x in jax.tree_util.tree_leaves(batch)]
    if shapes and all(shapes) and len({s[0] for s in shapes}) == 1:
        return int(shapes[0][0])  # the common case, checked without key paths
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
        mask = [
            _as_bool(fn, jax.tree_util.keystr(path), param_filter(path, leaf), True)
            for path, leaf in paths_leaves
        ]
    else:
        try:
            mask_tree = jax.tree_util.tree_map_with_path(
                lambda path, _, m: _as_bool(fn, jax.tree_util.keystr(path), m, False),
                params,
                param_filter,
            )
        except (ValueError, TypeError) as err:
            if str(err).startswith(fn):
                raise
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


def _as_bool(fn: str, path: str, m: Any, from_callable: bool) -> bool:
    """``m`` as a bool: Python or numpy bools, or 0-d concrete bool arrays."""
    if isinstance(m, bool | np.bool_):
        return bool(m)
    if (
        isinstance(m, jax.Array | np.ndarray)
        and m.shape == ()
        and m.dtype == np.bool_
        and _checks.is_concrete(m)
    ):
        return bool(m)
    where = "the callable returned" if from_callable else "the mask holds"
    msg = (
        f"{fn}: argument `param_filter` must be a pytree of bools (True / False) "
        f"with the structure of `params`, or a callable (key_path, leaf) -> bool; "
        f"{where} {type(m).__name__} {m!r} for the leaf at {path or 'the root'}."
    )
    raise TypeError(msg)


class _Params:
    """The host-side view of a parameter pytree: paths, mask, size, dtype.

    Nothing here runs an XLA computation: the flat size and dtype come from
    ``jax.eval_shape``; flattening happens inside the compiled programs.
    """

    def __init__(self, fn: str, params: Any, param_filter: Any):
        paths_leaves = jax.tree_util.tree_leaves_with_path(params)
        if not paths_leaves:
            msg = f"{fn}: argument `params` has no array leaves."
            raise ValueError(msg)
        self.treedef = jax.tree_util.tree_structure(params)
        self.leaves = [
            leaf if isinstance(leaf, jax.Array) else jnp.asarray(leaf)
            for _, leaf in paths_leaves
        ]
        self.paths = [jax.tree_util.keystr(p) for p, _ in paths_leaves]
        for path, leaf in zip(self.paths, self.leaves, strict=True):
            if not jnp.issubdtype(leaf.dtype, jnp.floating):
                msg = (
                    f"{fn}: argument `params` must hold floating arrays; the leaf "
                    f"at {path or 'the root'} has dtype {leaf.dtype}."
                )
                raise TypeError(msg)
        self.mask = tuple(_resolve_filter(fn, param_filter, params))
        self.tree = jax.tree_util.tree_unflatten(self.treedef, self.leaves)
        sig = (self.mask, abstract_tree(self.tree))
        if sig not in _FLAT:
            flat = jax.eval_shape(lambda p: _flatten(self.mask, p)[0], self.tree)
            _FLAT[sig] = (int(flat.size), flat.dtype)
        self.size, self.dtype = _FLAT[sig]

    def nonfinite_paths(self, v: jax.Array) -> list[str]:
        """The paths of the selected leaves where ``v`` is not finite."""
        bad = ~np.isfinite(np.asarray(v))
        pairs = zip(self.leaves, self.mask, strict=True)
        sizes = [int(np.size(x)) for x, m in pairs if m]
        paths = [p for p, m in zip(self.paths, self.mask, strict=True) if m]
        parts = np.split(bad, np.cumsum(sizes)[:-1])
        return [p or "<root>" for p, b in zip(paths, parts, strict=True) if b.any()]


def _flatten(mask: tuple[bool, ...], params: Any) -> tuple[jax.Array, Callable]:
    """The selected leaves of ``params`` as one vector, and its unravel."""
    leaves = jax.tree_util.tree_leaves(params)
    selected = [x for x, m in zip(leaves, mask, strict=True) if m]
    return ravel_pytree(selected)


def _merge(mask: tuple[bool, ...], params: Any, selected: list[Any]) -> Any:
    """``params`` with its selected leaves replaced by ``selected``."""
    leaves, treedef = jax.tree_util.tree_flatten(params)
    it = iter(selected)
    merged = [next(it) if m else x for x, m in zip(leaves, mask, strict=True)]
    return jax.tree_util.tree_unflatten(treedef, merged)


def _eval_on_first(fn: str, name: str, f: Callable, *args: Any) -> Any:
    """``jax.eval_shape(f, *args)`` (params, first batch); a failure in context."""
    try:
        return jax.eval_shape(f, *args)
    except Exception as err:  # noqa: BLE001 - re-raised with context
        msg = (
            f"{fn}: calling `{name}` on `params` and the first batch of `data` "
            f"failed; check that the parameter and data shapes match what "
            f"`{name}` expects. It raised {type(err).__name__}: {err}"
            f"{_params.list_of_batches_hint(args[-1], f, args[0]) if args else ''}"
        )
        raise ValueError(msg) from err


def _check_scalar_loss(fn: str, name: str, f: Callable, *args: Any) -> None:
    """Raises unless ``f(*args)`` is a floating scalar (checked abstractly).

    Once per function and abstract arguments: an operator built at every
    checkpoint of a training loop traces the loss once, not at every
    checkpoint.
    """
    sig = abstract_tree(args)
    key = None if sig is None else (f, sig)
    try:
        if key in _LOSS_OK:
            return
    except TypeError:  # an unhashable callable: checked every time
        key = None
    out = _eval_on_first(fn, name, f, *args)
    if not hasattr(out, "shape") or out.shape != ():
        msg = (
            f"{fn}: `{name}` must return a scalar (the mean loss over the batch); "
            f"got {_checks.describe(out)}."
        )
        raise ValueError(msg)
    if not jnp.issubdtype(out.dtype, jnp.floating):
        msg = f"{fn}: `{name}` must return a floating scalar; got dtype {out.dtype}."
        raise TypeError(msg)
    _LOSS_OK.add(key)


_LOSS_OK = CheckedSignatures()
# the flat size and dtype of the selected parameters, per abstract pytree
_FLAT: dict[Any, tuple[int, Any]] = BoundedDict(512)


class _Data:
    """The three data forms behind one interface."""

    def __init__(self, fn: str, data: Any, batch_size: Any):
        self.fn = fn
        self._replicated: dict[Any, tuple[list, Any]] = {}  # see replicated()
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
        if isinstance(data, Mapping) and not _is_array_tree(data):
            # A dict is one in-memory batch, never a stream of its keys.
            for path, leaf in jax.tree_util.tree_leaves_with_path(data):
                if not isinstance(leaf, jax.Array | np.ndarray | np.generic):
                    where = "data" + jax.tree_util.keystr(path)
                    msg = (
                        f"{fn}: argument `data` is a dict, read as one in-memory "
                        f"batch, but {where} is {_checks.describe(leaf)}, which has "
                        f"no example axis; every leaf must be an array with a "
                        f"leading example axis. Close over constants in the loss "
                        f"function instead (e.g. `lambda p, b: loss(p, b, scale=2.0)`)."
                    )
                    raise TypeError(msg)
        if _is_array_tree(data):
            self.kind = "memory"
            self.data = data
            self.size = _nonempty_size(fn, "data", data)
            if batch_size is None or batch_size >= self.size:
                self.kind = "single"
            first = min(batch_size or self.size, self.size)
            self.first = jax.tree_util.tree_map(
                lambda x: jax.ShapeDtypeStruct((first, *np.shape(x)[1:]), x.dtype),
                data,
            )
        elif callable(data) or (
            isinstance(data, Iterable) and not isinstance(data, str | bytes)
        ):
            self.kind = "stream"
            if batch_size is not None:
                msg = (
                    f"{fn}: argument `batch_size` applies to in-memory data; "
                    f"streamed batches are used as the loader yields them (got "
                    f"batch_size={batch_size} with {type(data).__name__} data). "
                    f"Re-batch the loader, or pass the data as arrays."
                )
                raise ValueError(msg)
            self.factory = data if callable(data) else (lambda: data)
            first = next(iter(self.factory()), None)
            if first is None or not _is_array_tree(first):
                msg = (
                    f"{fn}: argument `data` must yield batches that are pytrees "
                    f"of arrays; got {type(first).__name__} as the first batch."
                )
                raise TypeError(msg)
            _nonempty_size(fn, "first batch", first)
            self.first = first
        else:
            msg = (
                f"{fn}: argument `data` must be a pytree of arrays with a leading "
                f"example axis, or an iterable of such batches; got "
                f"{type(data).__name__}."
            )
            raise TypeError(msg)

    def stream(self, desc: str, progress: bool) -> Iterable[Any]:
        """The streamed batches once, behind a progress bar (``kind "stream"``)."""
        from tqdm.auto import tqdm

        # Inside a solve, the solve's bar counts the matvecs instead of a bar
        # per matvec over its batches.
        in_solve = _progress.active()
        if not progress or in_solve:
            yield from self.factory()
        else:
            yield from tqdm(self.factory(), desc=desc, leave=False)
        if in_solve:
            _progress.matvec_done()

    def replicated(self, mesh: Any, params: Any) -> Any:
        """``params`` replicated over ``mesh`` (or None), kept between matvecs.

        A solve run from the host passes the same parameter arrays to every
        matvec; they are copied to the mesh once, not once per matvec.
        """
        if mesh is None:
            return params
        leaves = jax.tree_util.tree_leaves(params)
        hit = self._replicated.get(mesh)
        if hit is not None and all(a is b for a, b in zip(hit[0], leaves, strict=True)):
            return hit[1]
        out = _params.replicate_on(mesh, params)
        self._replicated[mesh] = (leaves, out)
        return out

    def groups(self, desc: str, progress: bool) -> Iterator[tuple[list[Any], int, Any]]:
        """The streamed batches once, in groups: ``(batches, examples each, sig)``.

        A group holds up to ``_STREAM_GROUP`` consecutive batches of one tree
        structure, shapes, dtypes and sharding, so that one compiled call
        computes them all: a streamed matvec dispatches one program per group
        instead of one per batch (``kind "stream"``). ``sig`` is the batches'
        structure, shapes, dtypes and sharding (hashable).
        """
        group, sig, size = [], None, 0
        for batch in self.stream(desc, progress):
            nb = _leading_size(self.fn, "data", batch)
            leaves, tree = jax.tree_util.tree_flatten(batch)
            s = (tree, tuple(_signature(x) for x in leaves))
            if group and (s != sig or len(group) == _STREAM_GROUP):
                yield group, size, sig
                group = []
            group.append(batch)
            sig, size = s, nb
        if group:
            yield group, size, sig

    def batches(self, desc: str, progress: bool) -> Iterator[Any]:
        """Every batch once, in order, on the host (any kind)."""
        if self.kind == "single":
            yield self.data
            return
        if self.kind == "memory":
            bs, N = self.batch_size, self.size
            for start in range(0, N, bs):
                stop = min(start + bs, N)
                yield jax.tree_util.tree_map(
                    lambda x, a=start, b=stop: x[a:b], self.data
                )
            return
        yield from self.stream(desc, progress)


def _signature(x: Any) -> tuple[Any, ...]:
    """What a compiled call depends on for one array: shape, dtype, sharding."""
    return np.shape(x), getattr(x, "dtype", type(x)), getattr(x, "sharding", None)


def _strided_batches(data: Any, batch_size: int) -> tuple[int, Callable, Any]:
    """The in-memory batches of ``data``: ``(count, batch(i), last or None)``.

    ``batch(i)`` (``i`` may be traced) is full batch ``i``; ``last`` is the
    shorter last batch, if any. ``data`` is a pytree of arrays with one
    leading example axis.
    """
    bs = batch_size
    N = jax.tree_util.tree_leaves(data)[0].shape[0]
    num_full, rest = divmod(N, bs)
    # Batch i takes every num_full-th example (i, i + num_full, ...) of the
    # first num_full * bs: a reshape to (bs, num_full) and a slice of its
    # column i. On data sharded over d devices along the example axis (d
    # dividing bs), each device then holds bs / d rows of every batch, so the
    # batches stay data-parallel: consecutive slices would sit on one device
    # each and be computed serially.
    grid = jax.tree_util.tree_map(
        lambda x: x[: num_full * bs].reshape(bs, num_full, *x.shape[1:]), data
    )

    def batch(i):
        return jax.tree_util.tree_map(
            lambda x: jax.lax.dynamic_index_in_dim(x, i, 1, keepdims=False), grid
        )

    last = None
    if rest:
        last = jax.tree_util.tree_map(lambda x: x[num_full * bs :], data)
    return num_full, batch, last


def _fold_batches(
    data: Any, batch_size: int, f: Callable[[Any], Any], zero: Any
) -> tuple[Any, Any]:
    """Sums ``f`` over the full in-memory batches of ``data`` in a ``lax`` loop.

    Returns ``(sum over the full batches, f(the shorter last batch) or None)``;
    ``data`` is a pytree of arrays with one leading example axis, ``f`` maps a
    batch of it to a pytree shaped like ``zero``. The batches are those of
    :func:`_strided_batches`; the operators are means over examples, so they
    do not depend on how the examples are grouped.
    """
    num_full, batch, last = _strided_batches(data, batch_size)

    def body(i, acc):
        return jax.tree_util.tree_map(jnp.add, acc, f(batch(i)))

    acc = jax.lax.fori_loop(0, num_full, body, zero)
    return acc, None if last is None else f(last)


_STREAMS: dict[int, _Data] = {}
# Streamed batches computed by one compiled call (see _Data.groups).
_STREAM_GROUP = 4
_HANDLES = itertools.count()


class SelectedLeavesFactory(MatvecFactory):
    """A factory whose vectors are the selected leaves of the parameters.

    For the parameter-space operators: the dynamic half starts with the
    parameter pytree, and the field ``mask`` (one bool per leaf) selects the
    leaves the flat vector holds; ``unravel`` puts zeros in the others.
    """

    mask: tuple[bool, ...]

    def ravel(self, dynamic: Any, tree: Any) -> jax.Array:
        return _flatten(self.mask, tree)[0]

    def unravel(self, dynamic: Any, v: jax.Array) -> Any:
        params = dynamic[0]
        _, unravel = _flatten(self.mask, params)
        selected = iter(unravel(v))
        leaves, treedef = jax.tree_util.tree_flatten(params)
        out = [
            next(selected) if m else jnp.zeros_like(x)
            for x, m in zip(leaves, self.mask, strict=True)
        ]
        return jax.tree_util.tree_unflatten(treedef, out)


def _source(pm: _Params, dm: _Data) -> Any:
    """The data half of an operator's dynamic arrays.

    The in-memory data, or for streamed data an int handle naming ``dm`` in the
    ``_STREAMS`` registry (so that the compiled programs do not depend on the
    data source object). The entry lives as long as the handle array, which
    the operator holds and so does every operator made from it (sums,
    scalings, blocks, a Jacobian's transpose and Gram matrix).
    """
    if dm.kind != "stream":
        return dm.data
    if any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(pm.tree)):
        # The host-side source lives in a registry entry that goes with the
        # handle array, which a trace drops before the program runs.
        msg = (
            f"{dm.fn}: streamed `data` (a callable yielding batches) cannot be "
            f"used inside jax.jit / jax.vmap / jax.grad (`params` are traced). "
            f"Build the operator and run the algorithm outside the transform, "
            f"or pass in-memory data (with batch_size=) inside it."
        )
        raise ValueError(msg)
    handle = next(_HANDLES)
    _STREAMS[handle] = dm
    source = np.asarray(handle, np.int32)
    weakref.finalize(source, _STREAMS.pop, handle, None)
    return source


def _operator_from(
    factory: MatvecFactory,
    pm: _Params,
    dm: _Data,
    name: str,
    extra: tuple[Any, ...] = (),
) -> LinearOperator:
    """The operator of ``factory`` with dynamic ``(params, source, *extra)``.

    ``source`` is the in-memory data or a streamed source's handle (see
    :func:`_source`).
    """
    op = LinearOperator.from_factory(
        factory,
        (pm.tree, _source(pm, dm), *extra),
        size=pm.size,
        dtype=pm.dtype,
        name=name,
        traceable=dm.kind != "stream",
    )
    op.nonfinite_paths = pm.nonfinite_paths
    return op


@dataclasses.dataclass(frozen=True)
class CurvatureFactory(SelectedLeavesFactory):
    """The static half of Hessian and GGN operators (see ``_operator``).

    The dynamic half is ``(params, data)`` for in-memory data, and
    ``(params, handle)`` for streamed data, ``handle`` an int array naming the
    host-side data source in a registry (so that the program does not depend on
    the source object).

    Attributes:
      curvature: ``"hessian"`` or ``"ggn"``.
      loss_fn: the loss (of parameters, or of model outputs for the GGN).
      model_fn: the model, for the GGN (None for the Hessian).
      hvp: ``"fwd-rev"`` or ``"rev-rev"`` (Hessian only).
      mask: one bool per parameter leaf, True where selected.
      kind: ``"single"``, ``"memory"`` (batched in a ``lax`` loop) or
        ``"stream"`` (host-side loop).
      batch_size: the batch size of in-memory batching.
      linearize: whether one-batch data store the linearisation.
      progress: whether streamed matvecs show a progress bar.
    """

    # hessian_operator and ggn_operator check that the loss returns a
    # floating scalar and the parameters are floating; the product is then a
    # flat (P,) vector of the parameters' dtype (flatten, jvp or vjp, ravel)
    _output_by_construction = True

    curvature: str
    loss_fn: Callable
    model_fn: Callable | None
    hvp: str
    mask: tuple[bool, ...]
    kind: str
    batch_size: int | None
    linearize: bool
    progress: bool

    def batch_product(
        self, params: Any, batch: Any, *, linearize: bool
    ) -> Callable[[jax.Array], jax.Array]:
        """The curvature-vector product of one batch, as a function of ``v``.

        With ``linearize`` the forward pass runs once here and each product
        replays only the linear part; otherwise each product recomputes it.
        """
        theta, unravel = _flatten(self.mask, params)

        def at(t):
            return _merge(self.mask, params, unravel(t))

        if self.curvature == "hessian":
            grad = jax.grad(lambda t: self.loss_fn(at(t), batch))
            if self.hvp == "fwd-rev":
                if linearize:
                    return jax.linearize(grad, theta)[1]
                return lambda v: jax.jvp(grad, (theta,), (v,))[1]
            if linearize:
                vjp = jax.vjp(grad, theta)[1]
                return lambda v: vjp(v)[0]
            return lambda v: jax.vjp(grad, theta)[1](v)[0]

        def parts():
            z, jvp = jax.linearize(lambda t: self.model_fn(at(t), batch), theta)
            vjp = jax.linear_transpose(jvp, theta)
            gz = jax.grad(self.loss_fn)
            hl = jax.linearize(lambda u: gz(u, batch), z)[1]
            return jvp, hl, vjp

        if linearize:
            jvp, hl, vjp = parts()
            return lambda v: vjp(hl(jvp(v)))[0]

        def product(v):
            jvp, hl, vjp = parts()
            return vjp(hl(jvp(v)))[0]

        return product

    def prepare(self, dynamic: Any) -> Callable[[jax.Array], jax.Array]:
        params, data = dynamic
        if self.kind == "single":
            return self.batch_product(params, data, linearize=self.linearize)
        if self.kind == "stream":
            # inside a solve, the handle waits for the solve's progress bar
            dynamic = (params, _progress.open_bar(data))
            return host_matvec(self._stream_matvec, dynamic, arrays=True)
        bs = self.batch_size
        N = jax.tree_util.tree_leaves(data)[0].shape[0]
        rest = N % bs

        def matvec(v):
            def product(batch):
                return self.batch_product(params, batch, linearize=False)(v)

            acc, tail = _fold_batches(data, bs, product, jnp.zeros_like(v))
            out = acc * (bs / N)
            if tail is not None:
                out = out + tail * (rest / N)
            return out

        return matvec

    def _stream_matvec(self, dynamic: Any, v: np.ndarray) -> np.ndarray:
        """The host-side loop over streamed batches (runs in a pure_callback)."""
        params, handle = dynamic
        dm = _STREAMS[int(handle)]
        name = "HessianOperator" if self.curvature == "hessian" else "GGNOperator"
        acc, count, placed = None, 0, {}
        groups = dm.groups(f"{name} matvec", self.progress)
        ahead = next(groups, None)
        while ahead is not None:
            group, nb, sig = ahead
            ahead = next(groups, None)  # is this group the last?
            # one dispatch per group, accumulated on the devices: the host
            # waits once per matvec, not once per batch
            where = _params.mesh_of(group[0])
            if where not in placed:
                _params.check_nesting(dm.fn, where)
                placed[where] = (
                    dm.replicated(where, params),
                    _params.replicate_on(where, v),
                )
            p, w = placed[where]
            count += nb * len(group)
            # the last group divides by the count inside its program
            divisor = 1 if ahead is not None else count
            together = _together(self, p, group, w, sig)
            acc = _batch_matvec(
                self, p, tuple(group), w, acc, nb, divisor, together=together
            )
        if acc is None:
            msg = (
                f"{dm.fn}: argument `data` yielded no batches on a later pass; "
                f"a streamed loader must yield the same batches on every call."
            )
            raise ValueError(msg)
        return acc  # a JAX array: host_matvec decides where it goes


@functools.partial(
    _xla.jit, static_argnums=0, static_argnames="together", donate_argnums=4
)
def _batch_matvec(
    factory: CurvatureFactory, params, batches, v, acc, size, divisor, *, together
):
    """``(acc + size * sum_b H_b v) / divisor`` over equally shaped ``batches``.

    Compiled once per factory, group length, batch shape and ``together``
    (and once more for the first group of a pass, whose ``acc`` is None: no
    zeros to dispatch). The batches are stacked; with ``together`` their
    products are computed at once (``jax.vmap``, as one larger batch), else
    one after another in a ``lax.scan``, so that the program holds one
    batch's temporaries (see :func:`_together`). The last group of a pass
    divides by the number of examples (``divisor``, 1 for the others, which
    is exact), so the mean needs no program of its own.
    """

    def product(batch):
        return factory.batch_product(params, batch, linearize=False)(v)

    if len(batches) == 1:
        total = product(batches[0])
    else:
        stacked = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *batches)
        if together:
            total = jnp.sum(jax.vmap(product)(stacked), axis=0)
        else:
            total, _ = jax.lax.scan(
                lambda a, b: (a + product(b), None), jnp.zeros_like(v), stacked
            )
    total = size * total if acc is None else acc + size * total
    return total / divisor


# A group's products are computed together when their traced program holds at
# most this many bytes of intermediate values in all (an upper bound on what
# it keeps live); above it, one batch at a time, so that a streamed operator
# of a large model needs the memory of one batch's product.
_TOGETHER_BYTES = 2**27
_TOGETHER: dict[Any, bool] = {}


def _together(factory: CurvatureFactory, params, group: list, v, sig) -> bool:
    """Whether :func:`_batch_matvec` computes ``group``'s products at once.

    Together, the products of a group of small batches run as fast as one
    batch of their combined size; one at a time, the group's memory is one
    batch's. Decided once per factory and abstract group (a trace of the
    vectorised product, no FLOPs): together when its intermediate values
    fit in ``_TOGETHER_BYTES``, and never when the loss cannot be
    vectorised. ``sig`` is the batches' signature from ``_Data.groups``
    (this runs once per group of every matvec, so the key is built from
    parts at hand).
    """
    if len(group) == 1:
        return False
    key = (factory, len(group), sig, abstract_tree(params))
    hit = _TOGETHER.get(key)
    if hit is not None:
        return hit

    def spec(*xs):
        return jax.ShapeDtypeStruct((len(xs), *np.shape(xs[0])), xs[0].dtype)

    def products(p, stacked, w):
        def one(batch):
            return factory.batch_product(p, batch, linearize=False)(w)

        return jax.vmap(one)(stacked)

    try:
        stacked = jax.tree_util.tree_map(spec, *group)
        jaxpr = jax.make_jaxpr(products)(params, stacked, v).jaxpr
        out = _value_bytes(jaxpr) <= _TOGETHER_BYTES
    except Exception:  # noqa: BLE001 - not vectorisable: one at a time
        out = False
    if len(_TOGETHER) >= 256:
        _TOGETHER.clear()
    _TOGETHER[key] = out
    return out


def _value_bytes(jaxpr: Any) -> int:
    """The bytes of every value ``jaxpr``'s equations define, sub-jaxprs included."""
    total = 0
    for eqn in jaxpr.eqns:
        for var in eqn.outvars:
            aval = var.aval
            size = int(np.prod(getattr(aval, "shape", ())))
            total += size * getattr(getattr(aval, "dtype", None), "itemsize", 0)
        for sub in jex_core.jaxprs_in_params(eqn.params):
            total += _value_bytes(getattr(sub, "jaxpr", sub))
    return total


def _build(
    fn: str,
    name: str,
    pm: _Params,
    dm: _Data,
    **options: Any,
) -> LinearOperator:
    """The operator: a CurvatureFactory and its dynamic arrays."""
    factory = CurvatureFactory(
        mask=pm.mask, kind=dm.kind, batch_size=dm.batch_size, **options
    )
    op = _operator_from(factory, pm, dm, name)
    op.vector_sharding = _sharding.from_params(pm.tree)
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
      progress: for streamed data, show tqdm progress bars (never for in-memory
        data): an algorithm shows one bar for its solve (matvecs done, out of
        the budget of ``eigenvalues``, and the current residual), also under
        ``jax.jit``; a lone matvec shows one over the batches.

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

    return _build(
        fn,
        "HessianOperator",
        pm,
        dm,
        curvature="hessian",
        loss_fn=loss_fn,
        model_fn=None,
        hvp=hvp,
        linearize=bool(linearize),
        progress=bool(progress),
    )


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

    return _build(
        fn,
        "GGNOperator",
        pm,
        dm,
        curvature="ggn",
        loss_fn=loss_fn,
        model_fn=model_fn,
        hvp="fwd-rev",
        linearize=bool(linearize),
        progress=bool(progress),
    )
