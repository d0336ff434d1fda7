r"""An executable catalog of matrix-calculus identities, verified against autodiff.

Every identity is an :class:`Identity` record: a stable name (``"trace.AX"``,
``"quadratic.xTAx"``, ``"logdet.X"``), its family, LaTeX for the expression and
its derivative, the variable differentiated and the layout of the closed form,
the expression ``f`` as a JAX function, the closed-form derivative as a
jit-compiled JAX function, the domain each input is drawn from, and its source
(the seed notes, The Matrix Cookbook, Magnus & Neudecker).

* :func:`catalog` returns them all in a stable order, :func:`get` one by name,
  :func:`families` the family names, :func:`errata` those that correct their
  source.
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
``full_column_rank``, ``distinct_singular_values``, ``vech_spd``, ``small``
(spectral norm <= 1/4, to add to an invertible matrix) and ``positive_real``
(not symmetric, with a positive definite symmetric part).

Identities stated for every k. ``tr(X^k)``, ``tr(A X^k)``, ``det(X^k)``,
``a^T X^k b`` and ``a^T (X^k)^T X^k b`` hold for every power ``k``, and the
eigenvalue and eigenvector derivatives for every simple eigenvalue
``lambda_i``. Such a record states the identity once, with the parameter in its
LaTeX, and lists it in ``params`` as a :class:`Param` (name, the values
verified, the range in words); ``f`` and the closed form take it as a keyword
(``f(X, k=3)``), :meth:`Identity.bind` fixes it (``get("trace.Xk").bind(k=5)``)
and :func:`verify` checks every listed value, reporting the largest error.

Algebraic identities. ``order=0`` records an identity without a derivative:
``f(*inputs)`` equals the closed form, e.g. the Kronecker spectrum
``eig(A kron B) = {a_i b_j}`` (``kron.eig``), on which K-FAC's exact spectrum
rests.

Citations and errata. Matrix Cookbook citations give the equation number of
the 15 November 2012 edition and its section (``hessian.xTAx``: eq. 97 in
§2.4.4). Where the Cookbook as printed is wrong, the record states the
corrected form, derived by hand and verified against autodiff like every other,
and carries an :class:`Erratum` with the printed formula; :func:`errata` lists
them: eq. 92 (the first term of ``d a^T (X^n)^T X^n b / dX`` is transposed),
eq. 94 (``x^T B B x`` should be ``x^T B^T B x`` in the first denominator) and
eq. 127 (it needs ``A`` symmetric as well as ``B`` and ``C``).

Symmetric matrices. The Matrix Cookbook's rule for symmetric ``X``
(``d log det X / dX = 2 X^{-1} - X^{-1} o I`` and its relatives) is the
derivative with respect to the ``n (n + 1) / 2`` distinct entries ``vech(X)``,
not a gradient in the trace inner product; taken as a matrix gradient it
counts every off-diagonal entry twice. The catalog carries both readings,
verified: ``symmetric.logdet`` (the gradient on symmetric matrices, ``X^{-1}``)
and ``symmetric.logdet_vech`` (the Cookbook's form, as a derivative in vech).
"""

from jaxmc.identities._catalog import catalog as catalog
from jaxmc.identities._catalog import errata as errata
from jaxmc.identities._catalog import families as families
from jaxmc.identities._catalog import get as get
from jaxmc.identities._latex import latex_table as latex_table
from jaxmc.identities._record import Erratum as Erratum
from jaxmc.identities._record import Identity as Identity
from jaxmc.identities._record import Input as Input
from jaxmc.identities._record import Param as Param
from jaxmc.identities._verify import DEFAULT_RTOL as DEFAULT_RTOL
from jaxmc.identities._verify import VerifyRow as VerifyRow
from jaxmc.identities._verify import VerifyTable as VerifyTable
from jaxmc.identities._verify import verify as verify

__all__ = [
    "DEFAULT_RTOL",
    "Erratum",
    "Identity",
    "Input",
    "Param",
    "VerifyRow",
    "VerifyTable",
    "catalog",
    "errata",
    "families",
    "get",
    "latex_table",
    "verify",
]
