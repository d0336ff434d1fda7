"""Parameters and data as the frameworks give them: equinox, flax linen and nnx.

The curvature operators differentiate a pytree of floating arrays. Models come
in other shapes too; this module adapts them at the boundary:

* an **equinox** ``Module`` holds arrays next to functions and other static
  fields (``eqx.nn.MLP`` keeps its activation, a ``custom_jvp`` object, as a
  leaf). It is split as ``eqx.partition(module, eqx.is_inexact_array)`` does:
  the inexact (floating) arrays are the parameters, the rest is held static
  and recombined before each call of the loss (or model). Vectors then come
  back as the Module's array part (``None`` where a field is static), which
  ``eqx.combine`` merges with the rest.
* flax **linen** ``variables`` (``{"params": ..., "batch_stats": ...}``): every
  collection would be differentiated, running statistics included; a warning
  names the extra collections and the recipe (pass ``variables["params"]``
  and close over the rest in the loss).
* flax **nnx** ``State``: its key paths end in ``.value``; blocks of
  :func:`layer_spectra` group them by layer as for linen and haiku.
* **data**: the hint that a list or tuple is read as one in-memory batch
  is given only when the data look like a list of batches (the loss accepts
  their first item).
"""

from __future__ import annotations

import dataclasses
import sys
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmc.spectrum import _hosted

__all__ = ["adapt_params", "layer_groups", "list_of_batches_hint", "replicate_like"]


def _is_equinox_module(params: Any) -> bool:
    eqx = sys.modules.get("equinox")
    return eqx is not None and isinstance(params, eqx.Module)


def _is_inexact_array(x: Any) -> bool:
    return isinstance(x, jax.Array | np.ndarray) and jnp.issubdtype(
        x.dtype, jnp.inexact
    )


@dataclasses.dataclass(frozen=True, eq=False)
class _Recombined:
    """``fn(eqx.combine(dynamic, static), *rest)``, for a Module's array part.

    Equal (and of equal hash) for equal ``fn`` and static parts, so compiled
    programs keyed on the function are reused across fresh Modules of the same
    model (a training loop makes a new Module at every step).
    """

    fn: Callable
    static: Any

    def __call__(self, dynamic: Any, *rest: Any) -> Any:
        import equinox as eqx

        return self.fn(eqx.combine(dynamic, self.static), *rest)

    def _key(self) -> tuple:
        leaves, treedef = jax.tree_util.tree_flatten(self.static)
        ids = tuple(
            ("id", id(x)) if isinstance(x, jax.Array | np.ndarray) else ("v", x)
            for x in leaves
        )
        return (self.fn, treedef, ids)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Recombined):
            return NotImplemented
        try:
            return self._key() == other._key()
        except TypeError:  # unhashable or uncomparable static fields
            return self is other

    def __hash__(self) -> int:
        try:
            return hash(self._key())
        except TypeError:
            return id(self)


def adapt_params(
    fn: str, params: Any, f: Callable, param_filter: Any = None
) -> tuple[Any, Callable, Any]:
    """``(params, f, param_filter)`` as the curvature operators take them.

    Args:
      fn: the public function's name, for messages.
      params: the parameters as given (any pytree, an equinox Module, flax
        linen variables or an nnx State).
      f: the function called with the parameters first (the loss, or the
        model for the GGN).
      param_filter: the user's filter (None, a callable or a pytree of bools).

    Returns:
      For an equinox Module with static fields: its inexact-array part, ``f``
      recombining it with the static part, and a pytree filter restricted to
      the array part. Otherwise the three unchanged (after warning about
      non-parameter collections in flax variables).
    """
    if _is_equinox_module(params):
        leaves = jax.tree_util.tree_leaves(params)
        if not all(_is_inexact_array(x) for x in leaves):
            import equinox as eqx

            dynamic, static = eqx.partition(params, _is_inexact_array)
            # a pytree of bools shaped like the Module (itself possibly a
            # callable Module) becomes a filter on the array part's paths
            if param_filter is not None and (
                not callable(param_filter) or _is_equinox_module(param_filter)
            ):
                param_filter = _restrict_filter(fn, params, param_filter)
            return dynamic, _Recombined(f, static), param_filter
        return params, f, param_filter
    _warn_extra_collections(fn, params)
    return params, f, param_filter


def _restrict_filter(fn: str, params: Any, param_filter: Any) -> Callable:
    """A pytree of bools shaped like a whole Module, as a filter on its arrays.

    Returns a callable ``(key_path, leaf) -> bool`` for the Module's inexact
    arrays (their key paths are the same in the array part).
    """
    try:
        picked = jax.tree_util.tree_map(
            lambda x, m: (bool(m),) if _is_inexact_array(x) else None,
            params,
            param_filter,
        )
    except (ValueError, TypeError) as err:
        msg = (
            f"{fn}: argument `param_filter` must be a callable (key_path, leaf) "
            f"-> bool or a pytree of bools with the structure of `params` (the "
            f"equinox Module); got {type(param_filter).__name__} ({err})."
        )
        raise TypeError(msg) from None
    table = {
        jax.tree_util.keystr(path[:-1]): flag
        for path, flag in jax.tree_util.tree_leaves_with_path(picked)
    }

    def select(path: Any, leaf: Any) -> bool:
        return table.get(jax.tree_util.keystr(path), False)

    return select


_NON_PARAM_HINT = {
    "batch_stats": (
        "BatchNorm: to hold the running statistics fixed, differentiate "
        "variables['params'] only, with loss_fn = lambda p, b: "
        "loss(model.apply({'params': p, 'batch_stats': stats}, b[0], "
        "train=False), b)"
    ),
}


def _warn_extra_collections(fn: str, params: Any) -> None:
    """Warns when flax linen ``variables`` hold collections beside params."""
    if not isinstance(params, Mapping) or "params" not in params:
        return
    extra = [str(k) for k in params if k != "params"]
    if not extra:
        return
    hints = "; ".join(_NON_PARAM_HINT[k] for k in extra if k in _NON_PARAM_HINT)
    msg = (
        f"{fn}: `params` holds the flax collections {extra} beside 'params'; "
        f"they are differentiated as if they were parameters. Pass "
        f"variables['params'] and close over the other collections in the "
        f"loss.{' ' + hints + '.' if hints else ''}"
    )
    warnings.warn(msg, UserWarning, stacklevel=3)


def _layer_path(path: tuple) -> tuple:
    """The key path of a leaf's layer: without its last key (and nnx's .value)."""
    if len(path) > 1 and isinstance(path[-1], jax.tree_util.GetAttrKey):
        if path[-1].name == "value":
            path = path[:-1]
    return path[:-1] if len(path) > 1 else path


def layer_groups(params: Any) -> dict[str, list[str]]:
    """Leaf key paths grouped by layer: ``name -> [leaf keystr, ...]``.

    A leaf's layer is its key path without the last key (a layer's weight and
    bias share one); for flax nnx ``State`` the trailing ``.value`` is dropped
    first. When that leaves a single group of several leaves, each leaf is its
    own group.
    """
    paths = [p for p, _ in jax.tree_util.tree_leaves_with_path(params)]
    groups: dict[str, list[str]] = {}
    for p in paths:
        parent = jax.tree_util.keystr(_layer_path(p))
        groups.setdefault(parent, []).append(jax.tree_util.keystr(p))
    if len(groups) == 1 and len(paths) > 1:
        groups = {jax.tree_util.keystr(p): [jax.tree_util.keystr(p)] for p in paths}
    return groups


def list_of_batches_hint(
    data: Any, f: Callable | None = None, params: Any = None
) -> str:
    """A hint when ``data`` looks like a list of batches read as one batch.

    Given only when ``data`` is a list or tuple of at least two items of one
    pytree structure and dtypes, with equal trailing shapes (batches differ in
    their leading size at most), and, when ``f`` and ``params`` are given,
    ``f(params, data[0])`` evaluates (so ``(X, y)`` with an error in the loss
    gets no such hint).
    """
    if not isinstance(data, list | tuple) or len(data) < 2:
        return ""
    structures = {jax.tree_util.tree_structure(item) for item in data}
    if len(structures) != 1:
        return ""
    signatures = set()
    for item in data:
        leaves = jax.tree_util.tree_leaves(item)
        # arrays, or their shapes (jax.ShapeDtypeStruct) as the operators hold
        if not leaves or not all(
            hasattr(x, "shape") and hasattr(x, "dtype") and len(x.shape) >= 1
            for x in leaves
        ):
            return ""
        signatures.add(tuple((tuple(x.shape[1:]), np.dtype(x.dtype)) for x in leaves))
    if len(signatures) != 1:
        return ""
    if f is not None:
        try:
            jax.eval_shape(f, params, data[0])
        except Exception:  # noqa: BLE001 - any failure: not a batch of this loss
            return ""
    return (
        " A list or tuple is read as one in-memory batch (a pytree); to stream "
        "a list of batches, pass `lambda: batches`."
    )


def mesh_of(batch: Any) -> jax.sharding.Mesh | None:
    """The mesh of ``batch``: its ``NamedSharding``'s over several devices, or None."""
    leaves = jax.tree_util.tree_leaves(batch)
    sharding = getattr(leaves[0], "sharding", None) if leaves else None
    if not isinstance(sharding, jax.sharding.NamedSharding):
        return None
    if len(sharding.device_set) < 2:
        return None
    return sharding.mesh


def check_nesting(fn: str, mesh: jax.sharding.Mesh | None) -> None:
    """Raises unless a streamed batch on ``mesh`` may be computed now.

    ``mesh`` is the batch's :func:`mesh_of`. Inside a running compiled program
    (a streamed operator closed over in ``jax.jit``), a program over several
    devices can wait forever for a device the running program holds; from the
    host (``_hosted``) it cannot.
    """
    if mesh is None or _hosted.from_host():
        return
    msg = (
        f"{fn}: streamed batches sharded over {mesh.size} devices cannot be "
        f"computed from inside a compiled program (the operator is used inside "
        f"jax.jit / jax.vmap / a lax loop): XLA may wait forever for a device "
        f"that program holds. Call the algorithm (or op.matvec) outside the "
        f"transform, which runs it from the host, or pass the data in memory "
        f"(sharded, with batch_size=) to use it inside jax.jit."
    )
    raise RuntimeError(msg)


def replicate_like(batch: Any, tree: Any) -> Any:
    """``tree`` replicated over the mesh that ``batch`` is sharded on.

    A streamed batch sharded over several devices (a ``NamedSharding``) needs
    the parameters and the vector on the same devices; other batches leave
    ``tree`` as it is.
    """
    return replicate_on(mesh_of(batch), tree)


def replicate_on(mesh: jax.sharding.Mesh | None, tree: Any) -> Any:
    """``tree`` replicated over ``mesh`` (as it is when ``mesh`` is None)."""
    if mesh is None:
        return tree
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    return jax.device_put(tree, replicated)
