"""The catalog: every identity, in a stable order, and lookup by name."""

from __future__ import annotations

import difflib
import functools

from jaxmc.identities import _advanced, _cookbook, _matrix, _nn, _powers, _vector
from jaxmc.identities._record import Identity

__all__ = ["catalog", "errata", "families", "get"]


@functools.cache
def _all() -> tuple[Identity, ...]:
    items = (
        _vector.identities()
        + _matrix.identities()
        + _nn.identities()
        + _advanced.identities()
        + _powers.identities()
        + _cookbook.identities()
    )
    # Keep each family contiguous, in order of first appearance (a stable sort:
    # the later modules add to families the earlier ones opened).
    rank = {fam: r for r, fam in enumerate(dict.fromkeys(i.family for i in items))}
    items = tuple(sorted(items, key=lambda i: rank[i.family]))
    names = [i.name for i in items]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:  # pragma: no cover - guarded by the tests
        msg = f"jaxmc.identities: duplicate identity names {dupes}."
        raise RuntimeError(msg)
    return items


def families() -> tuple[str, ...]:
    """The identity families, in catalog order.

    Returns:
      A tuple of family names such as ``("vector", "jacobian", "trace", ...)``.

    Example:
      >>> from jaxmc import identities
      >>> identities.families()[:3]
      ('vector', 'jacobian', 'trace')
    """
    return tuple(dict.fromkeys(i.family for i in _all()))


def catalog(family: str | None = None) -> tuple[Identity, ...]:
    """Returns every identity of the catalog (or of one family), in a stable order.

    Args:
      family: keep only this family (see :func:`families`); all when None.

    Returns:
      A tuple of :class:`~jaxmc.identities.Identity` records, in the order the
      families and their identities are defined (stable across calls).

    Raises:
      ValueError: if ``family`` is not a known family.

    Example:
      >>> from jaxmc import identities
      >>> len(identities.catalog()) >= 80
      True
      >>> identities.catalog("trace")[1].name
      'trace.AX'
    """
    items = _all()
    if family is None:
        return items
    known = families()
    if family not in known:
        msg = (
            f"jaxmc.identities.catalog: argument `family` must be one of "
            f"{', '.join(known)}; got {family!r}."
        )
        raise ValueError(msg)
    return tuple(i for i in items if i.family == family)


def get(name: str) -> Identity:
    """Returns the identity with the given stable name.

    Args:
      name: the identity's name, e.g. ``"trace.AX"`` or ``"logdet.X"``.

    Returns:
      The :class:`~jaxmc.identities.Identity` record.

    Raises:
      TypeError: if ``name`` is not a string.
      ValueError: if no identity has that name; the message lists close names.

    Example:
      >>> from jaxmc import identities
      >>> identities.get("quadratic.xTAx").derivative_latex
      '(A + A^T) x'
    """
    fn = "jaxmc.identities.get"
    if not isinstance(name, str):
        msg = f"{fn}: argument `name` must be a str; got {type(name).__name__}."
        raise TypeError(msg)
    by_name = {i.name: i for i in _all()}
    if name in by_name:
        return by_name[name]
    close = difflib.get_close_matches(name, list(by_name), n=6, cutoff=0.6)
    prefix = name.split(".")[0] + "."
    close += [n for n in by_name if n.startswith(prefix) and n not in close][:6]
    hint = (
        f" Close names: {', '.join(close)}."
        if close
        else " See jaxmc.identities.catalog() for all names."
    )
    msg = f"{fn}: no identity named {name!r}.{hint}"
    raise ValueError(msg)


def errata() -> tuple[Identity, ...]:
    """The identities that record an erratum in their source, in catalog order.

    Each states the corrected form (verified like every identity) and carries
    an :class:`~jaxmc.identities.Erratum`: where the source is wrong, the
    formula as printed, what the correction changes, and the printed formula as
    a function, which disagrees with autodiff on the record's domain.

    Returns:
      A tuple of :class:`~jaxmc.identities.Identity` records with ``erratum``
      set.

    Example:
      >>> from jaxmc import identities
      >>> [i.erratum.where for i in identities.errata()]
      ['Matrix Cookbook eq. 94', 'Matrix Cookbook eq. 92', 'Matrix Cookbook eq. 127']
    """
    return tuple(i for i in _all() if i.erratum is not None)
