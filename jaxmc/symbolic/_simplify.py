"""Rewrite rules that bring expressions to short, readable closed forms.

Bottom-up rewriting to a fixed point: transposes pushed to the leaves (and dropped
on symmetric symbols, scalars and identities), zeros and identities removed,
constants folded, scalars pulled to the front of products, like terms collected
(``A*x + A*x = 2*A*x``) and common left or right factors taken out of sums
(``A*x + A'*x = (A + A')*x``). Every rule is an identity of matrix algebra; the
derivation's numerical verification guards against a wrong one.
"""

from __future__ import annotations

from jaxmc.symbolic._expr import (
    Add,
    Broadcast,
    CommutationMatrix,
    Const,
    Det,
    Diag,
    ElemDiv,
    Expr,
    Func,
    Hadamard,
    Identity,
    Inv,
    Kron,
    LogDet,
    MatMul,
    MatPower,
    Norm2,
    Power,
    ScalarMul,
    Sum,
    Symbol,
    Trace,
    Transpose,
    Vec,
    Zero,
    ZeroDivisionError_,
    add_many,
    broadcast,
    dim_mul,
    is_constant_zero,
    is_scalar_shape,
    kind_of,
    same_dim,
    zero,
)

_MAX_PASSES = 50


def simplify(e: Expr) -> Expr:
    """Rewrites ``e`` to a fixed point of the rules."""
    for _ in range(_MAX_PASSES):
        new = _rewrite(e, {})
        if new == e:
            return new
        e = new
    return e


def _is_zero(e: Expr) -> bool:
    return isinstance(e, Zero) or (isinstance(e, Const) and e.value == 0.0)


def _is_one(e: Expr) -> bool:
    return (isinstance(e, Const) and e.value == 1.0) or (
        isinstance(e, Broadcast) and _is_one(e.args[0])
    )


def _rewrite(e: Expr, memo: dict[int, Expr]) -> Expr:
    if id(e) in memo:
        return memo[id(e)]
    if isinstance(e, Symbol | Const | Zero | Identity):
        out = e
    else:
        args = tuple(_rewrite(a, memo) for a in e.args)
        out = _node(e, args)
    memo[id(e)] = out
    return out


def _rebuild(e: Expr, args: tuple[Expr, ...]) -> Expr:
    if args == e.args:
        return e
    if isinstance(e, Power):
        return Power(args[0], e.p)
    if isinstance(e, MatPower):
        return MatPower(args[0], e.k)
    if isinstance(e, Func):
        return Func(e.name, args[0])
    return type(e)(args, e.shape)


def _smul(s: Expr, a: Expr) -> Expr:
    return ScalarMul((s, a), a.shape)


def _mm(a: Expr, b: Expr) -> Expr:
    if is_scalar_shape(a.shape):
        return _smul(a, b)
    if is_scalar_shape(b.shape):
        return _smul(b, a)
    return MatMul((a, b), (a.shape[0], b.shape[1]))


def _t(a: Expr) -> Expr:
    if is_scalar_shape(a.shape):
        return a
    return Transpose((a,), (a.shape[1], a.shape[0]))


def _node(e: Expr, args: tuple[Expr, ...]) -> Expr:  # noqa: C901 - a rule table
    if isinstance(e, Transpose):
        return _transpose(args[0])
    if isinstance(e, ScalarMul):
        return _scalar_mul(args[0], args[1])
    if isinstance(e, MatMul):
        return _matmul(args[0], args[1])
    if isinstance(e, Add):
        return _add(list(args), e.shape)
    if isinstance(e, Hadamard):
        a, b = args
        if _is_zero(a) or _is_zero(b):
            return zero(e.shape)
        if isinstance(a, Broadcast):
            return _smul(a.args[0], b)
        if isinstance(b, Broadcast):
            return _smul(b.args[0], a)
        if isinstance(a, ScalarMul):
            return _smul(a.args[0], Hadamard((a.args[1], b), e.shape))
        if isinstance(b, ScalarMul):
            return _smul(b.args[0], Hadamard((a, b.args[1]), e.shape))
        return _hadamard_chain(e, args)
    if isinstance(e, ElemDiv):
        a, b = args
        if _is_zero(a):
            return zero(e.shape)
        if _is_one(b):
            return a
        if is_constant_zero(b):
            msg = f"jaxmc.symbolic: division by zero: `{b}` is identically zero."
            raise ZeroDivisionError_(msg)
        if isinstance(a, Const) and isinstance(b, Const):
            return Const(a.value / b.value)
        if isinstance(b, Const) and not isinstance(a, Broadcast):
            return _smul(Const(1.0 / b.value), a)
        if isinstance(a, ScalarMul) and isinstance(a.args[0], Const):
            return _smul(a.args[0], ElemDiv((a.args[1], b), e.shape))
        return _rebuild(e, args)
    if isinstance(e, Power):
        a = args[0]
        if e.p == 1.0:
            return a
        if e.p == 0.0:
            return broadcast(Const(1.0), e.shape)
        if e.p < 0 and is_constant_zero(a):
            msg = f"jaxmc.symbolic: division by zero: `{a}` to the power {e.p:g}."
            raise ZeroDivisionError_(msg)
        if isinstance(a, Const):
            return Const(a.value**e.p)
        if isinstance(a, Power) and float(e.p).is_integer():
            return Power(a.args[0], a.p * e.p)
        if isinstance(a, Norm2) and e.p == 2.0:
            u = a.args[0]
            if kind_of(u.shape) == "matrix":
                return Trace((_mm(_t(u), u),), (1, 1))
            if kind_of(u.shape) == "row":
                return _mm(u, _t(u))
            if is_scalar_shape(u.shape):
                return Power(u, 2.0)
            return _mm(_t(u), u)
        return _rebuild(e, args)
    if isinstance(e, Func):
        a = args[0]
        if e.name in ("sign", "step") and isinstance(a, Func) and a.name == "exp":
            return broadcast(Const(1.0), e.shape)
        return _rebuild(e, args)
    if isinstance(e, Sum):
        a = args[0]
        if _is_zero(a):
            return Const(0.0)
        if is_scalar_shape(a.shape):
            return a
        if isinstance(a, ScalarMul):
            return _smul(a.args[0], Sum((a.args[1],), (1, 1)))
        if isinstance(a, Hadamard):
            u, v = a.args
            k = kind_of(u.shape)
            if k == "vector":
                return _mm(_t(u), v)
            if k == "row":
                return _mm(u, _t(v))
            return Trace((_mm(_t(u), v),), (1, 1))
        return _rebuild(e, args)
    if isinstance(e, Trace):
        a = args[0]
        if _is_zero(a):
            return Const(0.0)
        if is_scalar_shape(a.shape):
            return a
        if isinstance(a, ScalarMul):
            return _smul(a.args[0], Trace((a.args[1],), (1, 1)))
        if isinstance(a, Transpose):
            return Trace((a.args[0],), (1, 1))
        if isinstance(a, MatMul):
            # tr(u v') = v' u for vectors, and cyclic moves that leave a vector
            # outer product: tr(A u v') = v' A u.
            f = _factors(a)
            if kind_of(f[-1].shape) == "row":
                return _chain([f[-1]] + f[:-1])
            if kind_of(f[0].shape) == "vector":
                return _chain(f[1:] + [f[0]])
        return _rebuild(e, args)
    if isinstance(e, Inv):
        a = args[0]
        if isinstance(a, Inv):
            return a.args[0]
        if isinstance(a, Identity):
            return a
        if isinstance(a, ScalarMul):
            return _smul(Power(a.args[0], -1.0), Inv((a.args[1],), e.shape))
        return _rebuild(e, args)
    if isinstance(e, Det | LogDet):
        a = args[0]
        if isinstance(a, Transpose):
            return type(e)((a.args[0],), (1, 1))
        return _rebuild(e, args)
    if isinstance(e, Broadcast):
        s = args[0]
        if _is_zero(s):
            return zero(e.shape)
        return _rebuild(e, args)
    if isinstance(e, Diag):
        a = args[0]
        if _is_zero(a):
            return zero(e.shape)
        if isinstance(a, ScalarMul):
            return _smul(a.args[0], Diag((a.args[1],), e.shape))
        return _rebuild(e, args)
    if isinstance(e, Kron):
        return _kron(args[0], args[1])
    if isinstance(e, Vec):
        a = args[0]
        if _is_zero(a):
            return zero(e.shape)
        if isinstance(a, ScalarMul):
            return _smul(a.args[0], Vec((a.args[1],), e.shape))
        return _rebuild(e, args)
    if isinstance(e, MatPower):
        a = args[0]
        if isinstance(a, Identity):
            return a
        if isinstance(a, ScalarMul):
            return _smul(Power(a.args[0], float(e.k)), MatPower(a.args[1], e.k))
        if isinstance(a, MatPower):
            return MatPower(a.args[0], a.k * e.k)
        return _rebuild(e, args)
    return _rebuild(e, args)


def _kron(a: Expr, b: Expr) -> Expr:
    """kron(a, b), with scalars and zeros taken out."""
    shape = (dim_mul(a.shape[0], b.shape[0]), dim_mul(a.shape[1], b.shape[1]))
    if is_scalar_shape(a.shape):
        return _scalar_mul(a, b)
    if is_scalar_shape(b.shape):
        return _scalar_mul(b, a)
    if _is_zero(a) or _is_zero(b):
        return zero(shape)
    if isinstance(a, ScalarMul):
        return _scalar_mul(a.args[0], _kron(a.args[1], b))
    if isinstance(b, ScalarMul):
        return _scalar_mul(b.args[0], _kron(a, b.args[1]))
    if isinstance(a, Identity) and isinstance(b, Identity):
        return Identity((), shape)
    return Kron((a, b), shape)


def _base_exp(e: Expr) -> tuple[Expr, int]:
    return (e.args[0], e.k) if isinstance(e, MatPower) else (e, 1)


def _hfactors(e: Expr) -> list[Expr]:
    if isinstance(e, Hadamard):
        return _hfactors(e.args[0]) + _hfactors(e.args[1])
    return [e]


def _combine_scalars(s: Expr, t: Expr) -> Expr | None:
    """exp(u) * (1 + exp(u))^-1 = sigmoid(u) for scalars (else None)."""
    if not (is_scalar_shape(s.shape) and is_scalar_shape(t.shape)):
        return None
    for e, q in ((s, t), (t, s)):
        if isinstance(e, Func) and e.name == "exp" and isinstance(q, Power):
            if q.p == -1.0 and _one_plus_exp(q.args[0]) == e.args[0]:
                return Func("sigmoid", e.args[0])
    return None


def _one_plus_exp(e: Expr) -> Expr | None:
    """The argument u when e is 1 + exp(u), else None."""
    if isinstance(e, Add) and len(e.args) == 2:
        for one, other in (e.args, e.args[::-1]):
            if _is_one(one) and isinstance(other, Func) and other.name == "exp":
                return other.args[0]
    return None


def _hadamard_chain(e: Expr, args: tuple[Expr, ...]) -> Expr:
    """Collects powers of equal factors in a chain of element-wise products."""
    powers: dict[Expr, float] = {}
    for f in _hfactors(args[0]) + _hfactors(args[1]):
        base, p = (f.args[0], f.p) if isinstance(f, Power) else (f, 1.0)
        powers[base] = powers.get(base, 0.0) + p
    # exp(u) ./ (1 + exp(u)) = sigmoid(u), to the same power.
    for base, p in list(powers.items()):
        u = _one_plus_exp(base)
        if u is not None and p < 0:
            e = Func("exp", u)
            if powers.get(e) == -p:
                del powers[base], powers[e]
                powers[Func("sigmoid", u)] = -p
    factors = [b if p == 1.0 else Power(b, p) for b, p in powers.items() if p != 0.0]
    if not factors:
        return broadcast(Const(1.0), e.shape)
    out = factors[0]
    for f in factors[1:]:
        out = Hadamard((out, f), e.shape)
    if out == Hadamard(args, e.shape):
        return Hadamard(args, e.shape)
    return out


def _transpose(a: Expr) -> Expr:
    if is_scalar_shape(a.shape):
        return a
    if isinstance(a, Transpose):
        return a.args[0]
    if isinstance(a, Symbol) and a.symmetric:
        return a
    if isinstance(a, Identity):
        return a
    if isinstance(a, Zero):
        return zero((a.shape[1], a.shape[0]))
    if isinstance(a, Diag) and kind_of(a.shape) == "matrix":
        return a
    if isinstance(a, Broadcast):
        return Broadcast(a.args, (a.shape[1], a.shape[0]))
    if isinstance(a, ScalarMul):
        return _smul(a.args[0], _t(a.args[1]))
    if isinstance(a, MatMul):
        return _mm(_t(a.args[1]), _t(a.args[0]))
    if isinstance(a, Inv):
        return Inv((_t(a.args[0]),), (a.shape[1], a.shape[0]))
    if isinstance(a, MatPower):
        return MatPower(_t(a.args[0]), a.k)
    if isinstance(a, Kron):
        return Kron((_t(a.args[0]), _t(a.args[1])), (a.shape[1], a.shape[0]))
    if isinstance(a, CommutationMatrix):
        return CommutationMatrix(a.n, a.m)
    if isinstance(a, Add):
        return Add(tuple(_t(x) for x in a.args), (a.shape[1], a.shape[0]))
    return _t(a)


def _scalar_mul(s: Expr, a: Expr) -> Expr:
    if not is_scalar_shape(s.shape):
        s, a = a, s
    if _is_zero(s) or _is_zero(a):
        return zero(a.shape)
    if isinstance(a, Const) and not isinstance(s, Const):
        s, a = a, s
    if isinstance(s, Const) and s.value == 1.0:
        return a
    if isinstance(a, Const) and a.value == 1.0:
        return s
    if isinstance(s, Const) and isinstance(a, Const):
        return Const(s.value * a.value)
    if isinstance(s, Const) and s.value < 0:
        flipped = _negate_sum_factor(a)
        if flipped is not None:
            return flipped if s.value == -1.0 else _smul(Const(-s.value), flipped)
    if isinstance(s, ScalarMul):
        return _scalar_mul(s.args[0], _scalar_mul(s.args[1], a))
    both = _combine_scalars(s, a)
    if both is not None:
        return both
    if isinstance(a, ScalarMul):
        both = _combine_scalars(s, a.args[0])
        if both is not None:
            return _smul(both, a.args[1])
        s2, rest = a.args
        if isinstance(s, Const) and isinstance(s2, Const):
            return _smul(Const(s.value * s2.value), rest)
        if isinstance(s2, Const):
            return _smul(s2, _smul(s, rest))
    if isinstance(a, Broadcast) and isinstance(s, Const):
        inner = a.args[0]
        if isinstance(inner, Const):
            return Broadcast((Const(s.value * inner.value),), a.shape)
    return _smul(s, a)


def _negate_sum_factor(a: Expr) -> Expr | None:
    """-a with the sign taken into a sum factor that has more minus signs.

    ``-2*(X - U*V')*V`` becomes ``2*(U*V' - X)*V``: no negation of a sum that
    itself starts with a minus (None when ``a`` has no such factor).
    """
    fs = _factors(a)
    for i, f in enumerate(fs):
        if isinstance(f, Add):
            coefs = [_split_coef(t)[0] for t in f.args]
            if sum(c < 0 for c in coefs) >= sum(c > 0 for c in coefs):
                terms = [_with_coef(-c, t) for c, t in map(_split_coef, f.args)]
                neg = Add(tuple(terms), f.shape)
                return _chain(fs[:i] + [neg] + fs[i + 1 :])
    return None


def _factors(e: Expr) -> list[Expr]:
    if isinstance(e, MatMul):
        return _factors(e.args[0]) + _factors(e.args[1])
    return [e]


def _chain(fs: list[Expr]) -> Expr:
    out = fs[0]
    for f in fs[1:]:
        out = _mm(out, f)
    return out


def _matmul(a: Expr, b: Expr) -> Expr:
    shape = (a.shape[0], b.shape[1])
    if is_scalar_shape(a.shape) or is_scalar_shape(b.shape):
        return _scalar_mul(a, b)
    if _is_zero(a) or _is_zero(b):
        return zero(shape)
    if isinstance(a, Identity):
        return b
    if isinstance(b, Identity):
        return a
    if isinstance(a, ScalarMul):
        return _smul(a.args[0], _mm(a.args[1], b))
    if isinstance(b, ScalarMul):
        return _smul(b.args[0], _mm(a, b.args[1]))
    # A repeated constant c*ones: the constant goes in front (no vector(-1)).
    for i, f in enumerate((a, b)):
        if isinstance(f, Broadcast) and isinstance(f.args[0], Const):
            c = f.args[0].value
            if c != 1.0:
                ones = Broadcast((Const(1.0),), f.shape)
                pair = (ones, b) if i == 0 else (a, ones)
                return _smul(Const(c), _mm(*pair))
    # X^-1 X = X X^-1 = I at the junction of two factors.
    fa, fb = _factors(a), _factors(b)
    last, first = fa[-1], fb[0]
    if (isinstance(last, Inv) and last.args[0] == first) or (
        isinstance(first, Inv) and first.args[0] == last
    ):
        rest = fa[:-1] + fb[1:]
        if not rest:
            return Identity((), shape)
        return _chain(rest)
    (b1, p1), (b2, p2) = _base_exp(last), _base_exp(first)
    if b1 == b2 and kind_of(b1.shape) == "matrix":
        return _chain(fa[:-1] + [MatPower(b1, p1 + p2)] + fb[1:])
    if (
        isinstance(last, Kron)
        and isinstance(first, Kron)
        and same_dim(last.args[0].shape[1], first.args[0].shape[0])
        and same_dim(last.args[1].shape[1], first.args[1].shape[0])
    ):
        merged = _kron(
            _matmul(last.args[0], first.args[0]), _matmul(last.args[1], first.args[1])
        )
        return _chain(fa[:-1] + [merged] + fb[1:])
    if (
        isinstance(last, CommutationMatrix)
        and isinstance(first, CommutationMatrix)
        and same_dim(last.m, first.n)
        and same_dim(last.n, first.m)
    ):
        rest = fa[:-1] + fb[1:]
        return _chain(rest) if rest else Identity((), shape)
    if (
        isinstance(last, Diag)
        and isinstance(first, Diag)
        and kind_of(last.shape) == "matrix"
        and kind_of(first.shape) == "matrix"
    ):
        v = last.args[0]
        merged = Diag((Hadamard((v, first.args[0]), v.shape),), last.shape)
        return _chain(fa[:-1] + [merged] + fb[1:])
    # Canonical association: right-nested products, so equal chains compare equal.
    if isinstance(a, MatMul):
        return _mm(a.args[0], _matmul(a.args[1], b))
    return MatMul((a, b), shape)


def _split_coef(t: Expr) -> tuple[float, Expr]:
    if isinstance(t, ScalarMul) and isinstance(t.args[0], Const):
        c, rest = _split_coef(t.args[1])
        return t.args[0].value * c, rest
    if isinstance(t, Const):
        return t.value, Const(1.0)
    if isinstance(t, Broadcast) and isinstance(t.args[0], Const):
        return t.args[0].value, Broadcast((Const(1.0),), t.shape)
    return 1.0, t


def _with_coef(c: float, t: Expr) -> Expr:
    if c == 1.0:
        return t
    if isinstance(t, Const) and t.value == 1.0:
        return Const(c)
    if isinstance(t, Broadcast) and _is_one(t):
        return Broadcast((Const(c),), t.shape)
    return _smul(Const(c), t)


def _add(terms: list[Expr], shape: tuple) -> Expr:
    flat: list[Expr] = []
    for t in terms:
        flat.extend(t.args if isinstance(t, Add) else [t])
    coefs: dict[Expr, float] = {}
    for t in flat:
        if _is_zero(t):
            continue
        c, rest = _split_coef(t)
        coefs[rest] = coefs.get(rest, 0.0) + c
    items = [(c, t) for t, c in coefs.items() if c != 0.0]
    if not items:
        return zero(shape)
    if len(items) > 1 and all(isinstance(t, Diag) for _, t in items):
        inner = [_with_coef(c, t.args[0]) for c, t in items]
        return Diag((Add(tuple(inner), items[0][1].args[0].shape),), shape)
    c0 = abs(items[0][0])
    if len(items) > 1 and c0 != 1.0 and all(abs(c) == c0 for c, _ in items):
        if all(c < 0 for c, _ in items):
            c0 = -c0
        inner = tuple(_with_coef(c / c0, t) for c, t in _ordered(items))
        return _smul(Const(c0), Add(inner, shape))
    factored = _kron_factor(items, shape)
    if factored is None:
        factored = _factor(items, shape)
    if factored is not None:
        return factored
    out = [_with_coef(c, t) for c, t in _ordered(items)]
    if len(out) == 1:
        return out[0]
    return Add(tuple(out), shape)


def _ordered(items: list[tuple[float, Expr]]) -> list[tuple[float, Expr]]:
    """Canonical term order: positive terms first, then by their text.

    So equal sums compare equal however they were built (``inv(A + x*x')`` and
    ``inv(x*x' + A)``), and a sum reads ``A*x - b`` rather than ``-b + A*x``.
    """
    from jaxmc.symbolic._printing import to_text

    return sorted(items, key=lambda ct: (ct[0] < 0, to_text(ct[1])))


def _kron_factor(items: list[tuple[float, Expr]], shape: tuple) -> Expr | None:
    """kron(A, B) + kron(A, C) = kron(A, B + C) (and on the right)."""
    for side in (0, 1):
        groups: dict[Expr, list[int]] = {}
        for i, (_, t) in enumerate(items):
            if isinstance(t, Kron):
                groups.setdefault(t.args[side], []).append(i)
        for f, idx in groups.items():
            if len(idx) < 2:
                continue
            other = [_with_coef(items[i][0], items[i][1].args[1 - side]) for i in idx]
            inner = _add(other, other[0].shape)
            merged = _kron(f, inner) if side == 0 else _kron(inner, f)
            rest = [_with_coef(c, t) for i, (c, t) in enumerate(items) if i not in idx]
            if not rest:
                return merged
            return Add(tuple([merged, *rest]), shape)
    return None


def _scalar_and_factors(t: Expr) -> list[Expr]:
    """The factors of a product, a scalar coefficient first: s*A*x -> [s, A, x]."""
    if isinstance(t, ScalarMul) and not isinstance(t.args[0], Const):
        return [t.args[0], *_factors(t.args[1])]
    return _factors(t)


def _factor(items: list[tuple[float, Expr]], shape: tuple) -> Expr | None:
    """Takes a factor shared by several products out of the sum, if there is one."""
    for side in (-1, 0):
        # A scalar coefficient is a left factor: s*A*x + s*B*x = s*(A + B)*x.
        split = _scalar_and_factors if side == 0 else _factors
        chains = [(c, split(t)) for c, t in items]
        groups: dict[Expr, list[int]] = {}
        for i, (_, fs) in enumerate(chains):
            if len(fs) >= 2:
                groups.setdefault(fs[side], []).append(i)
        for f, idx in groups.items():
            if len(idx) < 2:
                continue
            if side == -1:
                inner = [(chains[i][0], _chain(chains[i][1][:-1])) for i in idx]
            else:
                inner = [(chains[i][0], _chain(chains[i][1][1:])) for i in idx]
            ishape = inner[0][1].shape
            # Pull a coefficient shared by all terms out in front.
            common = inner[0][0] if all(c == inner[0][0] for c, _ in inner) else 1.0
            s = add_many([_with_coef(c / common, t) for c, t in inner], ishape)
            s = _add([s], ishape) if isinstance(s, Add) else s
            prod = _mm(s, f) if side == -1 else _mm(f, s)
            prod = _with_coef(common, prod)
            rest = [_with_coef(c, t) for i, (c, t) in enumerate(items) if i not in idx]
            if not rest:
                return prod
            return Add(tuple([prod, *rest]), shape)
    return None


def expand(e: Expr) -> Expr:
    """Distributes products over sums, right-nested, so products end in vectors.

    The Jacobian read-off needs every intermediate that depends on the variable
    to be a vector: ``(A + x v') y`` becomes ``A y + x (v' y)`` and
    ``diag(u) w`` becomes ``u .* w``. The result is not simplified (simplifying
    would take the common factors out again).
    """
    # Keyed by id, holding the node itself so that its id cannot be reused by a
    # temporary while the memo lives.
    memo: dict[int, tuple[Expr, Expr]] = {}

    def ex(e: Expr) -> Expr:
        hit = memo.get(id(e))
        if hit is None or hit[0] is not e:
            hit = (e, _expand_node(e, ex))
            memo[id(e)] = hit
        return hit[1]

    return ex(e)


def _expand_node(e: Expr, ex) -> Expr:  # noqa: C901 - one case per node type
    if not e.args:
        return e
    if isinstance(e, MatMul):
        return _expand_mm(ex(e.args[0]), ex(e.args[1]), ex)
    args = tuple(ex(a) for a in e.args)
    if isinstance(e, ScalarMul):
        s, a = args
        if isinstance(a, Add):
            return Add(tuple(_smul(s, t) for t in a.args), e.shape)
        return _smul(s, a)
    if isinstance(e, Transpose):
        a = args[0]
        if isinstance(a, Add | MatMul | ScalarMul):
            return ex(_transpose(a))
        return _rebuild(e, args)
    if isinstance(e, Diag) and kind_of(e.shape) == "vector":
        a = args[0]
        if isinstance(a, Add):
            return Add(tuple(ex(Diag((t,), e.shape)) for t in a.args), e.shape)
        if isinstance(a, ScalarMul):
            return _smul(a.args[0], ex(Diag((a.args[1],), e.shape)))
        if isinstance(a, MatMul) and kind_of(a.args[0].shape) == "vector":
            u, w = a.args  # diag(u w') = u .* w for a column u and a row w'
            return Hadamard((u, _t(w)), e.shape)
    return _rebuild(e, args)


def _expand_mm(a: Expr, b: Expr, ex) -> Expr:
    shape = (a.shape[0], b.shape[1])
    if is_scalar_shape(a.shape) or is_scalar_shape(b.shape):
        return _smul(a, b) if is_scalar_shape(a.shape) else _smul(b, a)
    if isinstance(a, Add):
        return Add(tuple(_expand_mm(t, b, ex) for t in a.args), shape)
    if isinstance(b, Add):
        return Add(tuple(_expand_mm(a, t, ex) for t in b.args), shape)
    if isinstance(a, ScalarMul):
        return _smul(a.args[0], _expand_mm(a.args[1], b, ex))
    if isinstance(b, ScalarMul):
        return _smul(b.args[0], _expand_mm(a, b.args[1], ex))
    if isinstance(a, MatMul):
        return _expand_mm(a.args[0], _expand_mm(a.args[1], b, ex), ex)
    if (
        isinstance(a, Diag)
        and kind_of(a.shape) == "matrix"
        and kind_of(b.shape) == "vector"
    ):
        return Hadamard((a.args[0], b), shape)
    return MatMul((a, b), shape)
