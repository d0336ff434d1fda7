"""Hessian spectrum analysis: curvature operators, eigenpairs, trace, density.

Operators are :class:`LinearOperator` objects: symmetric linear maps given by
their matvec on flat vectors (or on parameter pytrees).
"""

from jaxmc.spectrum._density import KPMDensity as KPMDensity
from jaxmc.spectrum._density import SpectralDensity as SpectralDensity
from jaxmc.spectrum._density import kpm_density as kpm_density
from jaxmc.spectrum._density import spectral_density as spectral_density
from jaxmc.spectrum._operator import LinearOperator as LinearOperator
from jaxmc.spectrum._operator import matrix_operator as matrix_operator

__all__ = [
    "LinearOperator",
    "matrix_operator",
    # spectral densities (SLQ, KPM), outliers and bulk
    "KPMDensity",
    "SpectralDensity",
    "kpm_density",
    "spectral_density",
]
