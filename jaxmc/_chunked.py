"""Dense Jacobians and Hessians built in blocks of basis vectors.

A dense derivative is a stack of products with basis vectors: Jacobian columns
``J e_i`` (forward mode), rows ``e_j^T J`` (reverse mode), Hessian columns
``H e_i`` (Hessian-vector products). ``jax.jacfwd``/``jax.jacrev``/``jax.hessian``
push all basis vectors through at once (``vmap``), so their temporaries grow with
the number of basis vectors. Here ``c`` are pushed
through at a time (``lax.fori_loop`` over blocks, each block a ``vmap``, like
``lax.map(..., batch_size=c)``): the temporaries grow
with ``c``, and the result (which must be held anyway) is written block by block
into one buffer with ``dynamic_update_slice``, columns or rows, without a
transpose copy. The basis vectors are built from their indices inside the
loop, so the identity matrix is never formed.

The chunk for a memory limit is chosen from XLA's compiled memory analysis: the
peaks at chunks 1 and 2 give a linear model, the model's chunk is compiled and
checked, and the chunk shrinks until the compiled peak fits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from jaxmc import _checks, _memory
from jaxmc._compiled import compile_abstract, memory_figures

HESSIAN_MODES = ("fwd-rev", "rev-fwd", "rev-rev")
JACOBIAN_MODES = ("forward", "reverse")


def size_rule(n_in: int, n_out: int) -> str:
    """The cost model's mode for an ``n_out x n_in`` Jacobian.

    Forward mode (``n_in`` JVPs) for tall and square Jacobians, reverse mode
    (``n_out`` VJPs) for wide ones; see :func:`jaxmc.cost.choose_mode`.
    """
    return "forward" if n_in <= n_out else "reverse"


def check_argnums(fn: str, argnums: Any) -> int:
    """Returns ``argnums`` as an int >= 0, or raises naming ``fn``."""
    if isinstance(argnums, tuple | list):
        msg = (
            f"{fn}: argument `argnums` must be a single int (the position of one "
            f"array argument); got {argnums!r}. Differentiate one argument at a "
            f"time, or pack several into one array."
        )
        raise TypeError(msg)
    return _checks.static_int(fn, "argnums", argnums, minimum=0)


def check_chunking(fn: str, chunk_size: Any, memory_limit: Any) -> None:
    """Validates ``chunk_size`` / ``memory_limit`` (at most one, positive ints)."""
    if chunk_size is not None and memory_limit is not None:
        msg = (
            f"{fn}: give `chunk_size` or `memory_limit`, not both; got "
            f"chunk_size={chunk_size!r} and memory_limit={memory_limit!r}."
        )
        raise ValueError(msg)
    if chunk_size is not None:
        _checks.static_int(fn, "chunk_size", chunk_size, minimum=1)
    if memory_limit is not None:
        _checks.static_int(fn, "memory_limit", memory_limit, minimum=1)


def split_argument(
    fn: str, f: Callable[..., Any], args: Sequence[Any], argnums: int
) -> tuple[jax.Array, Callable[[jax.Array], Any]]:
    """(x, g): the differentiated argument and f as a function of flat x."""
    if argnums >= len(args):
        msg = (
            f"{fn}: argnums={argnums} but the function was called with "
            f"{len(args)} positional argument(s)."
        )
        raise ValueError(msg)
    x = _checks.as_array(fn, f"args[{argnums}]", args[argnums])
    _checks.check_floating(fn, f"args[{argnums}]", x)
    _checks.check_nonempty(fn, f"args[{argnums}]", x)
    shape = x.shape
    before, after = tuple(args[:argnums]), tuple(args[argnums + 1 :])
    # Raises with the user's error quoted; the callers check what f returns.
    _checks.eval_user(fn, "f", f, (*before, x, *after))

    def g(v: jax.Array) -> Any:
        return f(*before, v.reshape(shape), *after)

    return x, g


def _basis(i: jax.Array, n: int, dtype: Any) -> jax.Array:
    return (jnp.arange(n) == i).astype(dtype)


def stack_blocks(
    apply: Callable[[jax.Array], jax.Array],
    n: int,
    k: int,
    batch: int,
    dtype: Any,
    *,
    columns: bool,
) -> jax.Array:
    """Stacks ``apply(i)`` (a length-``k`` vector) for ``i < n``, ``batch`` at a time.

    Returns the ``(n, k)`` matrix of rows, or with ``columns=True`` the ``(k, n)``
    matrix of columns, written block by block into one buffer (no transpose copy).
    """
    batched = jax.vmap(apply)

    def put(H: jax.Array, start: Any, idx: jax.Array) -> jax.Array:
        blk = batched(idx).astype(dtype)
        if columns:
            return jax.lax.dynamic_update_slice(H, blk.T, (0, start))
        return jax.lax.dynamic_update_slice(H, blk, (start, 0))

    H = jnp.zeros((k, n) if columns else (n, k), dtype)
    full = n // batch

    def body(j: jax.Array, H: jax.Array) -> jax.Array:
        start = j * batch
        return put(H, start, start + jnp.arange(batch))

    if full == 1:
        H = body(0, H)
    elif full > 1:
        H = jax.lax.fori_loop(0, full, body, H)
    rest = n - full * batch
    if rest:
        H = put(H, full * batch, full * batch + jnp.arange(rest))
    return H


def hessian_blocks(
    fn: str,
    f: Callable[..., Any],
    args: Sequence[Any],
    argnums: int,
    mode: str,
    chunk: int | None,
) -> jax.Array:
    """The dense Hessian of scalar ``f`` in its ``argnums`` argument, by blocks."""
    x, g = split_argument(fn, f, args, argnums)
    out = jax.eval_shape(g, x.reshape(-1))
    if not hasattr(out, "shape") or out.shape != ():
        got = _checks.describe(out) if hasattr(out, "shape") else type(out).__name__
        msg = (
            f"{fn}: the function must return a scalar to have a Hessian; got "
            f"{got}. For vector outputs use jaxmc.jacobian of the gradient."
        )
        raise ValueError(msg)
    n = x.size
    xf = x.reshape(-1)
    batch = n if chunk is None else min(chunk, n)
    grad_g = jax.grad(g)
    if mode == "fwd-rev":
        # Linearise the gradient once; each column is H e_i.
        _, hvp = jax.linearize(grad_g, xf)
        H = stack_blocks(
            lambda i: hvp(_basis(i, n, xf.dtype)), n, n, batch, xf.dtype, columns=True
        )
    elif mode == "rev-rev":
        # One reverse pass to the gradient, then pull back e_i: rows e_i^T H.
        _, pullback = jax.vjp(grad_g, xf)
        H = stack_blocks(
            lambda i: pullback(_basis(i, n, xf.dtype))[0],
            n,
            n,
            batch,
            xf.dtype,
            columns=False,
        )
    else:  # "rev-fwd": row i is the gradient of the directional derivative.

        def row(i: jax.Array) -> jax.Array:
            e = _basis(i, n, xf.dtype)
            return jax.grad(lambda v: jax.jvp(g, (v,), (e,))[1])(xf)

        H = stack_blocks(row, n, n, batch, xf.dtype, columns=False)
    return H.reshape(x.shape + x.shape)


def jacobian_blocks(
    fn: str,
    f: Callable[..., Any],
    args: Sequence[Any],
    argnums: int,
    mode: str,
    chunk: int | None,
) -> jax.Array:
    """The dense Jacobian (shape out + in, jax.jacfwd's layout) by blocks."""
    x, g = split_argument(fn, f, args, argnums)
    xf = x.reshape(-1)
    out = jax.eval_shape(g, xf)
    if not (hasattr(out, "shape") and hasattr(out, "dtype")):
        msg = (
            f"{fn}: the function must return a single array; got {type(out).__name__}."
        )
        raise TypeError(msg)
    n_in, n_out = x.size, math.prod(out.shape)
    if n_out == 0:
        msg = (
            f"{fn}: the function returned an array with no entries (shape "
            f"{_checks._shape_str(out.shape)}), so its Jacobian has none; check "
            f"the slicing or sizes inside the function."
        )
        raise ValueError(msg)
    if mode == "forward":
        _, jvp = jax.linearize(g, xf)
        batch = n_in if chunk is None else min(chunk, n_in)
        J = stack_blocks(
            lambda i: jvp(_basis(i, n_in, xf.dtype)).reshape(-1),
            n_in,
            n_out,
            batch,
            out.dtype,
            columns=True,
        )
    else:
        _, pullback = jax.vjp(g, xf)
        batch = n_out if chunk is None else min(chunk, n_out)
        J = stack_blocks(
            lambda j: pullback(_basis(j, n_out, out.dtype).reshape(out.shape))[0],
            n_out,
            n_in,
            batch,
            out.dtype,
            columns=False,
        )
    return J.reshape(out.shape + x.shape)


def count_directions(
    fn: str, f: Callable[..., Any], args: Sequence[Any], argnums: int, mode: str
) -> int:
    """How many basis vectors the blocked computation pushes through."""
    x, g = split_argument(fn, f, args, argnums)
    if mode in HESSIAN_MODES or mode == "forward":
        return x.size
    return math.prod(jax.eval_shape(g, x.reshape(-1)).shape)


def peak_bytes(build: Callable[[int], Callable[..., Any]], chunk: int, args: Any):
    """The compiled peak memory (bytes) of ``build(chunk)`` on ``args``, or None."""
    compiled, _ = compile_abstract(build(chunk), args)
    return memory_figures(compiled)[1]


def chunk_for_limit(
    fn: str,
    build: Callable[[int], Callable[..., Any]],
    args: Sequence[Any],
    n: int,
    limit: int,
) -> int:
    """The largest chunk (found by a checked linear model) whose peak fits ``limit``.

    Raises:
        ValueError: if even chunk 1 needs more than ``limit`` bytes, or if the
            backend gives no memory analysis to check against.
    """
    try:
        p1 = peak_bytes(build, 1, args)
    except jax.errors.UnexpectedTracerError as err:
        msg = (
            f"{fn}: memory_limit needs to compile the function on its own to read "
            f"its memory analysis, but the function closes over a traced value "
            f"(it is called inside jax.jit with a closure). Pass that value as an "
            f"argument, or give chunk_size instead of memory_limit."
        )
        raise ValueError(msg) from err
    if p1 is None:
        msg = (
            f"{fn}: memory_limit needs XLA's compiled memory analysis, which the "
            f"{jax.default_backend()} backend does not provide here; give "
            f"chunk_size instead."
        )
        raise ValueError(msg)
    if p1 > limit:
        msg = (
            f"{fn}: memory_limit={limit} bytes cannot be met: even one basis "
            f"vector at a time (chunk_size=1) needs a peak of {p1} bytes "
            f"(arguments, result and temporaries, by XLA's memory analysis). "
            f"Raise memory_limit to at least {p1}, or use Hessian-vector products "
            f"without forming the matrix."
        )
        raise ValueError(msg)
    if n == 1:
        return 1
    p2 = peak_bytes(build, 2, args)
    if p2 is not None and p2 <= limit:
        slope = max(p2 - p1, 1)
        c = max(1, min(n, 1 + (limit - p1) // slope))
    else:
        return 1
    for _ in range(8):
        if c <= 2:
            return c
        pc = peak_bytes(build, c, args)
        if pc is not None and pc <= limit:
            return c
        # Shrink along the secant through chunk 1 and chunk c.
        per = max((pc - p1) / (c - 1), 1.0) if pc is not None else float("inf")
        c_new = int(1 + (limit - p1) // per) if math.isfinite(per) else c // 2
        c = max(2, min(c - 1, c_new))
    return 2  # checked above: chunk 2 fits


def _signature(args: Sequence[Any]) -> tuple[Any, ...]:
    leaves, treedef = jax.tree_util.tree_flatten(list(args))
    return tuple(
        (tuple(jnp.shape(a)), str(a.dtype))
        if hasattr(a, "shape") and hasattr(a, "dtype")
        else repr(a)
        for a in leaves
    ) + (str(treedef),)


def blocked(
    fn: str,
    kind: str,
    f: Callable[..., Any],
    args: Sequence[Any],
    argnums: int,
    mode: str,
    chunk_size: int | None,
    memory_limit: int | None,
    cache: dict[Any, int],
) -> jax.Array:
    """The dense Hessian (``kind="hessian"``) or Jacobian in blocks.

    ``chunk_size`` basis vectors at a time (all at once when None), or, with
    ``memory_limit``, the chunk :func:`chunk_for_limit` finds, cached in
    ``cache`` per argument shapes.
    """
    blocks = hessian_blocks if kind == "hessian" else jacobian_blocks

    def build(chunk: int | None) -> Callable[..., jax.Array]:
        return lambda *a: blocks(fn, f, a, argnums, mode, chunk)

    check_dense_fits(fn, kind, f, args, argnums, chunk_size, memory_limit)
    key = (argnums, *_signature(args))
    if memory_limit is None:
        chunk = chunk_size
    else:
        if key not in cache:
            n = count_directions(fn, f, args, argnums, mode)
            cache[key] = chunk_for_limit(fn, build, args, n, memory_limit)
        chunk = cache[key]
    if not _checks.is_concrete(args):
        return build(chunk)(*args)  # traced: the caller's jit compiles the loop
    # Called eagerly: compile the block loop anyway, so that the temporaries
    # are those of one block (an eager loop keeps every block's buffers alive).
    leaves = jax.tree_util.tree_leaves(list(args))
    arrays = [a for a in leaves if hasattr(a, "shape") and hasattr(a, "dtype")]
    weak = tuple(bool(getattr(a, "weak_type", False)) for a in arrays)
    compiled_key = ("compiled", f, chunk, weak, *key)
    compiled = cache.get(compiled_key)
    if compiled is None:
        compiled, _ = compile_abstract(build(chunk), args)
        if len(cache) > 32:  # bound the cache (f may be a fresh partial per call)
            for old in [k for k in cache if k and k[0] == "compiled"][:16]:
                del cache[old]
        cache[compiled_key] = compiled
    return compiled(*arrays)


def check_dense_fits(
    fn: str,
    kind: str,
    f: Callable[..., Any],
    args: Sequence[Any],
    argnums: int,
    chunk_size: int | None,
    memory_limit: int | None,
) -> None:
    """Raises before a dense Hessian / Jacobian that cannot fit is allocated.

    The result alone must fit in the memory available; without ``chunk_size``
    or ``memory_limit``, all basis vectors are pushed through at once, whose
    outputs are as large again.
    """
    x, g = split_argument(fn, f, args, argnums)
    out = jax.eval_shape(g, x.reshape(-1))
    n_out = x.size if kind == "hessian" else math.prod(getattr(out, "shape", ()))
    itemsize = jnp.dtype(getattr(out, "dtype", x.dtype)).itemsize
    result = x.size * n_out * itemsize
    what = (
        f"the dense ({x.size}, {x.size}) Hessian"
        if kind == "hessian"
        else f"the dense ({n_out}, {x.size}) Jacobian"
    )
    _memory.check_fits(
        fn,
        what,
        result,
        "The result itself cannot be held: use matrix-free products instead "
        "(jax.jvp / jax.vjp, or jaxmc.spectrum.hessian_operator for Hessian-"
        "vector products), or differentiate a smaller argument.",
    )
    if chunk_size is None and memory_limit is None:
        _memory.check_fits(
            fn,
            what + " with every basis vector pushed through at once",
            2 * result,
            "Pass chunk_size= (basis vectors per block) or memory_limit= (bytes) "
            "to build it a block at a time.",
        )
