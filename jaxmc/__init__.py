"""jaxmc: matrix-calculus tools for JAX.

Jit-compiled helpers on top of ``jax.grad``, ``jax.jacfwd`` and ``jax.jacrev``:
vec/unvec and Kronecker algebra (:mod:`jaxmc.vec`), derivative layout conventions,
trace-trick differentials, Hessian spectra and autodiff cost. Every public name
is re-exported here; the modules stay importable (``from jaxmc import vec``).
"""

from jaxmc import identities as identities
from jaxmc._cache import disable_compilation_cache as disable_compilation_cache
from jaxmc._cache import enable_compilation_cache as enable_compilation_cache
from jaxmc.check import CheckReport as CheckReport
from jaxmc.check import check_gradient as check_gradient
from jaxmc.check import check_jacobian as check_jacobian
from jaxmc.check import numerical_gradient as numerical_gradient
from jaxmc.check import numerical_jacobian as numerical_jacobian
from jaxmc.cost import choose_mode as choose_mode
from jaxmc.cost import cost_report as cost_report
from jaxmc.cost import hessian as hessian
from jaxmc.differentials import differential as differential
from jaxmc.differentials import (
    gradient_from_differential as gradient_from_differential,
)
from jaxmc.differentials import (
    hessian_from_second_differential as hessian_from_second_differential,
)
from jaxmc.differentials import (
    jacobian_from_differential as jacobian_from_differential,
)
from jaxmc.differentials import symmetric_gradient as symmetric_gradient
from jaxmc.layout import convert_layout as convert_layout
from jaxmc.layout import gradient as gradient
from jaxmc.layout import jacobian as jacobian
from jaxmc.layout import layout_shape as layout_shape
from jaxmc.spectrum import eigenvalues as eigenvalues
from jaxmc.spectrum import empirical_fisher_operator as empirical_fisher_operator
from jaxmc.spectrum import fisher_operator as fisher_operator
from jaxmc.spectrum import ggn_operator as ggn_operator
from jaxmc.spectrum import hessian_operator as hessian_operator
from jaxmc.spectrum import input_hessian_operator as input_hessian_operator
from jaxmc.spectrum import jacobian_operator as jacobian_operator
from jaxmc.spectrum import kfac_operator as kfac_operator
from jaxmc.spectrum import kpm_density as kpm_density
from jaxmc.spectrum import layer_spectra as layer_spectra
from jaxmc.spectrum import sharpness_tracker as sharpness_tracker
from jaxmc.spectrum import spectral_density as spectral_density
from jaxmc.symbolic import derive as derive
from jaxmc.vec import commutation_matrix as commutation_matrix
from jaxmc.vec import commute as commute
from jaxmc.vec import duplication_matrix as duplication_matrix
from jaxmc.vec import elimination_matrix as elimination_matrix
from jaxmc.vec import kron_matvec as kron_matvec
from jaxmc.vec import unvec as unvec
from jaxmc.vec import unvech as unvech
from jaxmc.vec import vec as vec
from jaxmc.vec import vech as vech

__version__ = "0.1.0"

__all__ = [
    # autodiff cost (jaxmc.cost)
    "choose_mode",
    "cost_report",
    "hessian",
    # vec / Kronecker toolkit
    "commutation_matrix",
    "commute",
    "duplication_matrix",
    "elimination_matrix",
    "kron_matvec",
    "unvec",
    "unvech",
    "vec",
    "vech",
    # derivative layouts
    "convert_layout",
    "gradient",
    "jacobian",
    "layout_shape",
    # trace-trick differentials (jaxmc.differentials)
    "differential",
    "gradient_from_differential",
    "hessian_from_second_differential",
    "jacobian_from_differential",
    "symmetric_gradient",
    # finite differences and gradient checks (jaxmc.check)
    "CheckReport",
    "check_gradient",
    "check_jacobian",
    "numerical_gradient",
    "numerical_jacobian",
    # the identity catalog (jaxmc.identities.catalog / get / verify)
    "identities",
    # Hessian spectra (jaxmc.spectrum; trace, diagonal and the rest live there)
    "eigenvalues",
    "ggn_operator",
    "hessian_operator",
    # spectral densities, per-layer and input-Hessian spectra (jaxmc.spectrum)
    "input_hessian_operator",
    "kpm_density",
    "layer_spectra",
    "spectral_density",
    # sharpness inside a training step (jaxmc.spectrum)
    "sharpness_tracker",
    # JAX's persistent compilation cache, in a per-user directory
    "disable_compilation_cache",
    "enable_compilation_cache",
    # curvature matrices of deep learning (jaxmc.spectrum; algebra lives there)
    "empirical_fisher_operator",
    "fisher_operator",
    "jacobian_operator",
    "kfac_operator",
    # symbolic matrix calculus
    "derive",
]
