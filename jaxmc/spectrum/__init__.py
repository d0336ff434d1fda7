"""Hessian spectrum analysis: curvature operators, eigenpairs, trace, density.

Operators are :class:`LinearOperator` objects: symmetric linear maps given by
their matvec on flat vectors (or on parameter pytrees).
:func:`hessian_operator` and :func:`ggn_operator` build them from a loss, its
parameters and a data set; :func:`eigenvalues` (thick-restart Lanczos) finds
extreme eigenpairs, :func:`trace` and :func:`diagonal` estimate the trace and
the diagonal from matvecs with random probes. :func:`spectral_density` (SLQ)
and :func:`kpm_density` estimate the eigenvalue density, :func:`layer_spectra`
the spectrum of each parameter block; the ``plot_*`` functions draw them.
Every result has ``to_dict()`` and ``save(path)``; :func:`load` reads it back.

Curvature matrices of deep learning: :func:`fisher_operator` (exact or
Monte-Carlo), :func:`empirical_fisher_operator`, :func:`kfac_operator` (with its exact
spectrum, inverse and log-determinant) and :func:`jacobian_operator`.
Operators add, scale, damp (``op.damped(lam)``) and split into blocks
(``op.block(rows, cols)``); :func:`inverse` solves by conjugate gradients,
:func:`logdet` estimates log-determinants by SLQ, and
:func:`gradient_subspace_fraction` measures the gradient in the top
eigenspace.
"""

from jaxmc.spectrum._algebra import RectangularOperator as RectangularOperator
from jaxmc.spectrum._density import KPMDensity as KPMDensity
from jaxmc.spectrum._density import SpectralDensity as SpectralDensity
from jaxmc.spectrum._density import kpm_density as kpm_density
from jaxmc.spectrum._density import spectral_density as spectral_density
from jaxmc.spectrum._eigen import REASONS as REASONS
from jaxmc.spectrum._eigen import EigenResult as EigenResult
from jaxmc.spectrum._eigen import eigenvalues as eigenvalues
from jaxmc.spectrum._eigen import power_iteration as power_iteration
from jaxmc.spectrum._fisher import (
    empirical_fisher_operator as empirical_fisher_operator,
)
from jaxmc.spectrum._fisher import fisher_operator as fisher_operator
from jaxmc.spectrum._flax import flax_model_fn as flax_model_fn
from jaxmc.spectrum._hessian import ggn_operator as ggn_operator
from jaxmc.spectrum._hessian import hessian_operator as hessian_operator
from jaxmc.spectrum._input import input_hessian_operator as input_hessian_operator
from jaxmc.spectrum._io import from_dict as from_dict
from jaxmc.spectrum._io import load as load
from jaxmc.spectrum._io import save as save
from jaxmc.spectrum._io import to_dict as to_dict
from jaxmc.spectrum._jacobian import jacobian_operator as jacobian_operator
from jaxmc.spectrum._kfac import KFACLayer as KFACLayer
from jaxmc.spectrum._kfac import KFACOperator as KFACOperator
from jaxmc.spectrum._kfac import kfac_operator as kfac_operator
from jaxmc.spectrum._layers import LayerSpectra as LayerSpectra
from jaxmc.spectrum._layers import LayerSpectrum as LayerSpectrum
from jaxmc.spectrum._layers import layer_spectra as layer_spectra
from jaxmc.spectrum._operator import LinearOperator as LinearOperator
from jaxmc.spectrum._operator import matrix_operator as matrix_operator
from jaxmc.spectrum._plot import plot_density as plot_density
from jaxmc.spectrum._plot import plot_eigenvalues as plot_eigenvalues
from jaxmc.spectrum._plot import plot_layer_spectra as plot_layer_spectra
from jaxmc.spectrum._sharpness import SharpnessState as SharpnessState
from jaxmc.spectrum._sharpness import SharpnessTracker as SharpnessTracker
from jaxmc.spectrum._sharpness import sharpness_tracker as sharpness_tracker
from jaxmc.spectrum._solve import InverseOperator as InverseOperator
from jaxmc.spectrum._solve import LogdetEstimate as LogdetEstimate
from jaxmc.spectrum._solve import SolveResult as SolveResult
from jaxmc.spectrum._solve import inverse as inverse
from jaxmc.spectrum._solve import logdet as logdet
from jaxmc.spectrum._subspace import SubspaceFraction as SubspaceFraction
from jaxmc.spectrum._subspace import (
    gradient_subspace_fraction as gradient_subspace_fraction,
)
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
    "SpectralDensity",
    "input_hessian_operator",
    "kpm_density",
    "layer_spectra",
    "spectral_density",
    # sharpness inside a training step
    "SharpnessState",
    "SharpnessTracker",
    "sharpness_tracker",
    # curvature matrices of deep learning, operator algebra, solves
    "InverseOperator",
    "KFACLayer",
    "KFACOperator",
    "LogdetEstimate",
    "RectangularOperator",
    "SolveResult",
    "SubspaceFraction",
    "empirical_fisher_operator",
    "fisher_operator",
    "flax_model_fn",
    "gradient_subspace_fraction",
    "inverse",
    "jacobian_operator",
    "kfac_operator",
    "logdet",
    # figures (matplotlib, the `plot` extra)
    "plot_density",
    "plot_eigenvalues",
    "plot_layer_spectra",
    # saving and loading results (JSON + .npz, bitwise)
    "from_dict",
    "load",
    "save",
    "to_dict",
]
