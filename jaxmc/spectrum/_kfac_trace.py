"""Finding a model's dense layers in its jaxpr, and tapping them.

K-FAC needs, for each dense layer ``s = a W + b``, the layer's inputs ``a`` and
the gradients of the loss in its outputs ``s``. jaxmc finds the layers without
any change to the user's ``model_fn``: it traces ``model_fn(params, batch)`` to
a jaxpr and reads it with a small interpreter that tracks which values are
parameters.

A **dense layer** is a ``dot_general`` with one contracting dimension and no
batch dimensions, whose one operand is a 2-D parameter leaf (possibly
transposed, ``x @ W.T``) and whose other operand is not a parameter. Its
**bias** is a 1-D parameter leaf (possibly reshaped or broadcast) added to the
``dot_general``'s result, when the output's feature axis is its last.
``jnp.dot``, ``@``, ``jnp.einsum("ni,io->no")`` and flax ``nn.Dense`` all
lower to this pattern. The interpreter descends into ``jax.jit`` calls (so a
jitted layer function is found at each call) and binds every other primitive
unchanged (custom derivatives keep their rules).

A weight used more than once (shared across positions or time steps) is one
layer with one row of inputs and output gradients per use (the "expand"
flavour of K-FAC).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as jcore

_CALLS = ("pjit", "jit", "closed_call", "core_call")
_RESHAPES = ("reshape", "broadcast_in_dim", "squeeze", "expand_dims")
_CASTS = ("convert_element_type", "copy", "copy_p", "optimization_barrier")


@dataclasses.dataclass(frozen=True)
class Tag:
    """Where a value comes from: a parameter leaf, or a layer's output."""

    kind: str  # "param" or "layer"
    index: int  # the parameter leaf (for "layer": the use number)
    transposed: bool = False
    reshaped: bool = False


@dataclasses.dataclass(frozen=True)
class Use:
    """One call of a dense layer, found while tracing."""

    weight: int  # leaf index of the 2-D weight
    weight_contract: int  # the weight leaf's input axis (0: x @ W, 1: x @ W.T)
    weight_is_lhs: bool
    act_contract: int  # the contracted axis of the activation
    out_shape: tuple[int, ...]  # the dot_general's output shape
    out_dtype: Any


class Recorder:
    """Interpreter hooks: records uses and biases, optionally taps the layers.

    Args:
      eps: None to only discover layers; otherwise one perturbation per use,
        added to that use's output (gradients in them are the output
        gradients), and the activations are recorded in ``acts``.
    """

    def __init__(self, eps: list[jax.Array] | None = None):
        self.uses: list[Use] = []
        self.biases: dict[int, set[int]] = {}
        self.eps = eps
        self.acts: list[jax.Array] = []

    def dense(self, use: Use, act: jax.Array, out: jax.Array) -> jax.Array:
        u = len(self.uses)
        self.uses.append(use)
        if self.eps is None:
            return out
        self.acts.append(act)
        return out + self.eps[u]

    def bias(self, use: int, leaf: int) -> None:
        self.biases.setdefault(use, set()).add(leaf)


def _match_dense(eqn: Any, vals: list, tags: list) -> Use | None:
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    if lb or rb or len(lc) != 1:
        return None
    for w_pos in (1, 0):
        t, other = tags[w_pos], tags[1 - w_pos]
        if t is None or t.kind != "param" or t.reshaped or jnp.ndim(vals[w_pos]) != 2:
            continue
        if other is not None and other.kind == "param":
            continue
        cw = (rc if w_pos == 1 else lc)[0]
        cx = (lc if w_pos == 1 else rc)[0]
        return Use(
            weight=t.index,
            weight_contract=(1 - cw) if t.transposed else cw,
            weight_is_lhs=w_pos == 0,
            act_contract=cx,
            out_shape=(),
            out_dtype=None,
        )
    return None


def _bind(eqn: Any, vals: list) -> list:
    params = eqn.primitive.get_bind_params(eqn.params)
    with eqn.ctx.manager:
        out = eqn.primitive.bind(*vals, **params)
    return list(out) if eqn.primitive.multiple_results else [out]


def interpret(
    jaxpr: Any, consts: list, args: list, tags: list, rec: Recorder
) -> tuple[list, list]:
    """Evaluates ``jaxpr`` on ``args``, tracking tags and calling ``rec``."""
    env: dict[Any, Any] = {}
    tag_env: dict[Any, Tag] = {}

    def read(v):
        if isinstance(v, jcore.Literal):
            return v.val, None
        return env[v], tag_env.get(v)

    def write(v, val, tag=None):
        if isinstance(v, jcore.DropVar):
            return
        env[v] = val
        if tag is not None:
            tag_env[v] = tag

    for v, c in zip(jaxpr.constvars, consts, strict=True):
        write(v, c)
    for v, a, t in zip(jaxpr.invars, args, tags, strict=True):
        write(v, a, t)
    for eqn in jaxpr.eqns:
        read_in = [read(v) for v in eqn.invars]
        vals = [x for x, _ in read_in]
        itags = [t for _, t in read_in]
        name = eqn.primitive.name
        outs, otags = None, None
        if name in _CALLS and isinstance(eqn.params.get("jaxpr"), jcore.ClosedJaxpr):
            inner = eqn.params["jaxpr"]
            outs, otags = interpret(inner.jaxpr, inner.consts, vals, itags, rec)
        elif name == "dot_general":
            use = _match_dense(eqn, vals, itags)
            if use is not None:
                out = _bind(eqn, vals)[0]
                use = dataclasses.replace(
                    use, out_shape=tuple(out.shape), out_dtype=out.dtype
                )
                act = vals[0] if use.weight_is_lhs is False else vals[1]
                u = len(rec.uses)
                outs, otags = [rec.dense(use, act, out)], [Tag("layer", u)]
        elif name == "add" and any(t is not None for t in itags):
            kinds = [t.kind if t is not None else None for t in itags]
            if "layer" in kinds and "param" in kinds:
                lt = itags[kinds.index("layer")]
                pt = itags[kinds.index("param")]
                pval = vals[kinds.index("param")]
                use = rec.uses[lt.index]
                # A bias: a 1-D leaf (maybe broadcast) on the last (feature) axis.
                if (
                    not use.weight_is_lhs
                    and not pt.transposed
                    and jnp.shape(pval)[-1:] == use.out_shape[-1:]
                    and all(d == 1 for d in jnp.shape(pval)[:-1])
                ):
                    rec.bias(lt.index, pt.index)
        elif name == "transpose" and itags[0] is not None:
            t = itags[0]
            if t.kind == "param" and not t.reshaped and jnp.ndim(vals[0]) == 2:
                otags = [dataclasses.replace(t, transposed=not t.transposed)]
        elif name in _CASTS and itags[0] is not None:
            otags = [itags[0]]
        elif name in _RESHAPES and itags[0] is not None:
            t = itags[0]
            if t.kind == "param" and not t.transposed and _is_vector_like(vals[0]):
                otags = [dataclasses.replace(t, reshaped=True)]
        if outs is None:
            outs = _bind(eqn, vals)
        if otags is None:
            otags = [None] * len(outs)
        for v, val, t in zip(eqn.outvars, outs, otags, strict=True):
            write(v, val, t)
    results = [read(v) for v in jaxpr.outvars]
    return [x for x, _ in results], [t for _, t in results]


def _is_vector_like(x: Any) -> bool:
    shape = jnp.shape(x)
    return sum(d != 1 for d in shape) <= 1


def trace_model(model_flat: Any, leaves: list, batch: Any) -> Any:
    """The closed jaxpr of ``model_flat(leaves, batch)`` (shapes only)."""
    spec = jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct(np.shape(x), x.dtype),
        (leaves, batch),
    )
    return jax.make_jaxpr(model_flat)(*spec)


def run(closed: Any, leaves: list, batch: Any, rec: Recorder) -> list:
    """Runs the traced model on concrete (or traced) ``leaves`` and ``batch``."""
    args = list(leaves) + jax.tree_util.tree_leaves(batch)
    tags = [Tag("param", i) for i in range(len(leaves))]
    tags += [None] * (len(args) - len(leaves))
    outs, _ = interpret(closed.jaxpr, closed.consts, args, tags, rec)
    return outs


def discover(closed: Any, leaves: list, batch: Any) -> Recorder:
    """The dense-layer uses and biases of the model, from shapes alone."""
    rec = Recorder()
    jax.eval_shape(lambda lv, b: run(closed, lv, b, rec), leaves, batch)
    return rec
