"""A LaTeX table of identities, to paste into notes."""

from __future__ import annotations

from collections.abc import Iterable

from jaxmc.identities import _catalog
from jaxmc.identities._record import Identity

__all__ = ["latex_table"]


def _tt(s: str) -> str:
    return r"\texttt{" + s.replace("_", r"\_") + "}"


def latex_table(identities: Iterable[Identity] | None = None) -> str:
    r"""Returns a LaTeX ``tabular`` (booktabs) of identities.

    One row per identity: name, expression, variable, derivative and layout;
    one ``\midrule`` between families.

    Args:
      identities: the identities to list (default: the whole catalog).

    Returns:
      The LaTeX source as a string (needs ``booktabs`` and ``amsmath``).

    Example:
      >>> from jaxmc import identities
      >>> tex = identities.latex_table([identities.get("trace.AX")])
      >>> print(tex.splitlines()[4])
      \texttt{trace.AX} & $\mathrm{tr}(A X)$ & $X$ & $A^T$ & mixed \\
    """
    items = _catalog.catalog() if identities is None else tuple(identities)
    lines = [
        r"\begin{tabular}{lllll}",
        r"\toprule",
        r"Name & Expression & w.r.t. & Derivative & Layout \\",
        r"\midrule",
    ]
    family = None
    for ident in items:
        if family is not None and ident.family != family:
            lines.append(r"\midrule")
        family = ident.family
        wrt = ident.wrt if ident.order == 1 else f"{ident.wrt}\\ (\\text{{Hessian}})"
        if ident.order == 0:  # an algebraic identity: nothing is differentiated
            wrt = r"\text{--}"
        lines.append(
            f"{_tt(ident.name)} & ${ident.expression}$ & ${wrt}$ & "
            f"${ident.derivative_latex}$ & {ident.layout} \\\\"
        )
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines)
