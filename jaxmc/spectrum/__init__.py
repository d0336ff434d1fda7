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
from jaxmc.spectrum._trace import DiagonalEstimate as DiagonalEstimate
from jaxmc.spectrum._trace import TraceEstimate as TraceEstimate
from jaxmc.spectrum._trace import diagonal as diagonal
from jaxmc.spectrum._trace import trace as trace

__all__ = [
    "DiagonalEstimate",
    "EigenResult",
    "LinearOperator",
    "TraceEstimate",
    "diagonal",
    "eigenvalues",
    "ggn_operator",
    "hessian_operator",
    "matrix_operator",
    "power_iteration",
    "trace",
]
