r"""An executable catalog of matrix-calculus identities, verified against autodiff.

Every identity is an :class:`Identity` record: a stable name (``"trace.AX"``,
``"quadratic.xTAx"``, ``"logdet.X"``), its family, LaTeX for the expression and
its derivative, the variable differentiated and the layout of the closed form,
the expression ``f`` as a JAX function, the closed-form derivative as a
jit-compiled JAX function, the domain each input is drawn from, and its source
(the seed notes, The Matrix Cookbook, Magnus & Neudecker).

* :func:`catalog` returns them all in a stable order, :func:`get` one by name,
  :func:`families` the family names.
* :func:`verify` checks closed forms against JAX autodiff on random inputs of
  random sizes and returns a :class:`VerifyTable` (max relative error, pass or
  fail per identity).
* :func:`latex_table` prints a LaTeX table; ``jaxmc identities`` lists, verifies
  and prints the catalog from the command line.

Layouts of the closed forms are those of :mod:`jaxmc.layout`, and
:func:`verify` computes the autodiff side with ``jaxmc.jacobian(f,
layout=identity.layout)``, so each closed form is checked in the layout it is
stated in. Most are ``"mixed"`` (gradients shaped like the variable,
``d tr(AX)/dX = A^T``; numerator Jacobians ``(dim y, dim x)`` for vector
functions; derivatives by a scalar shaped like the output), a few
``"numerator"``/``"denominator"`` Jacobians, and matrix-valued functions in
``"vec"`` layout (``d vec(AXB) / d (vec X)^T = B^T kron A``).

Second-order identities (``order=2``) state the Jacobian of the gradient: the
Hessian, ``(n, n)`` for a vector variable and ``(mn, mn)`` in ``"vec"`` layout
for a matrix one.

Domains (each input's sampler draws inside it, constructively and well
conditioned): ``any``, ``square``, ``positive``, ``nonzero``, ``unit_interval``,
``simplex``, ``symmetric``, ``spd``, ``symmetric_distinct`` (eigenvalue gaps
>= 1/2), ``orthogonal``, ``invertible`` (singular values in [1/2, 2]),
``full_column_rank``, ``distinct_singular_values``, ``vech_spd``.

Symmetric matrices. The Matrix Cookbook's rule for symmetric ``X``
(``d log det X / dX = 2 X^{-1} - X^{-1} o I`` and its relatives) is the
derivative with respect to the ``n (n + 1) / 2`` distinct entries ``vech(X)``,
not a gradient in the trace inner product; taken as a matrix gradient it
counts every off-diagonal entry twice. The catalog carries both readings,
verified: ``symmetric.logdet`` (the gradient on symmetric matrices, ``X^{-1}``)
and ``symmetric.logdet_vech`` (the Cookbook's form, as a derivative in vech).
"""

from jaxmc.identities._catalog import catalog as catalog
from jaxmc.identities._catalog import families as families
from jaxmc.identities._catalog import get as get
from jaxmc.identities._latex import latex_table as latex_table
from jaxmc.identities._record import Identity as Identity
from jaxmc.identities._record import Input as Input
from jaxmc.identities._verify import DEFAULT_RTOL as DEFAULT_RTOL
from jaxmc.identities._verify import VerifyRow as VerifyRow
from jaxmc.identities._verify import VerifyTable as VerifyTable
from jaxmc.identities._verify import verify as verify

__all__ = [
    "DEFAULT_RTOL",
    "Identity",
    "Input",
    "VerifyRow",
    "VerifyTable",
    "catalog",
    "families",
    "get",
    "latex_table",
    "verify",
]
