"""Programs with host callbacks, run from the host between compiled segments.

A streamed operator's matvec is a host-side loop over batches
(:func:`jaxmc.spectrum._operator.host_matvec`, a ``jax.pure_callback``). Inside
one compiled solve, that loop would launch its own programs from within a
running program. XLA does not guarantee that nesting: a batch sharded over
every device of the CPU backend needs a program on all of them while the
solve holds one of the runtime's threads, and the cross-device reduction then
waits forever for the missing device (measured: top-5 eigenvalues of 32,768
examples in 4 sharded batches on 4 devices hung; 4,096 examples did not).

:func:`call` executes the solve's traced program (its jaxpr) from the host
instead. Each stretch of operations between host callbacks is one compiled
program, compiled once per stretch (the same jaxpr objects come back from
``jax.jit``'s trace cache, so a second solve compiles nothing); the loops and
branches that contain callbacks run as Python loops over those programs (a
``fori_loop`` reads its trip count once, so its iterations are dispatched
without waiting for the device; other loops read their condition every
iteration); the callbacks run on the calling thread while no program is
running. So a streamed matvec is one host-side pass over the batches between
compiled Lanczos steps.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core

from jaxmc import _xla

_CALLBACK = "pure_callback"
# call-like primitives whose single closed jaxpr takes the equation's operands
_CALLS = {
    "pjit": "jaxpr",
    "jit": "jaxpr",
    "closed_call": "call_jaxpr",
    "custom_jvp_call": "call_jaxpr",
    "custom_vjp_call": "call_jaxpr",
    "remat": "jaxpr",
    "checkpoint": "jaxpr",
}
_HOST: dict[int, tuple[Any, bool]] = {}
_STATE = threading.local()
_INFO = core.DebugInfo("jaxmc hosted stretch", "<jaxmc.spectrum._hosted>", None, None)
_PLANS: dict[int, tuple[Any, list]] = {}
_COUNTED: dict[int, tuple[Any, Any]] = {}
_WHOLE: dict[int, tuple[Any, Any]] = {}
# per (jit function, static factory): whether its program calls the host,
# which the factory alone decides (so later calls skip the trace)
_CALLS_HOST: dict[tuple[Any, Any], bool] = {}


def call(jitted: Any, *args: Any, **kwargs: Any) -> Any:
    """``jitted(*args, **kwargs)``, run from the host when it can be.

    ``jitted`` is a ``jax.jit`` function whose first argument is static and
    whose keyword arguments are static. Under a transformation (traced
    arguments) the program runs as compiled, callbacks inside it.
    """
    key = (jitted, args[0])
    if _CALLS_HOST.get(key) is False:
        return jitted(*args, **kwargs)
    leaves = jax.tree_util.tree_leaves(args[1:])
    if any(isinstance(x, jax.core.Tracer) for x in leaves):
        return jitted(*args, **kwargs)
    traced = jitted.trace(*args, **kwargs)
    closed = traced.jaxpr
    _CALLS_HOST[key] = _has_host(closed.jaxpr)
    if not _CALLS_HOST[key]:
        return jitted(*args, **kwargs)
    out = _eval(closed.jaxpr, closed.consts, leaves)
    return jax.tree_util.tree_unflatten(traced.out_tree, out)


def from_host() -> bool:
    """Whether the running callback was called by :func:`call`.

    True when no program is running (the callback runs between compiled
    stretches), False inside a compiled program.
    """
    return getattr(_STATE, "depth", 0) > 0


def _sub(x: Any) -> core.Jaxpr:
    return x.jaxpr if isinstance(x, core.ClosedJaxpr) else x


def _has_host(jaxpr: core.Jaxpr) -> bool:
    """Whether ``jaxpr`` calls the host anywhere (cached per jaxpr object)."""
    hit = _HOST.get(id(jaxpr))
    if hit is not None and hit[0] is jaxpr:
        return hit[1]
    out = any(_eqn_has_host(e) for e in jaxpr.eqns)
    _HOST[id(jaxpr)] = (jaxpr, out)
    return out


def _eqn_has_host(eqn: Any) -> bool:
    if eqn.primitive.name == _CALLBACK:
        return True
    return any(_has_host(_sub(j)) for j in core.jaxprs_in_params(eqn.params))


def _counted(eqn: Any) -> tuple[int, Any] | None:
    """``(i, bound)`` for a ``while`` that counts carry ``i`` up to ``bound``.

    The pattern of ``lax.fori_loop``: the condition is ``carry[i] < bound``
    alone for an integer ``carry[i]``, the body returns ``carry[i] + 1``, and
    ``bound`` is a literal or a
    carry element (its index) that the body passes through unchanged. Then
    the loop runs ``bound - carry[i]`` times, known before it starts. None for
    any other loop (cached per loop).
    """
    hit = _COUNTED.get(id(eqn))
    if hit is not None and hit[0] is eqn:
        return hit[1]
    out = _count_pattern(eqn.params)
    _COUNTED[id(eqn)] = (eqn, out)
    return out


def _count_pattern(p: dict) -> tuple[int, Any] | None:
    cond, body = _sub(p["cond_jaxpr"]), _sub(p["body_jaxpr"])
    nc, nb = p["cond_nconsts"], p["body_nconsts"]
    if len(cond.eqns) != 1 or cond.eqns[0].primitive.name != "lt":
        return None
    (lt,) = cond.eqns
    if list(cond.outvars) != list(lt.outvars):
        return None
    where = {v: k - nc for k, v in enumerate(cond.invars) if k >= nc}
    x, y = lt.invars
    if not isinstance(x, core.Var) or x not in where:
        return None
    if not jnp.issubdtype(x.aval.dtype, jnp.integer):
        return None  # a float counter's trip count is not bound - i
    i = where[x]
    if isinstance(y, core.Literal):
        if np.ndim(y.val) != 0:
            return None
        bound: Any = y
    elif isinstance(y, core.Var) and y in where:
        bound = where[y]
        if body.outvars[bound] is not body.invars[nb + bound]:
            return None
    else:
        return None
    # the body's new carry[i] is carry[i] + 1
    counter, new = body.invars[nb + i], body.outvars[i]
    adds = [e for e in body.eqns if new in e.outvars]
    if len(adds) != 1 or adds[0].primitive.name != "add":
        return None
    a, b = adds[0].invars
    one = b if a is counter else a if b is counter else None
    if not (isinstance(one, core.Literal) and np.ndim(one.val) == 0 and one.val == 1):
        return None
    return i, bound


def _plan(jaxpr: core.Jaxpr) -> list:
    """``jaxpr``'s equations cut into compiled stretches and host equations.

    A stretch is ``(fn, ins, outs, effects)``: ``fn`` compiled from the
    equations between two host equations, ``ins`` the variables they read
    from before, ``outs`` those they define that are read after (or
    returned), ``effects`` whether it must run even when nothing reads it.
    """
    hit = _PLANS.get(id(jaxpr))
    if hit is not None and hit[0] is jaxpr:
        return hit[1]
    eqns = list(jaxpr.eqns)
    host = [_eqn_has_host(e) for e in eqns]
    # variables read at or after each position (for the stretches' outputs)
    later: list[set] = [set()] * (len(eqns) + 1)
    live = {v for v in jaxpr.outvars if isinstance(v, core.Var)}
    later[len(eqns)] = set(live)
    for i in range(len(eqns) - 1, -1, -1):
        live = live | {v for v in eqns[i].invars if isinstance(v, core.Var)}
        later[i] = set(live)
    plan: list = []
    i = 0
    while i < len(eqns):
        if host[i]:
            plan.append(eqns[i])
            i += 1
            continue
        j = i
        while j < len(eqns) and not host[j]:
            j += 1
        plan.append(_stretch(eqns[i:j], later[j]))
        i = j
    _PLANS[id(jaxpr)] = (jaxpr, plan)
    return plan


def _stretch(eqns: Sequence[Any], needed: set) -> tuple:
    defined: set = set()
    ins: list = []
    for e in eqns:
        for v in e.invars:
            if isinstance(v, core.Var) and v not in defined and v not in ins:
                ins.append(v)
        defined.update(v for v in e.outvars if not isinstance(v, core.DropVar))
    outs = [v for e in eqns for v in e.outvars if v in needed and v in defined]
    outs = list(dict.fromkeys(outs))
    effects = frozenset().union(*(e.effects for e in eqns))
    jaxpr = core.Jaxpr([], ins, outs, list(eqns), effects, _INFO)
    fn = _xla.jit(core.jaxpr_as_fun(core.ClosedJaxpr(jaxpr, [])), small=_small(ins))
    return fn, ins, outs, bool(effects)


def _small(variables: Sequence[Any]) -> bool:
    """A stretch's size class, fixed by its inputs' shapes (it runs per step)."""
    return _xla.small_shapes(getattr(v.aval, "shape", ()) for v in variables)


def _eval(jaxpr: core.Jaxpr, consts: Sequence[Any], args: Sequence[Any]) -> list:
    if jaxpr.eqns and not _has_host(jaxpr):
        return list(_whole(jaxpr)(*consts, *args))
    env: dict = {}

    def read(v):
        return v.val if isinstance(v, core.Literal) else env[v]

    def write(vs, xs):
        for v, x in zip(vs, xs, strict=True):
            if not isinstance(v, core.DropVar):
                env[v] = x

    write(jaxpr.constvars, consts)
    write(jaxpr.invars, args)
    for step in _plan(jaxpr):
        if isinstance(step, tuple):
            fn, ins, outs, effects = step
            if outs or effects:
                write(outs, fn(*[env[v] for v in ins]))
        else:
            write(step.outvars, _host_eqn(step, [read(v) for v in step.invars]))
    return [read(v) for v in jaxpr.outvars]


def _whole(jaxpr: core.Jaxpr) -> Any:
    """One compiled program for a callback-free jaxpr (consts then args)."""
    hit = _WHOLE.get(id(jaxpr))
    if hit is not None and hit[0] is jaxpr:
        return hit[1]
    ins = [*jaxpr.constvars, *jaxpr.invars]
    flat = core.Jaxpr([], ins, jaxpr.outvars, jaxpr.eqns, jaxpr.effects, _INFO)
    fn = _xla.jit(core.jaxpr_as_fun(core.ClosedJaxpr(flat, [])), small=_small(ins))
    _WHOLE[id(jaxpr)] = (jaxpr, fn)
    return fn


def _closed(x: Any, args: Sequence[Any]) -> list:
    if isinstance(x, core.ClosedJaxpr):
        return _eval(x.jaxpr, x.consts, args)
    return _eval(x, [], args)


def _host_value(x: Any) -> Any:
    """A callback operand as a compiled program passes it: NumPy, keys as is."""
    if jax.dtypes.issubdtype(getattr(x, "dtype", None), jax.dtypes.prng_key):
        return x
    return np.asarray(x)


def _host_eqn(eqn: Any, args: list) -> list:
    name, p = eqn.primitive.name, eqn.params
    if name == _CALLBACK:
        _STATE.depth = getattr(_STATE, "depth", 0) + 1
        try:
            cb = p["callback"]
            if getattr(getattr(cb, "callback_func", None), "takes_arrays", False):
                out = cb(*args)
            else:
                out = cb(*[_host_value(a) for a in args])
        finally:
            _STATE.depth -= 1
        leaves = jax.tree_util.tree_leaves(out)
        return [
            x
            if isinstance(x, jax.Array) and x.shape == a.shape and x.dtype == a.dtype
            else jnp.asarray(np.asarray(x, dtype=a.dtype).reshape(a.shape))
            for x, a in zip(leaves, p["result_avals"], strict=True)
        ]
    if name == "while":
        nc, nb = p["cond_nconsts"], p["body_nconsts"]
        cc, bc, carry = args[:nc], args[nc : nc + nb], args[nc + nb :]
        counted = _counted(eqn)
        if counted is not None:
            # a fori_loop: the trip count is read once, and the iterations
            # are dispatched without waiting for the device in between
            i, bound = counted
            upper = carry[bound] if isinstance(bound, int) else bound.val
            for _ in range(max(0, int(upper) - int(carry[i]))):
                carry = _closed(p["body_jaxpr"], [*bc, *carry])
            return list(carry)
        while bool(_closed(p["cond_jaxpr"], [*cc, *carry])[0]):
            carry = _closed(p["body_jaxpr"], [*bc, *carry])
        return list(carry)
    if name == "scan":
        nc, nk, n = p["num_consts"], p["num_carry"], p["length"]
        consts, carry, xs = args[:nc], args[nc : nc + nk], args[nc + nk :]
        ys: list = []
        order = range(n - 1, -1, -1) if p["reverse"] else range(n)
        for i in order:
            out = _closed(p["jaxpr"], [*consts, *carry, *[x[i] for x in xs]])
            carry, y = out[:nk], out[nk:]
            ys.append(y)
        if p["reverse"]:
            ys.reverse()
        avals = [v.aval for v in eqn.outvars[nk:]]
        stacked = [
            jnp.stack([y[k] for y in ys]) if ys else jnp.zeros(a.shape, a.dtype)
            for k, a in enumerate(avals)
        ]
        return [*carry, *stacked]
    if name == "cond":
        index, ops = args[0], args[1:]
        branches = p["branches"]
        k = int(np.clip(int(index), 0, len(branches) - 1))
        return _closed(branches[k], ops)
    if name in _CALLS and _CALLS[name] in p:
        return _closed(p[_CALLS[name]], args)
    msg = (
        f"jaxmc: a streamed matvec sits inside `{name}`, which the host-side "
        f"solve cannot run; please report this."
    )
    raise NotImplementedError(msg)
