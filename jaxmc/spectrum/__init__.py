"""Hessian spectrum analysis: curvature operators, eigenpairs, trace, density.

Operators are :class:`LinearOperator` objects: symmetric linear maps given by
their matvec on flat vectors (or on parameter pytrees).
:func:`hessian_operator` and :func:`ggn_operator` build them from a loss, its
parameters and a data set; :func:`eigenvalues` (thick-restart Lanczos) finds
extreme eigenpairs, :func:`trace` and :func:`diagonal` estimate the trace and
the diagonal from matvecs with random probes. :func:`spectral_density` (SLQ)
and :func:`kpm_density` estimate the eigenvalue density, :func:`layer_spectra`
the spectrum of each parameter block; the ``plot_*`` functions draw them.
"""

from jaxmc.spectrum._density import KPMDensity as KPMDensity
from jaxmc.spectrum._density import SpectralDensity as SpectralDensity
from jaxmc.spectrum._density import kpm_density as kpm_density
from jaxmc.spectrum._density import spectral_density as spectral_density
from jaxmc.spectrum._eigen import REASONS as REASONS
from jaxmc.spectrum._eigen import EigenResult as EigenResult
from jaxmc.spectrum._eigen import eigenvalues as eigenvalues
from jaxmc.spectrum._eigen import power_iteration as power_iteration
from jaxmc.spectrum._hessian import ggn_operator as ggn_operator
from jaxmc.spectrum._hessian import hessian_operator as hessian_operator
from jaxmc.spectrum._input import input_hessian_operator as input_hessian_operator
from jaxmc.spectrum._layers import LayerSpectra as LayerSpectra
from jaxmc.spectrum._layers import LayerSpectrum as LayerSpectrum
from jaxmc.spectrum._layers import layer_spectra as layer_spectra
from jaxmc.spectrum._operator import LinearOperator as LinearOperator
from jaxmc.spectrum._operator import matrix_operator as matrix_operator
from jaxmc.spectrum._plot import plot_density as plot_density
from jaxmc.spectrum._plot import plot_eigenvalues as plot_eigenvalues
from jaxmc.spectrum._plot import plot_layer_spectra as plot_layer_spectra
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
