"""Hessian spectrum analysis: curvature operators, eigenpairs, trace, density.

Operators are :class:`LinearOperator` objects: symmetric linear maps given by
their matvec on flat vectors (or on parameter pytrees).
:func:`hessian_operator` and :func:`ggn_operator` build them from a loss, its
parameters and a data set; :func:`eigenvalues` (thick-restart Lanczos) finds
extreme eigenpairs, :func:`trace` and :func:`diagonal` estimate the trace and
the diagonal from matvecs with random probes.
"""

from jaxmc.spectrum._eigen import EigenResult as EigenResult
from jaxmc.spectrum._eigen import eigenvalues as eigenvalues
from jaxmc.spectrum._eigen import power_iteration as power_iteration
from jaxmc.spectrum._hessian import ggn_operator as ggn_operator
from jaxmc.spectrum._hessian import hessian_operator as hessian_operator
from jaxmc.spectrum._operator import LinearOperator as LinearOperator
from jaxmc.spectrum._operator import matrix_operator as matrix_operator

__all__ = [
    "EigenResult",
    "LinearOperator",
    "eigenvalues",
    "ggn_operator",
    "hessian_operator",
    "matrix_operator",
    "power_iteration",
]
