"""The Identity record: one executable, verifiable matrix-calculus identity."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import itertools
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxmc import _checks, layout
from jaxmc.identities import _domains

__all__ = [
    "LAYOUTS",
    "Erratum",
    "Identity",
    "Input",
    "Param",
    "complete_dims",
    "dims_from_key",
    "shape_of",
]

# The layouts a closed form may be stated in (defined in jaxmc.layout).
LAYOUTS = layout.LAYOUTS

# Size symbols allowed in an input's shape string. ``M = m + n`` gives tall
# matrices (more rows than columns); ``T = n (n + 1) / 2`` is the length of vech
# of an n x n matrix.
_SYMBOLS = ("m", "n", "p", "q", "M", "T")


class Input(NamedTuple):
    """One input of an identity: its name, shape (in size symbols) and domain.

    ``shape`` is a space-separated string of size symbols ``m n p q M T``
    (``M = m + n``, ``T = n (n + 1) / 2``) or integers, ``""`` for a scalar:
    ``"n n"`` is a square matrix, ``"M n"`` a tall one, ``"2"`` a vector of
    length 2.
    """

    name: str
    shape: str
    domain: str = "any"


class Param(NamedTuple):
    """An integer parameter of an identity stated for every value, e.g. ``k``.

    ``tr(X^k)``, ``det(X^k)`` and ``a^T X^n b`` hold for every ``k`` (or ``n``)
    in a range; the record states the identity once, with the parameter in its
    LaTeX, and takes the parameter as a keyword argument of ``f`` and of the
    closed form (``f(X, k=3)``). :func:`~jaxmc.identities.verify` checks every
    value in ``values``; :meth:`Identity.bind` fixes one.

    Attributes:
      name: the parameter's name, a keyword argument of ``f`` and
        ``derivative`` (``"k"``).
      values: the values verified, e.g. ``(1, 2, 3, 5)``.
      where: the range the identity is stated for, in words (``"k >= 1"``).
    """

    name: str
    values: tuple[int, ...]
    where: str = ""


class Erratum(NamedTuple):
    """Where a source, as printed, is wrong, and the printed form to check it.

    The record that carries an erratum states the corrected form (verified like
    every other); ``printed_form`` is the formula as printed, a function of the
    same inputs (and parameters), which the tests check disagrees with autodiff
    on the record's domain.

    Attributes:
      where: the equation, e.g. ``"Matrix Cookbook eq. 92"``.
      printed: the formula as printed (as taken, where editions differ).
      correction: what is wrong and what the corrected form changes.
      printed_form: the printed formula as a JAX function of the record's
        inputs.
    """

    where: str
    printed: str
    correction: str
    printed_form: Callable[..., Any]


def dims_from_key(key: jax.Array, max_size: int = 4) -> dict[str, int]:
    """Draws m, n, p, q uniformly in [2, max_size]; M = m + n, T = n (n + 1) / 2."""
    m, n, p, q = (
        int(v) for v in jax.random.randint(key, (4,), 2, max_size + 1).tolist()
    )
    return {"m": m, "n": n, "p": p, "q": q, "M": m + n, "T": n * (n + 1) // 2}


def complete_dims(dims: dict[str, int], fn: str = "jaxmc.identities") -> dict[str, int]:
    """Fills the derived sizes ``M = m + n`` and ``T = n (n + 1) / 2`` if absent.

    Raises TypeError unless ``dims`` is a dict of ints (bools are not sizes), and
    ValueError for missing or unknown symbols and sizes below 1 (every sampler
    needs at least one row and column).
    """
    if not isinstance(dims, Mapping):
        msg = (
            f"{fn}: argument `dims` must be a dict of sizes such as "
            f"{{'m': 3, 'n': 2, 'p': 2, 'q': 2}}; got {type(dims).__name__} "
            f"{dims!r:.60}."
        )
        raise TypeError(msg)
    base = [s for s in ("m", "n", "p", "q") if s not in dims]
    if base:
        msg = (
            f"{fn}: `dims` must give the sizes m, n, p, q; missing {base} in {dims!r}."
        )
        raise ValueError(msg)
    unknown = [s for s in dims if s not in _SYMBOLS]
    if unknown:
        msg = (
            f"{fn}: `dims` has unknown size symbols {unknown}; the symbols are "
            f"{', '.join(_SYMBOLS)}."
        )
        raise ValueError(msg)
    dims = {
        s: _checks.static_int(fn, f"dims[{s!r}]", d, minimum=1) for s, d in dims.items()
    }
    out = dict(dims)
    out.setdefault("M", out["m"] + out["n"])
    out.setdefault("T", out["n"] * (out["n"] + 1) // 2)
    return out


def shape_of(spec: str, dims: dict[str, int]) -> tuple[int, ...]:
    """The concrete shape of a shape string ``spec`` for the sizes ``dims``."""
    dims = complete_dims(dims)
    return tuple(int(t) if t.isdigit() else dims[t] for t in spec.split())


_DTYPES = ("float32", "float64")


def check_dtype(fn: str, dtype: Any) -> jnp.dtype:
    """``dtype`` (None: JAX's default float) as float32 or float64, or raises."""
    if dtype is None:
        return jnp.dtype(jnp.result_type(float))
    try:
        dt = jnp.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.name not in _DTYPES:
        given = dt.name if dt is not None else repr(dtype)
        msg = f"{fn}: argument `dtype` must be float32 or float64; got {given}."
        if dt is not None and dt.name in ("float16", "bfloat16"):
            msg += (
                " 16-bit floats are not supported here: identities invert and "
                "factor matrices (LAPACK has no 16-bit kernels) and 16-bit "
                "rounding would swamp the comparison; verify in float32."
            )
        raise ValueError(msg)
    if dt == jnp.float64 and not jax.config.jax_enable_x64:
        msg = (
            f"{fn}: dtype float64 needs 64-bit mode; call "
            f"jax.config.update('jax_enable_x64', True) first, or pass "
            f"dtype=jnp.float32."
        )
        raise ValueError(msg)
    return dt


def _jit(fn: Callable, static: tuple[str, ...] = ()) -> Callable:
    """jax.jit (parameters static), unless ``fn`` is already jit-compiled."""
    return fn if hasattr(fn, "lower") else jax.jit(fn, static_argnames=static)


def _accepts_keyword(fn: Callable, name: str) -> bool:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return True
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return any(
        (p.name == name and p.kind in kinds) or p.kind == p.VAR_KEYWORD
        for p in sig.parameters.values()
    )


@dataclasses.dataclass(frozen=True, eq=False)
class Identity:
    r"""One matrix-calculus identity, as executable and verifiable JAX code.

    The identity says: the derivative of ``f(*inputs)`` with respect to the input
    named ``wrt`` (order 1), or of its gradient (order 2, the Hessian), equals
    ``derivative(*inputs)`` in the stated ``layout``, for all inputs drawn from
    their domains. An algebraic identity (order 0, e.g. the Kronecker spectrum
    ``eig(A kron B) = {a_i b_j}``) says ``f(*inputs) = derivative(*inputs)``.

    An identity stated for every value of an integer parameter (``tr(X^k)``
    for every ``k >= 1``) lists it in ``params``; ``f`` and ``derivative``
    then take it as a keyword (``f(X, k=3)``), :meth:`bind` fixes it, and
    :func:`~jaxmc.identities.verify` checks every listed value.

    Attributes:
      name: stable dotted name, ``"<kind>.<expression>"``, e.g. ``"trace.AX"``.
      family: the family it belongs to (``"trace"``, ``"nn"``, ...).
      expression: LaTeX of the expression ``f``.
      derivative_latex: LaTeX of the closed-form derivative.
      wrt: name of the input differentiated.
      layout: layout of the closed form: ``"mixed"``, ``"numerator"``,
        ``"denominator"``, ``"vec"`` or ``"jax"``.
      f: the expression as a JAX function of the inputs, positionally.
      derivative: the closed form, a jit-compiled function of the same inputs.
      inputs: the inputs, as :class:`Input` records (name, shape, domain).
      domain: where the identity holds, in words (``"X invertible"``).
      source: where it comes from (seed notes, Matrix Cookbook, Magnus &
        Neudecker).
      note: a caveat, e.g. where the Cookbook's form is convention-dependent.
      order: 1 for a first derivative, 2 for a Hessian (the derivative of the
        gradient), 0 for an algebraic identity (``f`` equals the closed form).
      params: the integer parameters the identity is stated for, as
        :class:`Param` records (empty for most identities).
      erratum: where the source as printed is wrong, as an :class:`Erratum`
        (None for most identities); the record states the corrected form.
    """

    name: str
    family: str
    expression: str
    derivative_latex: str
    wrt: str
    layout: str
    f: Callable[..., Any]
    derivative: Callable[..., Any]
    inputs: tuple[Input, ...]
    domain: str = "any"
    source: str = ""
    note: str = ""
    order: int = 1
    params: tuple[Param, ...] = ()
    erratum: Erratum | None = None

    def __post_init__(self) -> None:
        fn = "jaxmc.identities.Identity"
        names = [i.name for i in self.inputs]
        if self.wrt not in names:
            msg = (
                f"{fn}: `wrt` must name one of the inputs {names}; got "
                f"{self.wrt!r} (identity {self.name!r})."
            )
            raise ValueError(msg)
        _checks.check_one_of(fn, "layout", self.layout, LAYOUTS)
        _checks.check_one_of(fn, "order", self.order, (0, 1, 2))
        for inp in self.inputs:
            _checks.check_one_of(fn, "domain", inp.domain, tuple(_domains.DOMAINS))
            bad = [t for t in inp.shape.split() if not (t.isdigit() or t in _SYMBOLS)]
            if bad:
                msg = (
                    f"{fn}: shape of input {inp.name!r} uses unknown size symbols "
                    f"{bad}; use {_SYMBOLS} or integers."
                )
                raise ValueError(msg)
        _checks.check_callable(fn, "f", self.f)
        _checks.check_callable(fn, "derivative", self.derivative)
        object.__setattr__(self, "params", tuple(self.params))
        for par in self.params:
            values = tuple(par.values) if isinstance(par, Param) else ()
            if not values or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in values
            ):
                msg = (
                    f"{fn}: `params` must be Param records with a non-empty tuple "
                    f"of int values; got {par!r} (identity {self.name!r})."
                )
                raise ValueError(msg)
            for what in ("f", "derivative"):
                if not _accepts_keyword(getattr(self, what), par.name):
                    msg = (
                        f"{fn}: `{what}` must take the parameter {par.name!r} as "
                        f"a keyword argument (identity {self.name!r})."
                    )
                    raise ValueError(msg)
        if self.erratum is not None and not isinstance(self.erratum, Erratum):
            msg = (
                f"{fn}: `erratum` must be an Erratum or None; got "
                f"{type(self.erratum).__name__} (identity {self.name!r})."
            )
            raise TypeError(msg)
        static = tuple(p.name for p in self.params)
        object.__setattr__(self, "derivative", _jit(self.derivative, static))

    @property
    def argnum(self) -> int:
        """Position of the differentiated input among the inputs."""
        return [i.name for i in self.inputs].index(self.wrt)

    @property
    def formula(self) -> str:
        """A one-line plain statement: ``d/dX expression = derivative``."""
        if self.order == 0:
            text = f"{self.expression} = {self.derivative_latex}"
        else:
            d = "d^2" if self.order == 2 else "d"
            text = f"{d}/d{self.wrt} [{self.expression}] = {self.derivative_latex}"
        where = ", ".join(p.where or f"{p.name} in {p.values}" for p in self.params)
        return f"{text}  (for {where})" if where else text

    def bind(self, **values: int) -> Identity:
        """The identity at fixed parameter values, e.g. ``bind(k=3)``.

        Args:
          **values: one int per parameter in ``params``.

        Returns:
          An :class:`Identity` without parameters, named ``"<name>[k=3]"``,
          whose ``f`` and ``derivative`` have the values filled in.

        Raises:
          ValueError: if the names differ from the record's parameters or a
            value is not an int.
        """
        fn = "jaxmc.identities.Identity.bind"
        names = [p.name for p in self.params]
        if sorted(values) != sorted(names) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in values.values()
        ):
            msg = (
                f"{fn}: identity {self.name!r} takes one int for each of the "
                f"parameters {names}; got {values!r}."
            )
            raise ValueError(msg)
        closed = getattr(self.derivative, "__wrapped__", self.derivative)
        text = ", ".join(f"{k}={v}" for k, v in values.items())
        latex = ",\\ ".join(f"{k} = {v}" for k, v in values.items())
        return dataclasses.replace(
            self,
            name=f"{self.name}[{text}]",
            expression=f"{self.expression},\\ {latex}",
            f=functools.partial(self.f, **values),
            derivative=functools.partial(closed, **values),
            params=(),
            erratum=None,
        )

    def instances(self) -> tuple[Identity, ...]:
        """The record bound at every combination of its parameters' values.

        Returns:
          A tuple of parameter-free :class:`Identity` records (the record itself,
          alone, when it has no parameters).
        """
        if not self.params:
            return (self,)
        names = [p.name for p in self.params]
        combos = itertools.product(*(p.values for p in self.params))
        return tuple(self.bind(**dict(zip(names, c, strict=True))) for c in combos)

    def shapes(self, dims: dict[str, int]) -> tuple[tuple[int, ...], ...]:
        """The concrete shapes of the inputs for the sizes ``dims``."""
        return tuple(shape_of(i.shape, dims) for i in self.inputs)

    def sample(
        self, key: jax.Array, dims: dict[str, int] | None = None, *, dtype: Any = None
    ) -> tuple[jax.Array, ...]:
        """Draws one set of valid inputs (each in its domain) from ``key``.

        Args:
          key: a PRNG key.
          dims: the sizes ``{"m", "n", "p", "q"}``, ints >= 1 (``M = m + n``
            and ``T = n (n + 1) / 2`` unless given); drawn from ``key`` in
            [2, 4] when None (so sizes are random too).
          dtype: ``float32`` or ``float64`` (default: JAX's default float).

        Returns:
          A tuple of arrays, one per input, in order.

        Raises:
          TypeError: if ``key`` is not a PRNG key or ``dims`` is not a dict of
            ints. ValueError: for missing or unknown size symbols, sizes below
            1, or a dtype other than float32/float64.
        """
        fn = "jaxmc.identities.Identity.sample"
        key = _checks.check_key(fn, "key", key)
        dtype = check_dtype(fn, dtype)
        kd, key = jax.random.split(key)
        dims = dims_from_key(kd) if dims is None else complete_dims(dims, fn)
        keys = jax.random.split(key, len(self.inputs))
        return tuple(
            _domains.sample(inp.domain, k, shape, dtype)
            for inp, k, shape in zip(self.inputs, keys, self.shapes(dims), strict=True)
        )

    def __repr__(self) -> str:
        return (
            f"Identity({self.name!r}, family={self.family!r}, "
            f"layout={self.layout!r}, domain={self.domain!r}: {self.formula})"
        )
