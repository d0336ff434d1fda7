"""The expression tree of jaxmc.symbolic: symbols with symbolic sizes, and operations.

Every expression has a two-dimensional shape ``(rows, cols)``. A size is either the
literal ``1`` or a :class:`Dim`, an unknown size (optionally with a known value)
that is tied to other sizes by use: ``A @ x`` makes the column count of ``A`` and
the length of ``x`` one size. Scalars are ``(1, 1)``, (column) vectors ``(n, 1)``,
row vectors ``(1, n)`` and matrices ``(m, n)``; a symbolic size never becomes ``1``,
so the kind of an expression is fixed by its construction.

Nodes compare structurally (symbols by identity) and are hashable, so the
simplifier can collect like terms and the code generator can share common
subexpressions.
"""

from __future__ import annotations

import builtins
import itertools
import math
from typing import Any

_FN = "jaxmc.symbolic"

# Element-wise functions the language knows; `sign` and `step` appear in
# derivatives (of abs and relu) and have derivative zero almost everywhere.
ELEMENTWISE = (
    "exp",
    "log",
    "sin",
    "cos",
    "tanh",
    "sigmoid",
    "relu",
    "abs",
    "sqrt",
    "sign",
    "step",
)

_counter = itertools.count()


class ShapeError(ValueError):
    """Raised when an expression combines operands of incompatible shapes."""


class ZeroDivisionError_(ValueError):  # noqa: N801 - not the builtin
    """Raised for a division by (or a negative power of) a constant zero."""


class Dim:
    """An unknown size; sizes tied together by use share one root (union-find)."""

    __slots__ = ("_parent", "label", "value")

    def __init__(self, label: str, value: int | None = None):
        self.label = label
        self.value = value
        self._parent: Dim | None = None

    def root(self) -> Dim:
        """The representative of this size's class."""
        d = self
        while d._parent is not None:
            d = d._parent
        return d

    def __repr__(self) -> str:
        r = self.root()
        return str(r.value) if r.value is not None else r.label


class DimProd(Dim):
    """The product of sizes (the length of ``vec`` of a matrix, a Kronecker size).

    Products compare as multisets of their factors' classes, so ``m*n`` equals
    ``n*m``; a product is never tied to other sizes by use.
    """

    __slots__ = ("factors",)

    def __init__(self, factors: tuple[Dim, ...]):
        super().__init__("*".join(f.label for f in factors))
        self.factors = factors

    def root(self) -> Dim:
        """A product is its own representative."""
        return self

    @property  # type: ignore[override]
    def value(self) -> int | None:  # noqa: D102 - the product of known factors
        out = 1
        for f in self.factors:
            v = f.root().value
            if v is None:
                return None
            out *= v
        return out

    @value.setter
    def value(self, v: Any) -> None:  # a product's value follows its factors
        pass

    def key(self) -> tuple[int, ...]:
        """The sorted ids of the factors' classes."""
        return tuple(sorted(id(f.root()) for f in self.factors))

    def __repr__(self) -> str:
        v = self.value
        return str(v) if v is not None else "*".join(repr(f) for f in self.factors)


def dim_mul(a: Any, b: Any) -> Any:
    """The product of two sizes (``1`` is the unit)."""
    if not isinstance(a, Dim):
        return b if a == 1 else a * b
    if not isinstance(b, Dim):
        return a if b == 1 else DimProd((a, b))

    def flat(d: Dim) -> tuple[Dim, ...]:
        return d.factors if isinstance(d, DimProd) else (d,)

    return DimProd(flat(a) + flat(b))


def numel(shape: tuple[Any, Any]) -> Any:
    """The number of entries of a shape, as a size."""
    return dim_mul(shape[0], shape[1])


def _fmt_dim(d: Any) -> str:
    return "1" if d == 1 and not isinstance(d, Dim) else repr(d)


def fmt_shape(shape: tuple[Any, Any]) -> str:
    """A readable shape, ``(n, 1)`` style, for error messages."""
    return f"({_fmt_dim(shape[0])}, {_fmt_dim(shape[1])})"


def _compatible(a: Any, b: Any) -> bool:
    if isinstance(a, DimProd) or isinstance(b, DimProd):
        return same_dim(a, b) or (
            isinstance(a, Dim)
            and isinstance(b, Dim)
            and (a.value is None or b.value is None or a.value == b.value)
        )
    if not isinstance(a, Dim) or not isinstance(b, Dim):
        return (not isinstance(a, Dim)) and (not isinstance(b, Dim)) and a == b
    ra, rb = a.root(), b.root()
    return ra is rb or ra.value is None or rb.value is None or ra.value == rb.value


def _unify(a: Any, b: Any) -> None:
    if isinstance(a, DimProd) or isinstance(b, DimProd):
        return
    if isinstance(a, Dim) and isinstance(b, Dim):
        ra, rb = a.root(), b.root()
        if ra is not rb:
            if ra.value is None:
                ra.value = rb.value
            rb._parent = ra


def unify_pairs(what: str, pairs: list[tuple[Any, Any]], detail: str) -> None:
    """Ties each pair of sizes together, or raises ShapeError without changing any."""
    for a, b in pairs:
        if not _compatible(a, b):
            msg = f"{_FN}: {what}: {detail}."
            raise ShapeError(msg)
    for a, b in pairs:
        _unify(a, b)


def same_dim(a: Any, b: Any) -> bool:
    """True when two sizes are known to be equal."""
    if isinstance(a, DimProd) or isinstance(b, DimProd):
        ka = a.key() if isinstance(a, DimProd) else (id(a.root()),)
        kb = b.key() if isinstance(b, DimProd) else (id(b.root()),)
        return isinstance(a, Dim) and isinstance(b, Dim) and ka == kb
    if isinstance(a, Dim) and isinstance(b, Dim):
        return a.root() is b.root()
    return (not isinstance(a, Dim)) and (not isinstance(b, Dim)) and a == b


def is_scalar_shape(shape: tuple[Any, Any]) -> bool:
    """True for the shape ``(1, 1)``."""
    return not isinstance(shape[0], Dim) and not isinstance(shape[1], Dim)


def kind_of(shape: tuple[Any, Any]) -> str:
    """One of "scalar", "vector" (column), "row" or "matrix"."""
    r, c = (isinstance(d, Dim) for d in shape)
    return {
        (False, False): "scalar",
        (True, False): "vector",
        (False, True): "row",
        (True, True): "matrix",
    }[(r, c)]


# ----------------------------------------------------------------- base class


class Expr:
    """A matrix expression (build with symbols, operators and the functions).

    Python operators follow NumPy: ``@`` is the matrix product, ``*`` and ``/``
    are element-wise (a scalar operand scales), ``**`` is the element-wise power,
    ``.T`` the transpose. ``str(e)`` is the plain-text form (matrixcalculus.org
    syntax, which :func:`jaxmc.symbolic.parse` reads back), ``e.latex`` LaTeX.
    """

    __slots__ = ("_hash", "args", "shape")
    op = "expr"
    # Leaves whose value depends on their shape alone (zeros, identities,
    # repeated scalars) also compare their sizes.
    _shape_sensitive = False

    def __init__(self, args: tuple[Expr, ...], shape: tuple[Any, Any]):
        self.args = args
        self.shape = shape
        self._hash: int | None = None

    # structural identity ---------------------------------------------------
    def params(self) -> tuple[Any, ...]:
        """Non-expression parameters that distinguish nodes of one type."""
        return ()

    def _key(self) -> tuple[Any, ...]:
        if self._shape_sensitive:
            pattern = tuple(isinstance(d, Dim) for d in self.shape)
            return (type(self), self.params(), self.args, pattern)
        return (type(self), self.params(), self.args)

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, Expr) or hash(self) != hash(other):
            return False
        if self._shape_sensitive and not (
            same_dim(self.shape[0], other.shape[0])
            and same_dim(self.shape[1], other.shape[1])
        ):
            return False
        return self._key() == other._key()

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(self._key())
        return self._hash

    # information -------------------------------------------------------------
    @property
    def kind(self) -> str:
        """One of "scalar", "vector" (a column), "row" or "matrix"."""
        return kind_of(self.shape)

    @property
    def symbols(self) -> tuple[Symbol, ...]:
        """The symbols in the expression, in order of first appearance."""
        seen: dict[Symbol, None] = {}
        stack: list[Expr] = [self]
        order: list[Symbol] = []
        while stack:
            e = stack.pop()
            if isinstance(e, Symbol):
                if e not in seen:
                    seen[e] = None
                    order.append(e)
            else:
                stack.extend(reversed(e.args))
        return tuple(order)

    def depends_on(self, s: Symbol) -> bool:
        """True when the symbol ``s`` occurs in the expression."""
        if self is s:
            return True
        return any(a.depends_on(s) for a in self.args)

    @property
    def text(self) -> str:
        """The plain-text form (matrixcalculus.org syntax)."""
        from jaxmc.symbolic._printing import to_text

        return to_text(self)

    @property
    def latex(self) -> str:
        """The LaTeX form."""
        from jaxmc.symbolic._printing import to_latex

        return to_latex(self)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Expr({self.text!r}, {self.kind} {fmt_shape(self.shape)})"

    def _repr_latex_(self) -> str:
        return f"${self.latex}$"

    # operators (NumPy conventions) ------------------------------------------
    def __add__(self, other: Any) -> Expr:
        return add(self, as_expr(other, "+"))

    def __radd__(self, other: Any) -> Expr:
        return add(as_expr(other, "+"), self)

    def __sub__(self, other: Any) -> Expr:
        return add(self, neg(as_expr(other, "-")))

    def __rsub__(self, other: Any) -> Expr:
        return add(as_expr(other, "-"), neg(self))

    def __neg__(self) -> Expr:
        return neg(self)

    def __pos__(self) -> Expr:
        return self

    def __mul__(self, other: Any) -> Expr:
        return hadamard(self, as_expr(other, "*"))

    def __rmul__(self, other: Any) -> Expr:
        return hadamard(as_expr(other, "*"), self)

    def __truediv__(self, other: Any) -> Expr:
        return ediv(self, as_expr(other, "/"))

    def __rtruediv__(self, other: Any) -> Expr:
        return ediv(as_expr(other, "/"), self)

    def __matmul__(self, other: Any) -> Expr:
        return matmul(self, as_expr(other, "@"))

    def __rmatmul__(self, other: Any) -> Expr:
        return matmul(as_expr(other, "@"), self)

    def __pow__(self, p: Any) -> Expr:
        return power(self, p)

    def __abs__(self) -> Expr:
        return func("abs", self)

    @property
    def T(self) -> Expr:  # noqa: N802 - NumPy's name
        """The transpose."""
        return transpose(self)


def substitute(e: Expr, old: Expr, new: Expr) -> Expr:
    """``e`` with every occurrence of ``old`` replaced by ``new`` (same shape)."""
    memo: dict[int, Expr] = {}

    def sub(e: Expr) -> Expr:
        if e is old:
            return new
        if id(e) in memo:
            return memo[id(e)]
        if not e.args:
            out = e
        else:
            args = tuple(sub(a) for a in e.args)
            if all(a is b for a, b in zip(args, e.args, strict=True)):
                out = e
            elif isinstance(e, Power):
                out = Power(args[0], e.p)
            elif isinstance(e, MatPower):
                out = MatPower(args[0], e.k)
            elif isinstance(e, Func):
                out = Func(e.name, args[0])
            else:
                out = type(e)(args, e.shape)
        memo[id(e)] = out
        return out

    return sub(e)


def as_expr(x: Any, where: str = "") -> Expr:
    """Returns ``x`` as an expression: numbers become constants."""
    if isinstance(x, Expr):
        return x
    if isinstance(x, int | float) and not isinstance(x, bool):
        if not math.isfinite(x):
            msg = f"{_FN}: constants must be finite; got {x!r}."
            raise ValueError(msg)
        return Const(float(x))
    msg = (
        f"{_FN}: cannot combine an expression with {type(x).__name__} {x!r}"
        + (f" in `{where}`" if where else "")
        + "; use symbols (jaxmc.symbolic.Symbol) and Python numbers."
    )
    raise TypeError(msg)


# ------------------------------------------------------------------- leaves


class Symbol(Expr):
    """A named scalar, vector or matrix; its sizes are symbolic unless given.

    Args:
      name: an identifier (letters, digits, underscores).
      kind: "scalar", "vector" (a column vector) or "matrix".
      shape: optional concrete sizes: ``(n,)`` for a vector, ``(m, n)`` for a
        matrix; ``None`` entries (or no shape) stay symbolic.
      symmetric: the matrix equals its transpose (so ``A'`` simplifies to ``A``).
      spd: symmetric positive definite (implies symmetric).
      diagonal: a diagonal matrix (implies symmetric).

    Raises:
      ValueError: a bad name, kind or shape, or a property on a non-matrix.
    """

    __slots__ = ("diagonal", "name", "spd", "symmetric", "uid")
    op = "symbol"

    def __init__(
        self,
        name: str,
        kind: str = "matrix",
        *,
        shape: tuple[int | None, ...] | None = None,
        symmetric: bool = False,
        spd: bool = False,
        diagonal: bool = False,
    ):
        fn = f"{_FN}.Symbol"
        if not isinstance(name, str) or not name.isidentifier():
            msg = f"{fn}: argument `name` must be an identifier; got {name!r}."
            raise ValueError(msg)
        if kind not in ("scalar", "vector", "matrix"):
            msg = (
                f"{fn}: argument `kind` must be one of 'scalar', 'vector', 'matrix'; "
                f"got {kind!r}."
            )
            raise ValueError(msg)
        if (symmetric or spd or diagonal) and kind != "matrix":
            msg = (
                f"{fn}: symmetric/spd/diagonal apply to matrices; `{name}` is a {kind}."
            )
            raise ValueError(msg)
        rank = {"scalar": 0, "vector": 1, "matrix": 2}[kind]
        if shape is None:
            shape = (None,) * rank
        if not isinstance(shape, tuple | list) or len(shape) != rank:
            msg = (
                f"{fn}: argument `shape` of the {kind} `{name}` must have {rank} "
                f"entr{'y' if rank == 1 else 'ies'}; got {shape!r}."
            )
            raise ValueError(msg)
        for d in shape:
            if d is not None and (
                isinstance(d, bool) or not isinstance(d, int) or d < 1
            ):
                msg = (
                    f"{fn}: argument `shape` of `{name}` must hold positive ints "
                    f"or None; got {shape!r}."
                )
                raise ValueError(msg)
        if kind == "scalar":
            dims: tuple[Any, Any] = (1, 1)
        elif kind == "vector":
            dims = (Dim(f"len({name})", shape[0]), 1)
        else:
            dims = (Dim(f"rows({name})", shape[0]), Dim(f"cols({name})", shape[1]))
        self.name = name
        self.symmetric = bool(symmetric or spd or diagonal)
        self.spd = bool(spd)
        self.diagonal = bool(diagonal)
        self.uid = next(_counter)
        super().__init__((), dims)
        if self.symmetric:
            unify_pairs(
                fn,
                [(dims[0], dims[1])],
                f"the symmetric matrix `{name}` must be square; got shape {shape!r}",
            )

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return hash(("symbol", self.uid))

    def _key(self) -> tuple[Any, ...]:
        return ("symbol", self.uid)

    def depends_on(self, s: Symbol) -> bool:
        """True when ``s`` is this symbol."""
        return self is s

    @property
    def properties(self) -> tuple[str, ...]:
        """The declared properties, e.g. ``("symmetric",)``."""
        return tuple(
            p
            for p, on in (
                ("spd", self.spd),
                ("diagonal", self.diagonal),
                ("symmetric", self.symmetric and not (self.spd or self.diagonal)),
            )
            if on
        )

    @property
    def declared_kind(self) -> str:
        """The declared kind: "scalar", "vector" or "matrix"."""
        return kind_of(self.shape).replace("row", "vector")

    def __repr__(self) -> str:
        props = "".join(f", {p}=True" for p in self.properties)
        return f"Symbol({self.name!r}, {self.declared_kind!r}{props})"


class Const(Expr):
    """A scalar constant."""

    __slots__ = ("value",)
    op = "const"

    def __init__(self, value: float):
        self.value = float(value)
        super().__init__((), (1, 1))

    def params(self) -> tuple[Any, ...]:
        """The value."""
        return (self.value,)


class Zero(Expr):
    """The zero vector or matrix of a shape."""

    __slots__ = ()
    op = "zero"
    _shape_sensitive = True


class Identity(Expr):
    """The identity matrix of a size."""

    __slots__ = ()
    op = "identity"
    _shape_sensitive = True


class Broadcast(Expr):
    """A scalar repeated over a shape: ``s * ones(shape)``."""

    __slots__ = ()
    op = "broadcast"
    _shape_sensitive = True


# --------------------------------------------------------------- operations


class Add(Expr):
    """A sum of two or more terms of one shape."""

    __slots__ = ()
    op = "add"


class ScalarMul(Expr):
    """``s * a`` for a scalar ``s``."""

    __slots__ = ()
    op = "smul"


class MatMul(Expr):
    """The matrix product ``a @ b`` (neither factor a scalar)."""

    __slots__ = ()
    op = "matmul"


class Transpose(Expr):
    """``a'``."""

    __slots__ = ()
    op = "transpose"


class Hadamard(Expr):
    """The element-wise product ``a .* b``."""

    __slots__ = ()
    op = "hadamard"


class ElemDiv(Expr):
    """The element-wise quotient ``a ./ b`` (``b`` may be a scalar)."""

    __slots__ = ()
    op = "ediv"


class Power(Expr):
    """The element-wise power ``a .^ p`` for a constant ``p``."""

    __slots__ = ("p",)
    op = "power"

    def __init__(self, a: Expr, p: float):
        self.p = float(p)
        super().__init__((a,), a.shape)

    def params(self) -> tuple[Any, ...]:
        """The exponent."""
        return (self.p,)


class Func(Expr):
    """An element-wise function such as ``exp(a)``."""

    __slots__ = ("name",)
    op = "func"

    def __init__(self, name: str, a: Expr):
        self.name = name
        super().__init__((a,), a.shape)

    def params(self) -> tuple[Any, ...]:
        """The function's name."""
        return (self.name,)


class Trace(Expr):
    """``tr(a)`` of a square matrix."""

    __slots__ = ()
    op = "trace"


class Det(Expr):
    """``det(a)`` of a square matrix."""

    __slots__ = ()
    op = "det"


class LogDet(Expr):
    """``log|det(a)|`` of a square matrix (``log(det(a))`` where det > 0)."""

    __slots__ = ()
    op = "logdet"


class Inv(Expr):
    """``inv(a)`` of a square matrix."""

    __slots__ = ()
    op = "inv"


class Sum(Expr):
    """The sum of all entries."""

    __slots__ = ()
    op = "sum"


class Norm2(Expr):
    """The Euclidean (Frobenius for matrices) norm."""

    __slots__ = ()
    op = "norm2"


class Diag(Expr):
    """``diag(v)`` (vector to diagonal matrix) or ``diag(M)`` (diagonal as vector)."""

    __slots__ = ()
    op = "diag"


class Norm1(Expr):
    """The sum of absolute values of the entries (the entry-wise 1-norm)."""

    __slots__ = ()
    op = "norm1"


class MatPower(Expr):
    """The matrix power ``a^k`` of a square matrix, for an integer ``k >= 2``."""

    __slots__ = ("k",)
    op = "mpower"

    def __init__(self, a: Expr, k: int):
        self.k = int(k)
        super().__init__((a,), a.shape)

    def params(self) -> tuple[Any, ...]:
        """The exponent."""
        return (self.k,)


class Kron(Expr):
    """The Kronecker product ``kron(a, b)`` (:func:`jaxmc.vec` conventions)."""

    __slots__ = ()
    op = "kron"


class Vec(Expr):
    """``vec(a)``: the entries of ``a`` stacked column by column, a column."""

    __slots__ = ()
    op = "vec"


class CommutationMatrix(Expr):
    """``commutation_matrix(m, n)``: the K with ``vec(X') = K vec(X)``, X (m, n)."""

    __slots__ = ("m", "n")
    op = "commutation"
    _shape_sensitive = True

    def __init__(self, m: Any, n: Any):
        self.m, self.n = m, n
        d = dim_mul(m, n)
        super().__init__((), (d, d))

    def params(self) -> tuple[Any, ...]:
        """The sizes (their classes)."""
        return tuple(
            id(d.root()) if isinstance(d, Dim) else d for d in (self.m, self.n)
        )


# ------------------------------------------------------ smart constructors


def _detail(a: Expr, b: Expr) -> str:
    return f"got {a.kind} `{a}` of shape {fmt_shape(a.shape)} and {b.kind} `{b}` of shape {fmt_shape(b.shape)}"  # noqa: E501


def zero(shape: tuple[Any, Any]) -> Expr:
    """The zero of a shape (the constant 0 for scalars)."""
    return Const(0.0) if is_scalar_shape(shape) else Zero((), shape)


def identity(d: Any) -> Expr:
    """The identity matrix of size ``d`` (the constant 1 for d = 1)."""
    return Const(1.0) if not isinstance(d, Dim) else Identity((), (d, d))


def broadcast(s: Expr, shape: tuple[Any, Any]) -> Expr:
    """The scalar ``s`` repeated over ``shape``."""
    if is_scalar_shape(shape):
        return s
    return Broadcast((s,), shape)


def add(a: Expr, b: Expr) -> Expr:
    """``a + b``; a scalar is broadcast against a vector or matrix."""
    if a.kind == "scalar" and b.kind != "scalar":
        a = broadcast(a, b.shape)
    elif b.kind == "scalar" and a.kind != "scalar":
        b = broadcast(b, a.shape)
    unify_pairs(
        "a sum",
        [(a.shape[0], b.shape[0]), (a.shape[1], b.shape[1])],
        "terms must have equal shapes; " + _detail(a, b),
    )
    terms = (a.args if isinstance(a, Add) else (a,)) + (
        b.args if isinstance(b, Add) else (b,)
    )
    return Add(terms, a.shape)


def add_many(terms: list[Expr], shape: tuple[Any, Any]) -> Expr:
    """The sum of ``terms`` (zero of ``shape`` when empty)."""
    if not terms:
        return zero(shape)
    out = terms[0]
    for t in terms[1:]:
        out = add(out, t)
    return out


def scale(s: Expr, a: Expr) -> Expr:
    """``s * a`` for a scalar ``s``."""
    if s.kind != "scalar":
        s, a = a, s
    return ScalarMul((s, a), a.shape)


def neg(a: Expr) -> Expr:
    """``-a``."""
    return scale(Const(-1.0), a)


def matmul(a: Expr, b: Expr) -> Expr:
    """The matrix product; a scalar factor scales."""
    if a.kind == "scalar" or b.kind == "scalar":
        return scale(a, b)
    unify_pairs(
        "a matrix product",
        [(a.shape[1], b.shape[0])],
        "the inner sizes must agree; " + _detail(a, b),
    )
    return MatMul((a, b), (a.shape[0], b.shape[1]))


def transpose(a: Expr) -> Expr:
    """``a'``."""
    if a.kind == "scalar":
        return a
    return Transpose((a,), (a.shape[1], a.shape[0]))


def hadamard(a: Expr, b: Expr) -> Expr:
    """The element-wise product; a scalar factor scales."""
    if a.kind == "scalar" or b.kind == "scalar":
        return scale(a, b)
    unify_pairs(
        "an element-wise product",
        [(a.shape[0], b.shape[0]), (a.shape[1], b.shape[1])],
        "operands must have equal shapes; " + _detail(a, b),
    )
    return Hadamard((a, b), a.shape)


def is_constant_zero(e: Expr) -> bool:
    """True when ``e`` is the constant 0 (or a zero vector or matrix)."""
    return isinstance(e, Zero) or (
        isinstance(e, Const | Broadcast)
        and (e.value == 0.0 if isinstance(e, Const) else is_constant_zero(e.args[0]))
    )


def ediv(a: Expr, b: Expr) -> Expr:
    """The element-wise quotient; a scalar divisor divides every entry."""
    if is_constant_zero(b):
        msg = f"{_FN}: division by the constant zero `{b}` in `({a})/({b})`."
        raise ZeroDivisionError_(msg)
    if b.kind == "scalar":
        return ElemDiv((a, b), a.shape)
    if a.kind == "scalar":
        a = broadcast(a, b.shape)
    unify_pairs(
        "an element-wise quotient",
        [(a.shape[0], b.shape[0]), (a.shape[1], b.shape[1])],
        "operands must have equal shapes; " + _detail(a, b),
    )
    return ElemDiv((a, b), a.shape)


def _number(p: Any, what: str) -> float:
    if isinstance(p, Const):
        return p.value
    if isinstance(p, int | float) and not isinstance(p, bool) and math.isfinite(p):
        return float(p)
    msg = (
        f"{_FN}: {what}: the exponent must be a constant number; "
        f"got {p if isinstance(p, Expr) else repr(p)}."
    )
    raise ValueError(msg)


def power(a: Expr, p: Any) -> Expr:
    """The element-wise power ``a .^ p`` for a constant ``p``."""
    q = _number(p, "an element-wise power")
    if q < 0 and is_constant_zero(a):
        msg = f"{_FN}: division by zero: the constant zero `{a}` to the power {q:g}."
        raise ZeroDivisionError_(msg)
    return Power(a, q)


def _square(what: str, a: Expr) -> None:
    if a.kind == "scalar":
        return
    unify_pairs(
        what,
        [(a.shape[0], a.shape[1])],
        f"needs a square matrix; got {a.kind} `{a}` of shape {fmt_shape(a.shape)}",
    )


def mpower(a: Expr, p: Any) -> Expr:
    """``a ^ p``: the power of a scalar, or an integer power of a square matrix."""
    if a.kind == "scalar":
        return power(a, p)
    q = _number(p, "a matrix power")
    if q != int(q) or a.kind != "matrix":
        msg = (
            f"{_FN}: a matrix power `^` needs a square matrix and an integer "
            f"exponent; got {a.kind} `{a}` and exponent {p}. Use `.^` for an "
            f"element-wise power."
        )
        raise ValueError(msg)
    _square("a matrix power", a)
    k = int(q)
    base = inv(a) if k < 0 else a
    if k == 0:
        return identity(a.shape[0])
    if builtins.abs(k) == 1:
        return base
    return MatPower(base, builtins.abs(k))


def func(name: str, a: Expr) -> Expr:
    """An element-wise function; ``log(det(X))`` becomes ``logdet(X)``."""
    if name not in ELEMENTWISE:
        msg = f"{_FN}: unknown element-wise function {name!r}; known: {ELEMENTWISE}."
        raise ValueError(msg)
    if name == "log" and isinstance(a, Det):
        return LogDet(a.args, (1, 1))
    return Func(name, a)


def tr(a: Expr) -> Expr:
    """The trace of a square matrix (a scalar is its own trace)."""
    _square("tr", a)
    if a.kind == "scalar":
        return a
    return Trace((a,), (1, 1))


def det(a: Expr) -> Expr:
    """The determinant of a square matrix."""
    _square("det", a)
    if a.kind == "scalar":
        return a
    return Det((a,), (1, 1))


def logdet(a: Expr) -> Expr:
    """``log|det(a)|`` of a square matrix."""
    _square("logdet", a)
    if a.kind == "scalar":
        return func("log", func("abs", a))
    return LogDet((a,), (1, 1))


def inv(a: Expr) -> Expr:
    """The inverse of a square matrix (``1/a`` for a scalar)."""
    _square("inv", a)
    if a.kind == "scalar":
        return power(a, -1)
    return Inv((a,), a.shape)


def sum_(a: Expr) -> Expr:
    """The sum of all entries."""
    if a.kind == "scalar":
        return a
    return Sum((a,), (1, 1))


def norm2(a: Expr) -> Expr:
    """The Euclidean norm (Frobenius norm of a matrix)."""
    return Norm2((a,), (1, 1))


def norm1(a: Expr) -> Expr:
    """The sum of the absolute values of the entries."""
    return Norm1((a,), (1, 1))


def kron(a: Expr, b: Expr) -> Expr:
    """The Kronecker product (a scalar factor scales)."""
    if is_scalar_shape(a.shape) or is_scalar_shape(b.shape):
        return ScalarMul(
            (a, b) if is_scalar_shape(a.shape) else (b, a),
            (b.shape if is_scalar_shape(a.shape) else a.shape),
        )
    return Kron(
        (a, b), (dim_mul(a.shape[0], b.shape[0]), dim_mul(a.shape[1], b.shape[1]))
    )


def vec(a: Expr) -> Expr:
    """``vec(a)``, column-major; a column vector is its own vec."""
    k = kind_of(a.shape)
    if k in ("scalar", "vector"):
        return a
    if k == "row":
        return Transpose((a,), (a.shape[1], a.shape[0]))
    return Vec((a,), (numel(a.shape), 1))


def diag(a: Expr) -> Expr:
    """``diag(v)``: the diagonal matrix of a vector; ``diag(M)``: M's diagonal."""
    if a.kind == "vector":
        return Diag((a,), (a.shape[0], a.shape[0]))
    if a.kind == "matrix":
        _square("diag", a)
        return Diag((a,), (a.shape[0], 1))
    msg = f"{_FN}: diag needs a vector or a square matrix; got {a.kind} `{a}`."
    raise ValueError(msg)
