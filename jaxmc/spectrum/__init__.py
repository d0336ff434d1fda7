"""Hessian spectrum analysis: curvature operators, eigenpairs, trace, density.

Operators are :class:`LinearOperator` objects: symmetric linear maps given by
their matvec on flat vectors (or on parameter pytrees).
"""

from jaxmc.spectrum._operator import LinearOperator as LinearOperator
from jaxmc.spectrum._operator import matrix_operator as matrix_operator

__all__ = ["LinearOperator", "matrix_operator"]
