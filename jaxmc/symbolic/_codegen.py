"""JAX code generation: an expression becomes a jit-compiled function of its symbols.

Every value is held as a 2-D array while the expression is evaluated (scalars
``(1, 1)``, vectors ``(n, 1)``); inputs and outputs use the natural shapes:
scalars ``()``, vectors ``(n,)`` (row vectors too), matrices ``(m, n)``.
Equal subexpressions are evaluated once. Products with ``diag(v)`` become
broadcast multiplications and ``inv(A) @ B`` a linear solve.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from jaxmc import _checks
from jaxmc.symbolic._expr import (
    Add,
    Broadcast,
    CommutationMatrix,
    Const,
    Det,
    Diag,
    Dim,
    DimProd,
    ElemDiv,
    Expr,
    Func,
    Hadamard,
    Identity,
    Inv,
    Kron,
    LogDet,
    MatMul,
    MatPower,
    Norm1,
    Norm2,
    Power,
    ScalarMul,
    Sum,
    Symbol,
    Trace,
    Transpose,
    Vec,
    Zero,
    kind_of,
)
from jaxmc.vec import commutation_matrix

_FUNCS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "exp": jnp.exp,
    "log": jnp.log,
    "sin": jnp.sin,
    "cos": jnp.cos,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "relu": jax.nn.relu,
    "abs": jnp.abs,
    "sqrt": jnp.sqrt,
    "sign": jnp.sign,
    "step": lambda x: (x > 0).astype(x.dtype),
}


def _block(n: int) -> int | None:
    """The largest divisor of n in [64, 256], or None."""
    return next((b for b in range(256, 63, -1) if n % b == 0), None)


def _transpose(x: jax.Array) -> jax.Array:
    """x.T; for large matrices as a transpose of tiles (same values).

    XLA's CPU backend fuses a plain transpose into its consumer with strided
    reads (``A + A.T`` runs 5-30x slower than ``A + A``); moving whole tiles
    keeps the reads contiguous. The result is bitwise ``x.T``.
    """
    p, q = x.shape
    bp, bq = _block(p), _block(q)
    if min(p, q) < 512 or bp is None or bq is None:
        return x.T
    return x.reshape(p // bp, bp, q // bq, bq).transpose(2, 3, 0, 1).reshape(q, p)


def _rank(s: Symbol) -> int:
    return {"scalar": 0, "vector": 1, "matrix": 2}[s.declared_kind]


def _bind(fn: str, syms: Sequence[Symbol], values: Sequence[Any]) -> tuple:
    """Converts inputs to 2-D arrays and binds every size to a number."""
    arrays = []
    sizes: dict[int, tuple[int, str]] = {}
    for s, v in zip(syms, values, strict=True):
        v = _checks.as_array(fn, s.name, v)
        if jnp.issubdtype(v.dtype, jnp.complexfloating):
            msg = (
                f"{fn}: argument `{s.name}` must be real (the closed forms are "
                f"derived for real matrices); got dtype {v.dtype}. Pass the real "
                f"and imaginary parts separately, or use jax.grad on complex code."
            )
            raise TypeError(msg)
        if not jnp.issubdtype(v.dtype, jnp.inexact):
            v = v.astype(jnp.result_type(float))
        _checks.check_rank(fn, s.name, v, _rank(s))
        arrays.append(v.reshape(1, 1) if v.ndim == 0 else v.reshape(v.shape[0], -1))
        for axis, d in enumerate(s.shape[: _rank(s)]):
            r = d.root()
            n = v.shape[axis]
            if r.value is not None and r.value != n:
                msg = (
                    f"{fn}: argument `{s.name}` must have size {r.value} along axis "
                    f"{axis} (declared); got shape {v.shape}."
                )
                raise ValueError(msg)
            if id(r) in sizes and sizes[id(r)][0] != n:
                m, who = sizes[id(r)]
                msg = (
                    f"{fn}: argument `{s.name}` has size {n} along axis {axis}, but "
                    f"the expression ties it to {r.label} = {m} (from `{who}`); got "
                    f"shape {v.shape}."
                )
                raise ValueError(msg)
            sizes[id(r)] = (n, s.name)
    dtype = jnp.result_type(*arrays) if arrays else jnp.result_type(float)
    arrays = [a.astype(dtype) for a in arrays]
    return arrays, {k: n for k, (n, _) in sizes.items()}, dtype


def _size(d: Any, sizes: dict[int, int]) -> int:
    if not isinstance(d, Dim):
        return int(d)
    if isinstance(d, DimProd):
        out = 1
        for f in d.factors:
            out *= _size(f, sizes)
        return out
    r = d.root()
    if id(r) in sizes:
        return sizes[id(r)]
    if r.value is not None:
        return r.value
    msg = f"jaxmc.symbolic: the size {r.label} is not set by any input."
    raise ValueError(msg)


def concrete_shape(
    e: Expr, syms: Sequence[Symbol], values: Sequence[Any], fn: str
) -> tuple[int, int]:
    """The 2-D shape of ``e`` at ``values`` of ``syms`` (sizes read from them)."""
    _, sizes, _ = _bind(fn, syms, values)
    return (_size(e.shape[0], sizes), _size(e.shape[1], sizes))


def evaluate(
    exprs: Sequence[Expr], syms: Sequence[Symbol], values: Sequence[Any], fn: str
) -> list[jax.Array]:
    """Evaluates ``exprs`` at ``values`` of ``syms`` (traceable by jax)."""
    arrays, sizes, dtype = _bind(fn, syms, values)
    env: dict[Expr, jax.Array] = dict(zip(syms, arrays, strict=True))

    def shape(e: Expr) -> tuple[int, int]:
        return (_size(e.shape[0], sizes), _size(e.shape[1], sizes))

    def mm_operand(e: Expr) -> jax.Array:
        if isinstance(e, Transpose) and e not in env:
            return ev(e.args[0]).T
        return ev(e)

    def ev(e: Expr) -> jax.Array:
        if e in env:
            return env[e]
        out = _ev(e)
        env[e] = out
        return out

    def _ev(e: Expr) -> jax.Array:  # noqa: C901 - one case per node type
        if isinstance(e, Symbol):
            msg = f"{fn}: the symbol `{e.name}` has no value."
            raise ValueError(msg)
        if isinstance(e, Const):
            return jnp.full((1, 1), e.value, dtype)
        if isinstance(e, Zero):
            return jnp.zeros(shape(e), dtype)
        if isinstance(e, Identity):
            return jnp.eye(shape(e)[0], dtype=dtype)
        if isinstance(e, CommutationMatrix):
            m, n = _size(e.m, sizes), _size(e.n, sizes)
            return commutation_matrix(m, n, dtype=dtype)
        if isinstance(e, Broadcast):
            return jnp.broadcast_to(ev(e.args[0]), shape(e))
        a = e.args
        if isinstance(e, Add):
            out = ev(a[0])
            for t in a[1:]:
                out = out + ev(t)
            return out
        if isinstance(e, ScalarMul | Hadamard):
            return ev(a[0]) * ev(a[1])
        if isinstance(e, MatMul):
            u, v = a
            if isinstance(u, Diag) and kind_of(u.shape) == "matrix":
                return ev(u.args[0]) * ev(v)
            if isinstance(v, Diag) and kind_of(v.shape) == "matrix":
                return ev(u) * ev(v.args[0]).T
            if isinstance(u, Inv):
                return jnp.linalg.solve(ev(u.args[0]), ev(v))
            if isinstance(v, Inv):
                return jnp.linalg.solve(ev(v.args[0]).T, ev(u).T).T
            # A transposed factor goes to the matrix product as is: dot_general
            # reads it in place, no relayout needed.
            return mm_operand(u) @ mm_operand(v)
        if isinstance(e, Transpose):
            return _transpose(ev(a[0]))
        if isinstance(e, ElemDiv):
            return ev(a[0]) / ev(a[1])
        if isinstance(e, Power):
            x = ev(a[0])
            return x ** int(e.p) if float(e.p).is_integer() else x**e.p
        if isinstance(e, Func):
            return _FUNCS[e.name](ev(a[0]))
        x = ev(a[0])
        if isinstance(e, Trace):
            return jnp.trace(x).reshape(1, 1)
        if isinstance(e, Det):
            return jnp.linalg.det(x).reshape(1, 1)
        if isinstance(e, LogDet):
            return jnp.linalg.slogdet(x)[1].reshape(1, 1)
        if isinstance(e, Inv):
            if isinstance(a[0], Transpose) and a[0] not in env:
                # inv(X') as inv(X)': the same LU as inv(X) (and as jax.grad of
                # log det X), so no worse conditioned than autodiff.
                return jnp.linalg.inv(ev(a[0].args[0])).T
            return jnp.linalg.inv(x)
        if isinstance(e, MatPower):
            return jnp.linalg.matrix_power(x, e.k)
        if isinstance(e, Norm1):
            return jnp.sum(jnp.abs(x)).reshape(1, 1)
        if isinstance(e, Vec):
            return x.T.reshape(-1, 1)
        if isinstance(e, Kron):
            return jnp.kron(x, ev(a[1]))
        if isinstance(e, Sum):
            return jnp.sum(x).reshape(1, 1)
        if isinstance(e, Norm2):
            return jnp.linalg.norm(x).reshape(1, 1)
        if isinstance(e, Diag):
            if kind_of(a[0].shape) == "matrix":
                return jnp.diag(x)[:, None]
            return jnp.diag(x[:, 0])
        msg = f"jaxmc.symbolic: no code for {type(e).__name__}."  # pragma: no cover
        raise NotImplementedError(msg)  # pragma: no cover

    outs = []
    for e in exprs:
        y = ev(e)
        k = kind_of(e.shape)
        outs.append(
            y.reshape(()) if k == "scalar" else y.reshape(-1) if k != "matrix" else y
        )
    return outs


def make_function(
    expr: Expr, syms: Sequence[Symbol], fn: str
) -> Callable[..., jax.Array]:
    """A plain (not yet jitted) function ``f(*values)`` evaluating ``expr``."""
    syms = tuple(syms)

    def f(*values: Any) -> jax.Array:
        if len(values) != len(syms):
            names = ", ".join(s.name for s in syms)
            msg = (
                f"{fn}: expected {len(syms)} array argument(s) ({names}); got "
                f"{len(values)}."
            )
            raise TypeError(msg)
        return evaluate([expr], syms, values, fn)[0]

    return f


def to_jax(
    expr: Expr, /, *, args: Sequence[Symbol | str] | None = None
) -> Callable[..., jax.Array]:
    """Compiles an expression into a jit-compiled JAX function of its symbols.

    The function takes one array per symbol, positionally in the order ``args``
    (default: the symbols in order of first appearance in ``expr``) or by name
    as keywords: scalars of shape ``()``, vectors ``(n,)``, matrices ``(m, n)``.
    Sizes are read from the inputs and must be consistent with the expression
    (``A*x`` needs ``A.shape[1] == x.shape[0]``). It returns a scalar ``()``, a
    vector ``(n,)`` (row vectors too) or a matrix ``(m, n)``, in the inputs'
    (promoted) floating dtype; integer inputs become the default float dtype.

    Args:
      expr: the expression.
      args: the argument order, as symbols or names; every symbol of ``expr``
        must appear. Extra symbols become arguments the result ignores.

    Returns:
      A function ``f(*arrays, **arrays_by_name)`` that works under ``jax.jit``,
      ``jax.grad`` and ``jax.vmap``.

    Raises:
      TypeError: ``expr`` is not an expression.
      ValueError: ``args`` misses a symbol of ``expr`` or names an unknown one.

    >>> import jax.numpy as jnp
    >>> from jaxmc.symbolic import parse, to_jax
    >>> f = to_jax(parse("x'*A*x"), args=["A", "x"])
    >>> float(f(jnp.eye(2), jnp.array([1.0, 2.0])))
    5.0
    """
    fn = "jaxmc.symbolic.to_jax"
    if not isinstance(expr, Expr):
        msg = f"{fn}: argument `expr` must be an expression; got {type(expr).__name__}."
        raise TypeError(msg)
    syms = resolve_args(fn, expr, args)
    return wrap(make_function(expr, syms, fn), syms)


def resolve_args(
    fn: str, expr: Expr, args: Sequence[Symbol | str] | None
) -> tuple[Symbol, ...]:
    """The symbols named by ``args`` (default: expr's symbols in order)."""
    own = expr.symbols
    if args is None:
        return own
    by_name = {s.name: s for s in own}
    out = []
    for a in args:
        if isinstance(a, Symbol):
            out.append(a)
        elif isinstance(a, str) and a in by_name:
            out.append(by_name[a])
        else:
            known = ", ".join(by_name)
            msg = f"{fn}: argument `args` names {a!r}, not a symbol of the expression ({known})."  # noqa: E501
            raise ValueError(msg)
    missing = [s.name for s in own if s not in out]
    if missing:
        msg = f"{fn}: argument `args` must list every symbol; missing {missing}."
        raise ValueError(msg)
    return tuple(out)


def wrap(f: Callable[..., jax.Array], syms: Sequence[Symbol]) -> Callable[..., Any]:
    """jax.jit(f), also callable with arrays by symbol name."""
    jitted = jax.jit(f)
    names = [s.name for s in syms]

    def call(*values: Any, **by_name: Any) -> jax.Array:
        if by_name:
            unknown = sorted(set(by_name) - set(names))
            if unknown:
                msg = f"jaxmc.symbolic: unknown argument(s) {unknown}; the function takes {names}."  # noqa: E501
                raise TypeError(msg)
            rest = names[len(values) :]
            missing = [n for n in rest if n not in by_name]
            if missing:
                msg = f"jaxmc.symbolic: missing argument(s) {missing}; the function takes {names}."  # noqa: E501
                raise TypeError(msg)
            values = values + tuple(by_name[n] for n in rest)
        return jitted(*values)

    call.__doc__ = f"Evaluates the expression at arrays for ({', '.join(names)})."
    call.arg_names = tuple(names)  # type: ignore[attr-defined]
    return call
