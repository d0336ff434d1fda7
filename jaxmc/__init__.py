"""jaxmc: matrix-calculus tools for JAX.

Jit-compiled helpers on top of ``jax.grad``, ``jax.jacfwd`` and ``jax.jacrev``:
vec/unvec and Kronecker algebra (:mod:`jaxmc.vec`), derivative layout conventions,
trace-trick differentials, Hessian spectra and autodiff cost. Every public name
is re-exported here; the modules stay importable (``from jaxmc import vec``).
"""

from jaxmc.layout import convert_layout as convert_layout
from jaxmc.layout import gradient as gradient
from jaxmc.layout import jacobian as jacobian
from jaxmc.layout import layout_shape as layout_shape
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
    # symbolic matrix calculus
    "derive",
]
