"""Hessian spectrum analysis: curvature operators, eigenpairs, trace, density.

Operators are :class:`LinearOperator` objects: symmetric linear maps given by
their matvec on flat vectors (or on parameter pytrees).
"""

from jaxmc.spectrum._density import KPMDensity as KPMDensity
from jaxmc.spectrum._density import SpectralDensity as SpectralDensity
from jaxmc.spectrum._density import kpm_density as kpm_density
from jaxmc.spectrum._density import spectral_density as spectral_density
from jaxmc.spectrum._input import input_hessian_operator as input_hessian_operator
from jaxmc.spectrum._layers import LayerSpectra as LayerSpectra
from jaxmc.spectrum._layers import LayerSpectrum as LayerSpectrum
from jaxmc.spectrum._layers import layer_spectra as layer_spectra
from jaxmc.spectrum._operator import LinearOperator as LinearOperator
from jaxmc.spectrum._operator import matrix_operator as matrix_operator
from jaxmc.spectrum._plot import plot_density as plot_density
from jaxmc.spectrum._plot import plot_eigenvalues as plot_eigenvalues
from jaxmc.spectrum._plot import plot_layer_spectra as plot_layer_spectra

__all__ = [
    "LinearOperator",
    "matrix_operator",
    # spectral densities (SLQ, KPM), outliers and bulk, per-layer, input Hessian
    "KPMDensity",
    "LayerSpectra",
    "LayerSpectrum",
    "input_hessian_operator",
    "kpm_density",
    "layer_spectra",
    "spectral_density",
    # figures (matplotlib, the `plot` extra)
    "plot_density",
    "plot_eigenvalues",
    "plot_layer_spectra",
]
