"""Parameter-sharded vectors: the algorithms' vectors follow the parameters.

When the parameters of a curvature operator are ``jax.Array`` s sharded over a
``jax.sharding.Mesh`` (FSDP-style: each weight split over a "model" axis, the
data split over a "data" axis), every vector an algorithm keeps is sharded too,
so that no device holds a whole Lanczos basis or a whole eigenvector:

* a flat vector of ``n`` parameters (a Lanczos vector, a probe, a diagonal
  estimate) is split evenly over the devices of the mesh axes that shard the
  parameters (``PartitionSpec(model_axes)``) and replicated over the others
  (the data axis);
* a stack of vectors (a basis ``(m, n)``, a block of probes) is split the same
  way along its last axis;
* returned eigenvectors, pytrees shaped like the parameters with a leading
  ``k`` axis, take each parameter leaf's own sharding.

The layout is a :class:`VectorSharding`, derived from the concrete parameters
(:func:`from_params`) when the operator is built and passed to the compiled
programs as a *static* argument (so a differently sharded operator compiles
its own program). Inside a program, the algorithms call :func:`constrain` on
the vectors they create and carry: a ``jax.lax.with_sharding_constraint``.
Inner products and norms of sharded vectors become sharded reductions (a
local sum and an all-reduce of one number) inserted by XLA. Inside the matvec
XLA moves the one vector being multiplied between the flat layout and the
parameter leaves (on the CPU it gathers it leaf by leaf, as FSDP gathers the
weights); the basis and the other stored vectors never move.

Without shardings (one device, or arrays without a ``NamedSharding``) nothing
is constrained and the programs are the same as before.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from typing import Any

import jax
from jax.sharding import NamedSharding, PartitionSpec

__all__: list[str] = []


@dataclasses.dataclass(frozen=True)
class VectorSharding:
    """How the algorithms shard flat vectors and returned pytrees (static).

    Attributes:
      mesh: the parameters' mesh.
      axes: the mesh axes that shard the parameters (the flat vector is split
        over their product).
      leaf_specs: each parameter leaf's ``PartitionSpec`` in ``tree_flatten``
        order (for returned pytrees), or None.
    """

    mesh: Any
    axes: tuple[str, ...]
    leaf_specs: tuple[Any, ...] | None = None

    @property
    def flat(self) -> NamedSharding:
        """The sharding of a flat ``(n,)`` vector."""
        return NamedSharding(self.mesh, PartitionSpec(self.axes))

    @property
    def ways(self) -> int:
        """Into how many pieces a flat vector is split."""
        out = 1
        for a in self.axes:
            out *= self.mesh.shape[a]
        return out


def _spec_axes(spec: PartitionSpec) -> list[str]:
    out = []
    for entry in spec:
        if entry is None:
            continue
        for a in entry if isinstance(entry, tuple) else (entry,):
            if a not in out:
                out.append(a)
    return out


def from_params(params: Any) -> VectorSharding | None:
    """The vector layout that follows the shardings of ``params``' leaves.

    Args:
      params: a pytree of arrays.

    Returns:
      A :class:`VectorSharding` when some leaf is a ``jax.Array`` with a
      ``NamedSharding`` that splits it over a mesh axis of more than one device
      (all such leaves on one mesh); None otherwise (nothing to constrain).
    """
    leaves = jax.tree_util.tree_leaves(params)
    mesh, axes, specs = None, [], []
    for leaf in leaves:
        sh = getattr(leaf, "sharding", None)
        if not isinstance(leaf, jax.Array) or not isinstance(sh, NamedSharding):
            specs.append(None)
            continue
        if mesh is None:
            mesh = sh.mesh
        elif sh.mesh != mesh:
            return None
        specs.append(sh.spec)
        for a in _spec_axes(sh.spec):
            if mesh.shape[a] > 1 and a not in axes:
                axes.append(a)
    if mesh is None or not axes:
        return None
    # Keep the mesh's own axis order, so equal layouts compare equal.
    axes = tuple(a for a in mesh.axis_names if a in axes)
    return VectorSharding(mesh, axes, tuple(specs))


_CURRENT: contextvars.ContextVar[VectorSharding | None] = contextvars.ContextVar(
    "jaxmc_vector_sharding", default=None
)


@contextlib.contextmanager
def use(layout: VectorSharding | None):
    """Makes ``layout`` the one :func:`constrain` applies while tracing."""
    token = _CURRENT.set(layout)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current() -> VectorSharding | None:
    """The layout in force (None: no constraint)."""
    return _CURRENT.get()


def constrain(x: jax.Array, *, axis: int = -1) -> jax.Array:
    """Shards axis ``axis`` of ``x`` (the parameter axis of a stack of vectors).

    A no-op without a layout. Under ``vmap`` the batch axes stay unsharded.
    """
    layout = _CURRENT.get()
    if layout is None:
        return x
    entries: list[Any] = [None] * x.ndim
    entries[axis] = layout.axes
    spec = PartitionSpec(*entries)
    return jax.lax.with_sharding_constraint(x, NamedSharding(layout.mesh, spec))


def constrain_tree(tree: Any, *, lead: int = 1) -> Any:
    """Shards each leaf of a parameter-shaped pytree like its parameter.

    ``lead`` leading axes (e.g. the ``k`` of ``k`` eigenvectors) stay
    unsharded. A no-op without a layout or when the structure differs.
    """
    layout = _CURRENT.get()
    if layout is None or layout.leaf_specs is None:
        return tree
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    if len(leaves) != len(layout.leaf_specs):
        return tree
    out = []
    for leaf, spec in zip(leaves, layout.leaf_specs, strict=True):
        if spec is None:
            out.append(leaf)
            continue
        full = PartitionSpec(*([None] * lead), *spec)
        out.append(
            jax.lax.with_sharding_constraint(leaf, NamedSharding(layout.mesh, full))
        )
    return jax.tree_util.tree_unflatten(treedef, out)


def shard_matvec(matvec: Any) -> Any:
    """Wraps a matvec so its input and output carry the flat layout."""
    if _CURRENT.get() is None:
        return matvec
    return lambda v: constrain(matvec(constrain(v)))


def _split_sharding(leaf: Any) -> NamedSharding | None:
    """The ``NamedSharding`` of a concrete array split over several devices."""
    if not isinstance(leaf, jax.Array) or isinstance(leaf, jax.core.Tracer):
        return None
    sh = getattr(leaf, "sharding", None)
    if not isinstance(sh, NamedSharding) or len(sh.device_set) < 2:
        return None
    if sh.is_fully_replicated:
        return None
    return sh


def keep_data_sharding(dynamic: Any) -> Any:
    """``dynamic`` with the shardings of its concrete sharded leaves kept.

    An operator built outside a ``jax.jit`` function and used inside it (closed
    over, as in a jitted training step) passes its concrete arrays to the
    compiled programs as constants of the enclosing trace, which lose their
    shardings: the data would be gathered onto every device and the whole
    batch computed on each. Under tracing, each concrete leaf split over
    several devices (the data, sharded over a "data" axis) is pinned to its own
    sharding with ``jax.lax.with_sharding_constraint``, so that XLA keeps the
    per-device batches and reduces the products with an all-reduce. Eagerly,
    and without such leaves, ``dynamic`` is returned as it is.
    """
    leaves, treedef = jax.tree_util.tree_flatten(dynamic)
    shardings = [_split_sharding(x) for x in leaves]
    if all(s is None for s in shardings):
        return dynamic
    # A fresh value is a Tracer exactly when a trace (jit, vmap, ...) is active.
    if not isinstance(jax.numpy.zeros((), "int8"), jax.core.Tracer):
        return dynamic
    out = [
        x if s is None else jax.lax.with_sharding_constraint(x, s)
        for x, s in zip(leaves, shardings, strict=True)
    ]
    return jax.tree_util.tree_unflatten(treedef, out)
