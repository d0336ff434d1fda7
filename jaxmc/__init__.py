"""jaxmc: matrix-calculus tools for JAX.

Jit-compiled helpers on top of ``jax.grad``, ``jax.jacfwd`` and ``jax.jacrev``:
vec/unvec and Kronecker algebra (:mod:`jaxmc.vec`), derivative layout conventions,
trace-trick differentials, Hessian spectra and autodiff cost. Every public name
is re-exported here; the modules stay importable (``from jaxmc import vec``).
"""

from jaxmc.spectrum import eigenvalues as eigenvalues
from jaxmc.spectrum import ggn_operator as ggn_operator
from jaxmc.spectrum import hessian_operator as hessian_operator
from jaxmc.spectrum import input_hessian_operator as input_hessian_operator
from jaxmc.spectrum import kpm_density as kpm_density
from jaxmc.spectrum import layer_spectra as layer_spectra
from jaxmc.spectrum import spectral_density as spectral_density
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
    # Hessian spectra (jaxmc.spectrum; trace, diagonal and the rest live there)
    "eigenvalues",
    "ggn_operator",
    "hessian_operator",
    # spectral densities, per-layer and input-Hessian spectra (jaxmc.spectrum)
    "input_hessian_operator",
    "kpm_density",
    "layer_spectra",
    "spectral_density",
]
