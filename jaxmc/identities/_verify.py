"""Checking closed forms against JAX autodiff on random draws."""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Iterable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmc import _checks, layout
from jaxmc.identities import _catalog
from jaxmc.identities._record import Identity, check_dtype, dims_from_key

__all__ = ["DEFAULT_RTOL", "VerifyRow", "VerifyTable", "verify"]

# Default pass threshold on the max relative error, per dtype. float32 leaves
# room for the inverses, determinants, eigen- and exp-derivatives of matrices of
# condition number up to 4 (observed float32 errors stay below 1e-5; float64
# ones below 1e-13).
DEFAULT_RTOL = {jnp.dtype("float64"): 1e-8, jnp.dtype("float32"): 1e-4}


class VerifyRow(NamedTuple):
    """One identity's verification result.

    Attributes:
      name: the identity's name.
      family: its family.
      max_rel_error: the largest relative error over the trials,
        ``max|closed - autodiff| / max|autodiff|`` (NaN if anything was NaN,
        inf if the closed form has the wrong shape).
      passed: ``max_rel_error <= rtol``.
      trials: the number of random draws.
    """

    name: str
    family: str
    max_rel_error: float
    passed: bool
    trials: int


@dataclasses.dataclass(frozen=True)
class VerifyTable:
    """The per-identity results of :func:`verify`, printable as a table.

    Attributes:
      rows: one :class:`VerifyRow` per identity, in catalog order.
      dtype: the dtype the draws were made in.
      rtol: the pass threshold on the max relative error.
    """

    rows: tuple[VerifyRow, ...]
    dtype: str
    rtol: float

    @property
    def all_passed(self) -> bool:
        """True when every identity passed."""
        return all(r.passed for r in self.rows)

    @property
    def failed(self) -> tuple[VerifyRow, ...]:
        """The rows that failed."""
        return tuple(r for r in self.rows if not r.passed)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, item: int | str) -> VerifyRow:
        if isinstance(item, str):
            for r in self.rows:
                if r.name == item:
                    return r
            raise KeyError(item)
        return self.rows[item]

    def __str__(self) -> str:
        width = max([len(r.name) for r in self.rows] + [8])
        fwidth = max([len(r.family) for r in self.rows] + [6])
        lines = [
            f"{'identity':<{width}}  {'family':<{fwidth}}  {'max rel err':>11}  result",
        ]
        for r in self.rows:
            lines.append(
                f"{r.name:<{width}}  {r.family:<{fwidth}}  "
                f"{r.max_rel_error:>11.2e}  {'ok' if r.passed else 'FAIL'}"
            )
        n_ok = sum(r.passed for r in self.rows)
        lines.append(
            f"{n_ok}/{len(self.rows)} passed ({self.dtype}, max relative error "
            f"<= {self.rtol:.0e})"
        )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"VerifyTable({len(self.rows)} identities, {self.dtype}, "
            f"rtol={self.rtol:.0e}, all_passed={self.all_passed})"
        )


def _autodiff(ident: Identity, args: tuple) -> jax.Array:
    """The derivative by JAX autodiff, in the identity's layout (one draw).

    Goes through :mod:`jaxmc.layout`: ``jaxmc.jacobian(f, layout=...)`` for
    first derivatives, the Jacobian of ``jaxmc.gradient(f)`` for Hessians.
    """
    k = ident.argnum
    f = ident.f
    if ident.order == 0:  # an algebraic identity: the value of f itself
        return jnp.asarray(f(*args))
    if ident.order == 2:
        f = layout.gradient(ident.f, k, layout="mixed")
    return layout.jacobian(f, k, layout=ident.layout)(*args)


def _closed_form(ident: Identity):
    """The closed form as written (the record keeps it jit-compiled)."""
    return getattr(ident.derivative, "__wrapped__", ident.derivative)


def _group_errors(ident: Identity, keys: jax.Array, dims: dict, dtype) -> np.ndarray:
    """Relative errors of one batch of draws of the same sizes (vmapped, eager).

    Runs op by op rather than as one jitted program per identity: the compiled
    kernels (per primitive, shape and dtype) are then shared by every identity
    that uses the same sizes, which makes a whole-catalog run several times
    cheaper to compile. Returns inf for draws whose closed form has the wrong
    shape or cannot be evaluated.
    """
    args = jax.vmap(lambda k: ident.sample(k, dims, dtype=dtype))(keys)
    auto = jax.vmap(lambda *a: _autodiff(ident, a))(*args)
    try:
        closed = jnp.asarray(jax.vmap(_closed_form(ident))(*args))
    except (TypeError, ValueError):
        return np.full(keys.shape[0], np.inf)
    if closed.shape != auto.shape:
        return np.full(keys.shape[0], np.inf)
    auto = np.asarray(auto).reshape(auto.shape[0], -1)
    closed = np.asarray(closed).reshape(closed.shape[0], -1)
    diff = np.max(np.abs(closed - auto), axis=1, initial=0.0)
    scale = np.max(np.abs(auto), axis=1, initial=0.0)
    return diff / np.maximum(scale, jnp.finfo(auto.dtype).tiny)


def _resolve(identity: Any) -> tuple[Identity, ...]:
    fn = "jaxmc.identities.verify"
    if identity is None:
        return _catalog.catalog()
    if isinstance(identity, Identity):
        return (identity,)
    if isinstance(identity, str):
        return (_catalog.get(identity),)
    if isinstance(identity, Iterable):
        out = []
        for item in identity:
            out.extend(_resolve(item))
        return tuple(out)
    msg = (
        f"{fn}: argument `identity` must be None, a name, an Identity or a "
        f"sequence of them; got {type(identity).__name__}."
    )
    raise TypeError(msg)


def verify(
    identity: str | Identity | Iterable[str | Identity] | None = None,
    *,
    key: jax.Array,
    trials: int = 4,
    dtype: Any = None,
    rtol: float | None = None,
    max_size: int = 4,
    sizes: int = 2,
) -> VerifyTable:
    r"""Checks closed-form derivatives against JAX autodiff on random draws.

    For each identity, draws ``trials`` random inputs from its domain samplers,
    at ``sizes`` different random sizes (``m, n, p, q`` in ``[2, max_size]``),
    computes the derivative of ``f`` with respect to ``wrt`` by autodiff in the
    identity's stated layout, through the layout module
    (``jaxmc.jacobian(f, layout=identity.layout)``; for order 2 the Jacobian of
    ``jaxmc.gradient(f)``), compares it with the closed form, and records the
    max relative error
    ``max|closed - autodiff| / max|autodiff|``. An identity with parameters
    (``tr(X^k)`` for every ``k``) is checked at every listed value, on the same
    draws, and its row gives the largest error over them; an algebraic identity
    (order 0) compares the value of ``f`` with the closed form. Draws of one
    size are vmapped
    and run op by op, so compiled kernels are shared across identities and
    trials of the same sizes (every identity in one call uses the same sizes).

    The sizes depend only on ``key``, each identity's draws on ``key`` and its
    name, so verifying a subset reproduces the same draws.

    Args:
      identity: what to verify: None (the whole catalog), a name, an
        :class:`~jaxmc.identities.Identity` (also one not in the catalog, e.g. a
        modified record), or a sequence of these.
      key: a PRNG key.
      trials: random draws per identity (>= 1).
      dtype: ``float64`` or ``float32`` (default: JAX's default float dtype).
        float64 needs ``jax_enable_x64``.
      rtol: pass threshold on the max relative error; default
        :data:`DEFAULT_RTOL` (1e-8 for float64, 1e-4 for float32).
      max_size: the largest size drawn (>= 2).
      sizes: how many different random sizes the trials are spread over (>= 1).

    Returns:
      A :class:`VerifyTable` with one :class:`VerifyRow` (name, family,
      max_rel_error, passed, trials) per identity; ``all_passed`` says whether
      every one passed, ``str()`` prints the table.

    Raises:
      TypeError: if ``key`` is not a PRNG key, ``identity`` has a wrong type,
        ``rtol`` is not a real number, or a count is not an int (bools are not
        counts).
      ValueError: for an unknown name, an empty selection, a dtype other than
        float32/float64, float64 without x64, a negative or non-finite
        ``rtol``, or non-positive ``trials``/``sizes``/``max_size < 2``.

    Example:
      >>> import jax
      >>> from jaxmc import identities
      >>> table = identities.verify(
      ...     ["trace.AX", "logdet.X"], key=jax.random.key(0), trials=2
      ... )
      >>> table.all_passed, [r.name for r in table]
      (True, ['trace.AX', 'logdet.X'])
    """
    fn = "jaxmc.identities.verify"
    key = _checks.check_key(fn, "key", key)
    trials = _checks.static_int(fn, "trials", trials, minimum=1)
    sizes = _checks.static_int(fn, "sizes", sizes, minimum=1)
    max_size = _checks.static_int(fn, "max_size", max_size, minimum=2)
    dtype = check_dtype(fn, dtype)
    tol = (
        DEFAULT_RTOL[dtype]
        if rtol is None
        else _checks.check_number(fn, "rtol", rtol, minimum=0.0)
    )
    idents = _resolve(identity)
    if not idents:
        msg = (
            f"{fn}: argument `identity` selects no identity (got "
            f"{identity!r:.60}); pass None for the whole catalog, or names such "
            f"as 'trace.AX' (identities.catalog() lists them)."
        )
        raise ValueError(msg)
    groups = min(sizes, trials)
    counts = [trials // groups + (g < trials % groups) for g in range(groups)]
    size_key, draw_key = jax.random.split(key)
    all_dims = [dims_from_key(k, max_size) for k in jax.random.split(size_key, groups)]
    rows = []
    for ident in idents:
        k = jax.random.fold_in(draw_key, zlib.crc32(ident.name.encode()))
        errs = [
            _group_errors(
                bound, jax.random.split(jax.random.fold_in(k, g), count), dims, dtype
            )
            for bound in ident.instances()
            for g, (dims, count) in enumerate(zip(all_dims, counts, strict=True))
        ]
        err = float(np.max(np.concatenate(errs)))
        rows.append(VerifyRow(ident.name, ident.family, err, bool(err <= tol), trials))
    return VerifyTable(tuple(rows), str(dtype), tol)
