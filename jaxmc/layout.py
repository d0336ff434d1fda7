r"""Derivative layouts (numerator, denominator, mixed, vec, JAX) and exact conversion.

Papers lay out the same derivative differently: numerator and denominator
layouts are transposes of each other, ML papers mostly use a mixed layout, and
Magnus & Neudecker always work with the matrix ``d vec(Y) / d vec(X)^T``. JAX
has one fixed layout (output shape + input shape). In jaxmc the layout is an
argument, and every layout is a reshape or transpose of JAX's, so conversions
between them are exact (bitwise).

Conventions (defined here, once, for all of jaxmc). For ``f: X -> Y`` with ``X``
and ``Y`` each a scalar, a vector or a matrix:

* **Vectors.** A 1-D array ``(n,)`` is a vector, and so is an explicit column
  ``(n, 1)``: both have the same derivatives in every layout but ``"jax"`` (and
  ``"mixed"`` where the result is shaped like the variable). A row ``(1, n)``
  is a ``1 x n`` matrix. In the ``"numerator"`` and ``"denominator"`` layouts
  results are explicit 2-D matrices, so a row ``(1, n)`` and a column ``(n, 1)``
  are told apart; a scalar by a scalar is a 0-D array.
* **"numerator"** (Jacobian formulation): ``dy/dx`` has ``dim y`` rows and
  ``dim x`` columns; a scalar by a vector is a row ``(1, n)``, a vector by a
  scalar a column ``(m, 1)``, a scalar by a ``(p, q)`` matrix has the shape of
  ``X^T``, ``(q, p)``, a ``(k, l)`` matrix by a scalar the shape of ``Y``.
  Entry ``[i, j]`` of a vector-by-vector Jacobian is ``d y_i / d x_j``, and of a
  scalar-by-matrix derivative ``d y / d X[j, i]``.
* **"denominator"** (gradient formulation): the transposes of the numerator
  layout: a scalar by a vector is a column ``(n, 1)``, a scalar by a matrix has
  the shape of ``X``, a vector by a vector is ``(n, m)``.

  This is the standard convention (Wikipedia's "Matrix calculus" layout
  tables, Magnus & Neudecker): in numerator layout the derivative of a scalar
  by a column vector is a **row**, and the column gradient ``nabla f`` is the
  denominator-layout derivative. The seed notes (09-10 Matrix Calculus and
  Tutorial 04) say the opposite, "numerator layout: the gradient is a column
  vector"; their formulas (``d(a^T x)/dx = a`` as a column, ``d(Ax)/dx = A``)
  mix the two, which is jaxmc's ``"mixed"`` layout. jaxmc follows the
  standard convention: ``gradient(f, layout="numerator")`` is a row
  ``(1, n)``.
* **"mixed"** (what most ML papers and ``jax.grad`` use): a scalar ``y`` gives
  a gradient shaped exactly like the variable (``(n,)`` for ``(n,)``, ``(p, q)``
  for ``(p, q)``); a scalar ``x`` gives a derivative shaped exactly like ``y``;
  a vector by a vector is the numerator-layout Jacobian ``(m, n)``. Arrays of
  any rank are allowed when the other side is a scalar.
* **"vec"** (Magnus & Neudecker): always the matrix
  ``d vec(Y) / d vec(X)^T`` of shape ``(dim Y, dim X)``, with the column-major
  ``vec`` of :mod:`jaxmc.vec` (a scalar has dim 1; arrays of rank > 2 are
  flattened first index fastest). The one layout defined for every
  combination, matrix by matrix included: ``d vec(A X B) / d vec(X)^T =
  B^T kron A`` and ``d vec(X^T) / d vec(X)^T = K_pq``.
* **"jax"**: JAX's native tensor layout, shape ``Y.shape + X.shape``, entry
  ``[i..., j...] = d Y[i...] / d X[j...]``, as ``jax.jacfwd`` returns it.

Shapes, with ``x`` of shape ``(n,)``, ``X`` of shape ``(p, q)``, ``y`` of shape
``(m,)`` and ``Y`` of shape ``(k, l)`` (the README's table is generated from
:func:`layout_shape` by :func:`layout_table`; ``jaxmc layouts`` prints it):

===================  ==========  ===========  ========  ==========  ============
derivative           numerator   denominator  mixed     vec         jax
===================  ==========  ===========  ========  ==========  ============
scalar by scalar     ()          ()           ()        (1, 1)      ()
scalar by vector     (1, n)      (n, 1)       (n,)      (1, n)      (n,)
scalar by matrix     (q, p)      (p, q)       (p, q)    (1, pq)     (p, q)
vector by scalar     (m, 1)      (1, m)       (m,)      (m, 1)      (m,)
vector by vector     (m, n)      (n, m)       (m, n)    (m, n)      (m, n)
vector by matrix     --          --           --        (m, pq)     (m, p, q)
matrix by scalar     (k, l)      (l, k)       (k, l)    (kl, 1)     (k, l)
matrix by vector     --          --           --        (kl, n)     (k, l, n)
matrix by matrix     --          --           --        (kl, pq)    (k, l, p, q)
===================  ==========  ===========  ========  ==========  ============

A combination marked ``--`` has no standard form in that layout: asking for it
raises a ``ValueError`` that points to ``layout="vec"`` or ``layout="jax"``.

Pytrees. :func:`gradient` and :func:`jacobian` also take a pytree (a dict, a
list or tuple of arrays, ...) as the differentiated argument, as ``jax.grad``
does: the result is a pytree of the same structure whose leaf is the derivative
by that leaf, in the chosen layout (so ``layout="vec"`` gives one
``(dim Y, dim leaf)`` matrix per leaf; flatten the pytree with
``jax.flatten_util.ravel_pytree`` first for one matrix over all of it). A
Python number or a plain (nested) list of numbers is made one array first.
The value of ``f`` must be one array.

Degenerate and non-finite values. A differentiated argument (or a value of
``f``, for :func:`jacobian`) with no entries raises a ``ValueError``: there is
nothing to differentiate. NaN and infinity are JAX's semantics and are passed
on unchanged: ``gradient(lambda x: jnp.sum(jnp.sqrt(x)))`` at ``x < 0`` is
NaN, exactly as ``jax.grad`` gives it (check with ``jnp.isfinite``, or run
with ``jax.config.update("jax_debug_nans", True)`` to find where it arises).

References:
  J. R. Magnus and H. Neudecker, *Matrix Differential Calculus with
  Applications in Statistics and Econometrics*, 3rd ed., Wiley, 2019, ch. 9.
  Wikipedia, "Matrix calculus", section "Layout conventions".
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from jaxmc import _checks
from jaxmc._chunked import blocked, check_chunking, check_dense_fits, size_rule

__all__ = [
    "LAYOUTS",
    "MODES",
    "convert_layout",
    "gradient",
    "jacobian",
    "layout_shape",
    "layout_table",
]

LAYOUTS = ("numerator", "denominator", "mixed", "vec", "jax")
"""The layout names, in the order of the README's table."""

MODES = ("auto", "forward", "reverse")
"""The ways :func:`jacobian` can build the JAX-layout derivative."""

_SCALAR, _VECTOR, _MATRIX, _TENSOR = "scalar", "vector", "matrix", "tensor"


# ------------------------------------------------------------------ shapes


def _kind(shape: tuple[int, ...]) -> str:
    """Scalar (), vector (n,) or (n, 1), matrix (p, q), or tensor (rank > 2)."""
    if len(shape) == 0:
        return _SCALAR
    if len(shape) == 1 or (len(shape) == 2 and shape[1] == 1):
        return _VECTOR
    if len(shape) == 2:
        return _MATRIX
    return _TENSOR


def _describe(shape: tuple[int, ...]) -> str:
    kind = _kind(shape)
    article = "an array of rank " + str(len(shape)) if kind == _TENSOR else "a " + kind
    return f"{article} (shape {_checks._shape_str(shape)})"


def _unsupported(
    fn: str, layout: str, in_shape: tuple[int, ...], out_shape: tuple[int, ...]
) -> ValueError:
    vec_shape = (math.prod(out_shape), math.prod(in_shape))
    msg = (
        f"{fn}: layout {layout!r} has no standard form for the derivative of "
        f"{_describe(out_shape)} by {_describe(in_shape)}; use layout='vec' (the "
        f"{_checks._shape_str(vec_shape)} matrix d vec(Y) / d vec(X)^T) or "
        f"layout='jax' (shape {_checks._shape_str(out_shape + in_shape)})."
    )
    return ValueError(msg)


def _numerator_shape(
    fn: str, in_shape: tuple[int, ...], out_shape: tuple[int, ...], layout: str
) -> tuple[int, ...]:
    kx, ky = _kind(in_shape), _kind(out_shape)
    m, n = math.prod(out_shape), math.prod(in_shape)
    if kx == _SCALAR and ky == _SCALAR:
        return ()
    if ky == _SCALAR and kx == _VECTOR:
        return (1, n)
    if ky == _SCALAR and kx == _MATRIX:
        return in_shape[::-1]
    if kx == _SCALAR and ky in (_VECTOR, _MATRIX):
        return (m, 1) if ky == _VECTOR else out_shape
    if kx == _VECTOR and ky == _VECTOR:
        return (m, n)
    raise _unsupported(fn, layout, in_shape, out_shape)


def _layout_shape(
    fn: str, in_shape: tuple[int, ...], out_shape: tuple[int, ...], layout: str
) -> tuple[int, ...]:
    """layout_shape with errors naming ``fn``; shapes already validated."""
    if layout == "jax":
        return out_shape + in_shape
    if layout == "vec":
        return (math.prod(out_shape), math.prod(in_shape))
    if layout == "numerator":
        return _numerator_shape(fn, in_shape, out_shape, layout)
    if layout == "denominator":
        return _numerator_shape(fn, in_shape, out_shape, layout)[::-1]
    # mixed
    if out_shape == ():
        return in_shape
    if in_shape == ():
        return out_shape
    if _kind(in_shape) == _VECTOR and _kind(out_shape) == _VECTOR:
        return (math.prod(out_shape), math.prod(in_shape))
    raise _unsupported(fn, layout, in_shape, out_shape)


def layout_shape(
    in_shape: Sequence[int], out_shape: Sequence[int], layout: str
) -> tuple[int, ...]:
    r"""The shape of the derivative of ``Y`` (``out_shape``) by ``X`` (``in_shape``).

    The layouts are defined in the :mod:`jaxmc.layout` module docstring; the
    README's table of shapes is generated from this function.

    Args:
      in_shape: the shape of the variable ``X``: ``()`` for a scalar, ``(n,)`` or
        ``(n, 1)`` for a vector, ``(p, q)`` for a matrix (any rank for the
        ``"vec"`` and ``"jax"`` layouts).
      out_shape: the shape of the function's value ``Y``, likewise.
      layout: one of ``"numerator"``, ``"denominator"``, ``"mixed"``, ``"vec"``,
        ``"jax"``.

    Returns:
      The shape as a tuple of ints.

    Raises:
      ValueError: for an unknown layout (the message lists the valid ones), a
        negative size, or a combination the layout does not define (numerator
        layout of a matrix by a matrix, say; the message points to ``"vec"``
        and ``"jax"``). TypeError: for shapes that are not tuples of ints.

    Example:
      >>> from jaxmc import layout_shape
      >>> layout_shape((3,), (), "numerator"), layout_shape((3,), (), "mixed")
      ((1, 3), (3,))
      >>> layout_shape((2, 3), (4, 5), "vec")
      (20, 6)
    """
    fn = "jaxmc.layout_shape"
    in_shape = _checks.static_shape(fn, "in_shape", in_shape)
    out_shape = _checks.static_shape(fn, "out_shape", out_shape)
    _checks.check_one_of(fn, "layout", layout, LAYOUTS)
    return _layout_shape(fn, in_shape, out_shape, layout)


# ------------------------------------------------------------------ conversion


def _is_scalar_by_matrix(in_shape: tuple[int, ...], out_shape: tuple[int, ...]):
    return out_shape == () and _kind(in_shape) == _MATRIX


def _vec_perm(in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> list[int]:
    """Axes of the JAX layout, each side reversed: column-major vec on both sides.

    The permutation is its own inverse.
    """
    ro, ri = len(out_shape), len(in_shape)
    return list(range(ro - 1, -1, -1)) + list(range(ro + ri - 1, ro - 1, -1))


def _from_jax(
    J: jax.Array,
    in_shape: tuple[int, ...],
    out_shape: tuple[int, ...],
    layout: str,
    target: tuple[int, ...],
) -> jax.Array:
    """The JAX-layout derivative ``J`` in ``layout`` (of shape ``target``)."""
    if layout == "jax":
        return J
    if layout == "vec":
        return jnp.transpose(J, _vec_perm(in_shape, out_shape)).reshape(target)
    if layout == "mixed":
        return J.reshape(target)
    numerator = J.T if _is_scalar_by_matrix(in_shape, out_shape) else J
    numerator = numerator.reshape(target[::-1] if layout == "denominator" else target)
    return numerator.T if layout == "denominator" else numerator


def _to_jax(
    J: jax.Array, in_shape: tuple[int, ...], out_shape: tuple[int, ...], layout: str
) -> jax.Array:
    """The derivative ``J`` in ``layout`` brought back to the JAX layout."""
    jax_shape = out_shape + in_shape
    if layout == "jax":
        return J
    if layout == "vec":
        reversed_shape = out_shape[::-1] + in_shape[::-1]
        return jnp.transpose(J.reshape(reversed_shape), _vec_perm(in_shape, out_shape))
    if layout == "mixed":
        return J.reshape(jax_shape)
    numerator = J.T if layout == "denominator" else J
    if _is_scalar_by_matrix(in_shape, out_shape):
        return numerator.T
    return numerator.reshape(jax_shape)


def convert_layout(
    J: jax.Array,
    /,
    *,
    in_shape: Sequence[int],
    out_shape: Sequence[int],
    src: str,
    dst: str,
) -> jax.Array:
    r"""Converts a derivative array from layout ``src`` to layout ``dst``.

    Every layout is a reshape and/or transpose of JAX's ``Y.shape + X.shape``
    layout (see the :mod:`jaxmc.layout` module docstring), so a conversion only
    moves entries: round trips are bitwise exact, and the dtype is kept.

    Args:
      J: the derivative of ``Y`` by ``X`` in layout ``src``, of shape
        ``layout_shape(in_shape, out_shape, src)``.
      in_shape: the shape of the variable ``X``.
      out_shape: the shape of the function's value ``Y``.
      src: the layout of ``J``: ``"numerator"``, ``"denominator"``,
        ``"mixed"``, ``"vec"`` or ``"jax"``.
      dst: the layout wanted, one of the same.

    Returns:
      The same derivative in layout ``dst``, of shape
      ``layout_shape(in_shape, out_shape, dst)`` and the dtype of ``J``.

    Raises:
      ValueError: for an unknown layout, a combination ``src`` or ``dst`` does
        not define, or ``J`` of the wrong shape for ``src``. TypeError: if ``J``
        is not an array or the shapes are not tuples of ints.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxmc import convert_layout
      >>> A = jnp.array([[1, 2, 3], [4, 5, 6]])  # d(Ax)/dx, numerator layout
      >>> convert_layout(A, in_shape=(3,), out_shape=(2,), src="numerator",
      ...                dst="denominator").tolist()
      [[1, 4], [2, 5], [3, 6]]
    """
    fn = "jaxmc.convert_layout"
    J = _checks.as_array(fn, "J", J)
    in_shape = _checks.static_shape(fn, "in_shape", in_shape)
    out_shape = _checks.static_shape(fn, "out_shape", out_shape)
    _checks.check_one_of(fn, "src", src, LAYOUTS)
    _checks.check_one_of(fn, "dst", dst, LAYOUTS)
    src_shape = _layout_shape(fn, in_shape, out_shape, src)
    dst_shape = _layout_shape(fn, in_shape, out_shape, dst)
    if J.shape != src_shape:
        msg = (
            f"{fn}: argument `J` must have shape {_checks._shape_str(src_shape)}, "
            f"the {src!r} layout of the derivative of {_describe(out_shape)} by "
            f"{_describe(in_shape)}; got shape {_checks._shape_str(J.shape)}."
        )
        raise ValueError(msg)
    if src == dst:
        return J
    return _from_jax(
        _to_jax(J, in_shape, out_shape, src), in_shape, out_shape, dst, dst_shape
    )


# ------------------------------------------------------------------ derivatives


def _choose_mode(in_size: int, out_size: int) -> str:
    """The cost model's mode (:func:`jaxmc.cost.choose_mode`, size rule).

    jacfwd builds the Jacobian from ``in_size`` JVPs, jacrev from ``out_size``
    VJPs: forward for tall and square Jacobians, reverse for wide ones.
    """
    return size_rule(in_size, out_size)


def _jax_jacobian(
    f: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    argnums: int | tuple[int, ...],
    mode: str,
    chunk_size: int | None = None,
    memory_limit: int | None = None,
    cache: dict[Any, int] | None = None,
) -> Any:
    """The derivative in the JAX layout (a tuple of them for tuple ``argnums``).

    The one place where :func:`jacobian` builds derivatives; ``mode`` is
    ``"forward"`` or ``"reverse"``. With ``chunk_size`` or ``memory_limit`` the
    dense Jacobian is built in blocks of basis vectors (:mod:`jaxmc.cost`).
    """
    if chunk_size is None and memory_limit is None:
        g = functools.partial(f, **kwargs) if kwargs else f
        for i in argnums if isinstance(argnums, tuple) else (argnums,):
            if jax.tree_util.treedef_is_leaf(jax.tree_util.tree_structure(args[i])):
                # Pytree arguments give a pytree of blocks, each checked by JAX.
                check_dense_fits("jaxmc.jacobian", "jacobian", g, args, i, None, None)
        build = jax.jacfwd if mode == "forward" else jax.jacrev
        return build(f, argnums=argnums)(*args, **kwargs)
    g = functools.partial(f, **kwargs) if kwargs else f
    nums = argnums if isinstance(argnums, tuple) else (argnums,)
    cache = {} if cache is None else cache
    Js = tuple(
        _blocked_jacobian(g, args, i, mode, chunk_size, memory_limit, cache)
        for i in nums
    )
    return Js if isinstance(argnums, tuple) else Js[0]


def _blocked_jacobian(
    g: Callable[..., Any],
    args: tuple[Any, ...],
    i: int,
    mode: str,
    chunk_size: int | None,
    memory_limit: int | None,
    cache: dict[Any, int],
) -> Any:
    """The JAX-layout Jacobian by argument ``i`` in blocks (a pytree for pytrees).

    A pytree argument is flattened into one vector (``ravel_pytree``), so the
    blocks run over all its entries; the result is split back into one
    ``out_shape + leaf.shape`` block per leaf.
    """
    x = args[i]
    if isinstance(x, jax.Array):
        return blocked(
            "jaxmc.jacobian",
            "jacobian",
            g,
            args,
            i,
            mode,
            chunk_size,
            memory_limit,
            cache,
        )
    flat, unravel = ravel_pytree(x)
    before, after = args[:i], args[i + 1 :]

    def g_flat(*a: Any) -> Any:
        return g(*a[:i], unravel(a[i]), *a[i + 1 :])

    J = blocked(
        "jaxmc.jacobian",
        "jacobian",
        g_flat,
        (*before, flat, *after),
        i,
        mode,
        chunk_size,
        memory_limit,
        cache,
    )
    out_shape = J.shape[:-1]
    leaves, treedef = jax.tree_util.tree_flatten(x)
    blocks, start = [], 0
    for leaf in leaves:
        block = J[..., start : start + leaf.size]
        blocks.append(block.reshape(out_shape + leaf.shape))
        start += leaf.size
    return jax.tree_util.tree_unflatten(treedef, blocks)


def _check_argnums(fn: str, argnums: Any) -> tuple[int, ...]:
    if isinstance(argnums, tuple | list):
        if not argnums:
            msg = f"{fn}: argument `argnums` must be an int or a non-empty tuple."
            raise ValueError(msg)
        nums = tuple(
            _checks.static_int(fn, f"argnums[{i}]", a) for i, a in enumerate(argnums)
        )
        if len(set(nums)) != len(nums):
            msg = f"{fn}: argument `argnums` must not repeat an index; got {nums}."
            raise ValueError(msg)
        return nums
    return (_checks.static_int(fn, "argnums", argnums),)


class _Variable:
    """One differentiated argument: its pytree structure and leaf shapes.

    A plain array is a pytree with one leaf and is returned bare; any other
    pytree gives a pytree of derivatives of the same structure.
    """

    def __init__(self, index: int, value: Any):
        pairs, self.treedef = jax.tree_util.tree_flatten_with_path(value)
        self.name = f"args[{index}]"
        self.paths = [self.name + jax.tree_util.keystr(p) for p, _ in pairs]
        self.shapes = [tuple(jnp.shape(leaf)) for _, leaf in pairs]
        self.bare = isinstance(value, jax.Array)
        self.size = sum(math.prod(s) for s in self.shapes)

    def targets(self, fn: str, out_shape: tuple[int, ...], layout: str) -> list:
        """The layout shape of the derivative by each leaf (raising if undefined)."""
        out = []
        for path, shape in zip(self.paths, self.shapes, strict=True):
            try:
                out.append(_layout_shape(fn, shape, out_shape, layout))
            except ValueError as err:
                if self.bare:
                    raise
                raise ValueError(f"{err} (the leaf `{path}`)") from None
        return out

    def convert(self, J: Any, out_shape: tuple[int, ...], layout: str, targets):
        """The JAX-layout derivative (array or pytree) in ``layout``."""
        leaves = self.treedef.flatten_up_to(J)
        converted = [
            _from_jax(Ji, s, out_shape, layout, t)
            for Ji, s, t in zip(leaves, self.shapes, targets, strict=True)
        ]
        return jax.tree_util.tree_unflatten(self.treedef, converted)


def _prepare_call(
    fn: str, f: Callable[..., Any], nums: tuple[int, ...], args, kwargs
) -> tuple[tuple[Any, ...], list[_Variable], tuple[int, ...], Any]:
    """Checks the differentiated arguments and f's value.

    Returns the arguments (differentiated ones converted to arrays, lists of
    numbers to one array), one :class:`_Variable` per index, and the shape and
    dtype of ``f``'s value.
    """
    args = list(args)
    variables = []
    for i in nums:
        if i >= len(args):
            msg = (
                f"{fn}: argnums index {i} is out of range: the function was "
                f"called with {len(args)} positional argument(s)."
            )
            raise ValueError(msg)
        args[i] = _checks.as_variable(fn, f"args[{i}]", args[i])
        variables.append(_Variable(i, args[i]))
    out = _checks.eval_user(fn, "f", f, args, kwargs)
    if not isinstance(out, jax.ShapeDtypeStruct):
        msg = (
            f"{fn}: argument `f` must return a single array; got "
            f"{type(out).__name__} {jax.tree_util.tree_structure(out)}. For a "
            f"pytree output, differentiate each output leaf separately."
        )
        raise TypeError(msg)
    if not jnp.issubdtype(out.dtype, jnp.floating):
        msg = (
            f"{fn}: argument `f` must return a floating array "
            f"({_checks._FLOATS}); got dtype {out.dtype}."
        )
        raise TypeError(msg)
    return tuple(args), variables, tuple(out.shape), out.dtype


def jacobian(
    f: Callable[..., Any],
    argnums: int | Sequence[int] = 0,
    *,
    layout: str = "mixed",
    mode: str = "auto",
    chunk_size: int | None = None,
    memory_limit: int | None = None,
) -> Callable[..., Any]:
    r"""Returns a function computing the derivative of ``f`` in a chosen layout.

    ``jacobian(f, layout=L)(x)`` equals
    ``convert_layout(jax.jacfwd(f)(x), in_shape=x.shape, out_shape=f(x).shape,
    src="jax", dst=L)``: the textbook derivative in the conventions of the
    :mod:`jaxmc.layout` module docstring. For example ``d(Ax)/dx`` is ``A`` in
    numerator layout and ``A^T`` in denominator layout, ``d tr(AX)/dX`` is
    ``A^T`` in mixed and denominator layout and ``A`` in numerator layout, and
    ``d vec(AXB) / d vec(X)^T = B^T kron A`` in vec layout.

    Args:
      f: the function; it takes arrays and returns a single real floating
        array ``Y`` (a scalar, vector or matrix; any rank for ``"vec"`` and
        ``"jax"``). Keyword arguments are passed through, not differentiated.
      argnums: the positional argument to differentiate by (an int), or a tuple
        of them. That argument may be an array, a Python number or list of
        numbers (made an array), or a pytree of arrays (see the module
        docstring).
      layout: ``"mixed"`` (default), ``"numerator"``, ``"denominator"``,
        ``"vec"`` or ``"jax"``.
      mode: ``"forward"`` (``jax.jacfwd``), ``"reverse"`` (``jax.jacrev``) or
        ``"auto"`` (the cost model of :func:`jaxmc.cost.choose_mode`: forward
        when ``X`` has no more entries than ``Y``, else reverse). The result is
        the same up to rounding.
      chunk_size: build the dense Jacobian ``chunk_size`` basis vectors at a
        time (columns ``J e_i`` in forward mode, rows ``e_j^T J`` in reverse
        mode), so the temporaries stay bounded; default: all at once
        (``jax.jacfwd`` / ``jax.jacrev``).
      memory_limit: instead of ``chunk_size``, a peak memory in bytes: the chunk
        is chosen from XLA's compiled memory analysis so that arguments,
        result and temporaries fit (see :func:`jaxmc.hessian`).

    Returns:
      A function with the signature of ``f`` returning the derivative of shape
      ``layout_shape(x.shape, f(x).shape, layout)`` with ``f``'s output dtype
      (for a pytree ``x``, a pytree of such derivatives, one per leaf), or a
      tuple of them (one per index) for tuple ``argnums``. It works under
      ``jax.jit``, ``jax.vmap`` and ``jax.grad``.

    Raises:
      ValueError: for an unknown layout or mode (the message lists the valid
        ones), bad ``argnums``, both ``chunk_size`` and ``memory_limit`` or
        non-positive ones, a ``memory_limit`` one basis vector at a time
        cannot meet, or (when called) a combination the layout does
        not define, pointing to ``"vec"`` or ``"jax"``, a differentiated
        argument or a value with no entries, or ``f`` raising on the
        arguments (its error is quoted). TypeError: if ``f`` is not callable,
        or (when called) a differentiated argument (or leaf) is not floating
        or ``f`` does not return a single floating array.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxmc import jacobian
      >>> A = jnp.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
      >>> x = jnp.ones(3)
      >>> jacobian(lambda x: A @ x, layout="numerator")(x).tolist()
      [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
      >>> jacobian(lambda x: A @ x, layout="denominator")(x).shape
      (3, 2)
    """
    fn = "jaxmc.jacobian"
    _checks.check_callable(fn, "f", f)
    nums = _check_argnums(fn, argnums)
    _checks.check_one_of(fn, "layout", layout, LAYOUTS)
    _checks.check_one_of(fn, "mode", mode, MODES)
    check_chunking(fn, chunk_size, memory_limit)
    as_tuple = isinstance(argnums, tuple | list)
    cache: dict[Any, int] = {}

    @functools.wraps(f)
    def derivative(*args, **kwargs):
        args, variables, out_shape, _ = _prepare_call(fn, f, nums, args, kwargs)
        if math.prod(out_shape) == 0:
            msg = (
                f"{fn}: argument `f` returned an array with no entries (shape "
                f"{_checks._shape_str(out_shape)}), so its derivative has none; "
                f"check the slicing or sizes inside `f`."
            )
            raise ValueError(msg)
        targets = [v.targets(fn, out_shape, layout) for v in variables]
        chosen = mode
        if mode == "auto":
            in_size = sum(v.size for v in variables)
            chosen = _choose_mode(in_size, math.prod(out_shape))
        J = _jax_jacobian(
            f,
            args,
            kwargs,
            argnums=nums if as_tuple else nums[0],
            mode=chosen,
            chunk_size=chunk_size,
            memory_limit=memory_limit,
            cache=cache,
        )
        Js = J if as_tuple else (J,)
        out = tuple(
            v.convert(Ji, out_shape, layout, t)
            for Ji, v, t in zip(Js, variables, targets, strict=True)
        )
        return out if as_tuple else out[0]

    return derivative


def gradient(
    f: Callable[..., Any],
    argnums: int | Sequence[int] = 0,
    *,
    layout: str = "mixed",
) -> Callable[..., Any]:
    r"""Returns a function computing the gradient of scalar-valued ``f`` in a layout.

    Reverse mode (``jax.grad``), then a reshape/transpose into the layout: the
    default ``"mixed"`` layout is ``jax.grad``'s (shaped like the variable);
    ``"numerator"`` gives a row ``(1, n)`` for a vector and ``X^T``'s shape for a
    matrix; ``"denominator"`` a column ``(n, 1)`` and ``X``'s shape; ``"vec"``
    the row ``(1, dim X)``. For example ``d(x^T A x)/dx = (A + A^T) x`` as a row
    in numerator layout and as a column in denominator layout.

    Args:
      f: a function returning a real floating scalar (shape ``()``).
      argnums: the positional argument to differentiate by, or a tuple of them;
        an array, a Python number or list of numbers, or a pytree of arrays.
      layout: ``"mixed"`` (default), ``"numerator"``, ``"denominator"``,
        ``"vec"`` or ``"jax"``.

    Returns:
      A function with the signature of ``f`` returning the gradient of shape
      ``layout_shape(x.shape, (), layout)`` (for a pytree ``x``, a pytree of
      them, as ``jax.grad`` returns; a tuple for tuple ``argnums``). It works
      under ``jax.jit``, ``jax.vmap`` and ``jax.grad``. NaN from ``f`` (e.g.
      ``jnp.sqrt`` at a negative ``x``) passes through, as in ``jax.grad``.

    Raises:
      ValueError: if ``f`` does not return a scalar (the message names the
        output shape), for an unknown layout or bad ``argnums``, an argument
        with no entries, or ``f`` raising on the arguments. TypeError: if
        ``f`` is not callable or an argument or the output is not floating.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxmc import gradient
      >>> a = jnp.array([1.0, 2.0, 3.0])
      >>> gradient(lambda x: a @ x, layout="denominator")(jnp.zeros(3)).tolist()
      [[1.0], [2.0], [3.0]]
    """
    fn = "jaxmc.gradient"
    _checks.check_callable(fn, "f", f)
    nums = _check_argnums(fn, argnums)
    _checks.check_one_of(fn, "layout", layout, LAYOUTS)
    as_tuple = isinstance(argnums, tuple | list)

    @functools.wraps(f)
    def grad(*args, **kwargs):
        args, variables, out_shape, _ = _prepare_call(fn, f, nums, args, kwargs)
        if out_shape != ():
            msg = (
                f"{fn}: argument `f` must return a scalar (shape ()); got an "
                f"output of shape {_checks._shape_str(out_shape)}. For vector- or "
                f"matrix-valued functions use jaxmc.jacobian(f, layout=...)."
            )
            raise ValueError(msg)
        targets = [v.targets(fn, (), layout) for v in variables]
        g = jax.grad(f, argnums=nums if as_tuple else nums[0])(*args, **kwargs)
        gs = g if as_tuple else (g,)
        out = tuple(
            v.convert(gi, (), layout, t)
            for gi, v, t in zip(gs, variables, targets, strict=True)
        )
        return out if as_tuple else out[0]

    return grad


# ------------------------------------------------------------------ the table

# Distinct primes stand for the symbolic sizes, so every size in a generated
# shape (products included) maps back to its symbol.
_TABLE_SIZES = {"n": 2, "p": 3, "q": 5, "m": 7, "k": 11, "l": 13}
_TABLE_SHAPES = {
    "scalar": ((), ()),
    "vector": ((_TABLE_SIZES["n"],), (_TABLE_SIZES["m"],)),
    "matrix": (
        (_TABLE_SIZES["p"], _TABLE_SIZES["q"]),
        (_TABLE_SIZES["k"], _TABLE_SIZES["l"]),
    ),
}


def _symbolic(shape: tuple[int, ...]) -> str:
    names = {v: k for k, v in _TABLE_SIZES.items()}
    names.update({1: "1", 15: "pq", 143: "kl"})
    inner = ", ".join(names[d] for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def layout_table() -> str:
    r"""The table of derivative shapes per layout, as Markdown, from layout_shape.

    Rows are the nine combinations of a scalar, vector ``x (n,)`` or matrix
    ``X (p, q)`` variable and a scalar, vector ``y (m,)`` or matrix
    ``Y (k, l)`` value; a combination a layout does not define shows ``—``.
    ``jaxmc layouts`` prints it; the README's table is this output.

    Returns:
      The Markdown table as a string (no trailing newline).

    Example:
      >>> from jaxmc.layout import layout_table
      >>> print(layout_table().splitlines()[3])
      | scalar by vector `x (n,)` | `(1, n)` | `(n, 1)` | `(n,)` | `(1, n)` | `(n,)` |
    """
    symbols = {"scalar": "", "vector": " `x (n,)`", "matrix": " `X (p, q)`"}
    out_symbols = {"scalar": "", "vector": " `y (m,)`", "matrix": " `Y (k, l)`"}
    lines = [
        "| derivative | " + " | ".join(f"`{name}`" for name in LAYOUTS) + " |",
        "|---" * (len(LAYOUTS) + 1) + "|",
    ]
    for out_kind, (_, out_shape) in _TABLE_SHAPES.items():
        for in_kind, (in_shape, _) in _TABLE_SHAPES.items():
            cells = []
            for layout in LAYOUTS:
                try:
                    shape = layout_shape(in_shape, out_shape, layout)
                    cells.append(f"`{_symbolic(shape)}`")
                except ValueError:
                    cells.append("—")
            label = f"{out_kind}{out_symbols[out_kind]} by {in_kind}{symbols[in_kind]}"
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
