"""Symbolic matrix calculus: closed-form derivatives of matrix expressions.

Write an expression over scalar, vector and matrix symbols, in Python or as a
string in the syntax of matrixcalculus.org, and :func:`derive` its gradient,
Jacobian or Hessian in closed form, as text, LaTeX and a jit-compiled JAX
function, checked against JAX autodiff before it is returned:

>>> from jaxmc import symbolic as sym
>>> d = sym.derive("x'*A*x + b'*x", wrt="x")
>>> print(d.text)
(A + A')*x + b
>>> print(sym.derive("x'*A*x", wrt="x", A="symmetric").text)
2*A*x

How: the differential is built by the rules of matrix calculus (Magnus &
Neudecker), d tr(A X B) = tr(A dX B), d inv(X) = -inv(X) dX inv(X),
d log|det X| = tr(inv(X) dX), d f(u) = f'(u) .* du, and the identification
theorems read the derivative off it: df = tr(G' dX) gives the gradient G,
df = J dx the Jacobian J, d(grad f) = H dx the Hessian H. Simplification
(transposes, identities, zeros, like terms, common factors, symmetric symbols)
gives readable forms such as ``2*A'*(A*x - b)``.

Conventions: vectors are columns; sizes are symbolic (tied by use) unless
declared; the default "mixed" layout gives gradients the variable's shape and
Jacobians/Hessians in numerator layout (rows index f). Derivatives that are
tensors of order 3 or 4 (a matrix-valued f, a Hessian by a matrix) come in
Kronecker form with ``layout="vec"`` (Magnus & Neudecker's first identification
theorem, d vec(f) = J d vec(X)): ``d vec(A X B) = (B' kron A) d vec(X)``,
``d vec(X') = K d vec(X)`` with the commutation matrix, ``tr(X' A X)`` has the
Hessian ``kron(I, A + A')``; the names are those of :mod:`jaxmc.vec`.

Python operators follow NumPy (``@`` matrix product, ``*`` element-wise, ``.T``);
strings follow matrixcalculus.org (``*`` matrix product, ``.*`` element-wise,
``'`` transpose).
"""

from jaxmc.symbolic._codegen import to_jax as to_jax
from jaxmc.symbolic._derive import Derivative as Derivative
from jaxmc.symbolic._derive import VerificationError as VerificationError
from jaxmc.symbolic._derive import derive as derive
from jaxmc.symbolic._derive import differential as differential
from jaxmc.symbolic._diff import UnsupportedDerivative as UnsupportedDerivative
from jaxmc.symbolic._expr import Expr as Expr
from jaxmc.symbolic._expr import ShapeError as ShapeError
from jaxmc.symbolic._expr import Symbol as Symbol
from jaxmc.symbolic._functions import abs as abs  # noqa: A004
from jaxmc.symbolic._functions import cos as cos
from jaxmc.symbolic._functions import det as det
from jaxmc.symbolic._functions import diag as diag
from jaxmc.symbolic._functions import exp as exp
from jaxmc.symbolic._functions import hadamard as hadamard
from jaxmc.symbolic._functions import inv as inv
from jaxmc.symbolic._functions import kron as kron
from jaxmc.symbolic._functions import log as log
from jaxmc.symbolic._functions import logdet as logdet
from jaxmc.symbolic._functions import norm1 as norm1
from jaxmc.symbolic._functions import norm2 as norm2
from jaxmc.symbolic._functions import relu as relu
from jaxmc.symbolic._functions import sigmoid as sigmoid
from jaxmc.symbolic._functions import sin as sin
from jaxmc.symbolic._functions import sqrt as sqrt
from jaxmc.symbolic._functions import sum as sum  # noqa: A004
from jaxmc.symbolic._functions import symbols as symbols
from jaxmc.symbolic._functions import tanh as tanh
from jaxmc.symbolic._functions import tr as tr
from jaxmc.symbolic._functions import trace as trace
from jaxmc.symbolic._functions import vec as vec
from jaxmc.symbolic._parse import ParseError as ParseError
from jaxmc.symbolic._parse import parse as parse
from jaxmc.symbolic._simplify import simplify as simplify

__all__ = [
    "Derivative",
    "Expr",
    "ParseError",
    "ShapeError",
    "Symbol",
    "UnsupportedDerivative",
    "VerificationError",
    "abs",
    "cos",
    "derive",
    "det",
    "diag",
    "differential",
    "exp",
    "hadamard",
    "inv",
    "kron",
    "log",
    "logdet",
    "norm1",
    "norm2",
    "parse",
    "relu",
    "sigmoid",
    "simplify",
    "sin",
    "sqrt",
    "sum",
    "symbols",
    "tanh",
    "to_jax",
    "tr",
    "trace",
    "vec",
]
