r"""K-FAC: a block-diagonal Kronecker-factored Fisher with its exact spectrum.

For a dense layer ``s = a^T W + b`` (``W`` of shape ``(d_in, d_out)``), write
``W_bar = [W; b^T]`` of shape ``(d_in + 1, d_out)`` and ``a_bar = [a; 1]``. The
layer's Fisher block is ``E[(a_bar a_bar^T) kron (g g^T)]`` with ``g`` the
gradient of ``-log p(y | f)`` in ``s``. K-FAC (Martens & Grosse 2015) replaces
the expectation of the product by the product of expectations:

.. math::
    F_\ell \approx A_\ell \otimes G_\ell, \qquad
    A_\ell = \frac{1}{M} \sum_m \bar a_m \bar a_m^\top, \qquad
    G_\ell = \frac{1}{N} \sum_{n} \mathbb{E}_{y \sim p(\cdot|f_n)} g_n g_n^\top,

in the row-major (C-order) vectorisation of ``W_bar``: entry ``(i, j)`` at
``i d_out + j``, which is how ``ravel_pytree`` flattens ``W``. ``M`` counts the
layer's input rows (``N`` examples times the positions per example for
sequence inputs, the "expand" flavour). The operator is block-diagonal over
layers; each block's matvec is :func:`jaxmc.vec.kron_matvec`. Because
``eig(A kron G) = {a_i g_j}`` with eigenvectors ``q_i kron r_j``, the whole
spectrum, the inverse and the log-determinant of ``A kron G + lambda I`` are
exact, from the eigendecompositions of the small factors.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmc import _checks, _xla
from jaxmc.spectrum import _kfac_trace as kt
from jaxmc.spectrum import _likelihood as lk
from jaxmc.spectrum._hessian import (
    SelectedLeavesFactory,
    _Data,
    _leading_size,
    _Params,
)
from jaxmc.spectrum._operator import LinearOperator
from jaxmc.vec import kron_matvec

__all__ = ["KFACLayer", "KFACOperator", "kfac_operator"]


@dataclasses.dataclass(frozen=True)
class KFACLayer:
    """One dense layer found by :func:`kfac_operator`.

    Attributes:
      name: the weight's key path (e.g. ``[0]['w']`` or
        ``['params']['Dense_0']['kernel']``).
      weight: the weight's key path; ``bias``: the bias's key path, or None.
      d_in: the input size (without the bias column); ``d_out``: the output
        size.
      uses: how many times the layer is applied per forward pass.
      A: the input factor, ``(d_in + 1, d_in + 1)`` with a bias (the ones
        column last), else ``(d_in, d_in)``.
      G: the output-gradient factor, ``(d_out, d_out)``.
    """

    name: str
    weight: str
    bias: str | None
    d_in: int
    d_out: int
    uses: int
    A: jax.Array
    G: jax.Array

    @property
    def size(self) -> int:
        """The number of parameters in the block."""
        return self.A.shape[0] * self.G.shape[0]

    def __repr__(self) -> str:
        bias = f", bias={self.bias}" if self.bias else ""
        return (
            f"KFACLayer({self.name}, {self.d_in} -> {self.d_out}{bias}, "
            f"A {tuple(self.A.shape)}, G {tuple(self.G.shape)})"
        )


def _kfac_apply(factors, idx, inv_perm, v):
    parts = [kron_matvec(A, G, v[i]) for (A, G), i in zip(factors, idx, strict=True)]
    return jnp.concatenate(parts)[inv_perm]


def _kfac_inverse_apply(eigs, idx, inv_perm, damping, v):
    parts = []
    for (la, QA, lg, QG), i in zip(eigs, idx, strict=True):
        V = v[i].reshape(la.shape[0], lg.shape[0])
        W = (QA.T @ V @ QG) / (la[:, None] * lg[None, :] + damping)
        parts.append((QA @ W @ QG.T).reshape(-1))
    return jnp.concatenate(parts)[inv_perm]


@dataclasses.dataclass(frozen=True)
class _KFACFactory(SelectedLeavesFactory):
    """K-FAC's matvec; dynamic ``(params, factors, idx, inv_perm)``.

    The static half is only the mask of covered leaves, so a fresh K-FAC of the
    same model shapes reuses every compiled program (see ``_operator``).
    """

    mask: tuple[bool, ...]

    def prepare(self, dynamic: Any) -> Callable[[jax.Array], jax.Array]:
        _, factors, idx, inv_perm = dynamic
        return lambda v: _kfac_apply(factors, idx, inv_perm, v)


@dataclasses.dataclass(frozen=True)
class _KFACInverseFactory(_KFACFactory):
    """``(K + d I)^{-1}``; dynamic ``(params, eigs, idx, inv_perm, d)``."""

    def prepare(self, dynamic: Any) -> Callable[[jax.Array], jax.Array]:
        _, eigs, idx, inv_perm, d = dynamic
        return lambda v: _kfac_inverse_apply(eigs, idx, inv_perm, d, v)


class KFACOperator(LinearOperator):
    """The K-FAC approximation of a Fisher, block-diagonal over dense layers.

    Built by :func:`kfac_operator`. Besides the :class:`LinearOperator`
    interface (matvec through :func:`jaxmc.vec.kron_matvec`), it knows its
    factors and gives its spectrum, inverse and log-determinant exactly.

    Attributes:
      layers: the :class:`KFACLayer` blocks, in the order of the flat vector's
        first parameter of each.
      param_filter: a pytree of bools shaped like ``params``: True on the
        leaves the operator covers (pass it to :func:`fisher_operator` to
        compare on the same parameters).
    """

    layers: tuple[KFACLayer, ...]
    param_filter: Any

    @classmethod
    def build(cls, layers, idx, mask, tree, param_filter, dtype) -> KFACOperator:
        """The operator from its layers and their flat index blocks (internal)."""
        idx = [jnp.asarray(i) for i in idx]
        perm = np.concatenate([np.asarray(i) for i in idx])
        inv = np.empty_like(perm)
        inv[perm] = np.arange(perm.size)
        inv_perm = jnp.asarray(inv)
        factors = [(layer.A, layer.G) for layer in layers]
        op = cls.from_factory(
            _KFACFactory(tuple(mask)),
            (tree, factors, idx, inv_perm),
            size=int(perm.size),
            dtype=dtype,
            name="KFACOperator",
        )
        op.layers = tuple(layers)
        op.param_filter = param_filter
        op._idx, op._inv_perm, op._tree, op._mask = idx, inv_perm, tree, tuple(mask)
        op._eigs = None
        return op

    def _factor_eigs(self):
        if getattr(self, "_eigs", None) is None:
            eigs = []
            for layer in self.layers:
                la, QA = jnp.linalg.eigh(layer.A)
                lg, QG = jnp.linalg.eigh(layer.G)
                eigs.append((la, QA, lg, QG))
            self._eigs = eigs
        return self._eigs

    def eigenvalues(self) -> jax.Array:
        """All ``P`` eigenvalues, exactly: ``{a_i g_j}`` over every layer.

        Returns:
          The eigenvalues ``(P,)`` in decreasing order (the products of the
          eigenvalues of each layer's ``A`` and ``G``, from ``eigh``).
        """
        vals = [jnp.outer(la, lg).reshape(-1) for la, _, lg, _ in self._factor_eigs()]
        return -jnp.sort(-jnp.concatenate(vals))

    def layer_eigenvalues(self) -> dict[str, jax.Array]:
        """Each layer's eigenvalues, decreasing.

        Returns:
          A dict from the layer's name to its ``(d_in' d_out,)`` eigenvalues.
        """
        return {
            layer.name: -jnp.sort(-jnp.outer(la, lg).reshape(-1))
            for layer, (la, _, lg, _) in zip(
                self.layers, self._factor_eigs(), strict=True
            )
        }

    def _check_damping(self, fn: str, damping: Any) -> Any:
        if _checks.is_concrete(damping):
            d = float(damping)
            if not d >= 0:
                msg = f"{fn}: argument `damping` must be >= 0; got {d}."
                raise ValueError(msg)
        return jnp.asarray(damping, self.dtype)

    def inverse(self, damping: float = 0.0) -> LinearOperator:
        """The exact inverse of ``K + damping I``, as an operator.

        ``(A kron G + d I)^{-1} = (Q_A kron Q_G) (L_A kron L_G + d I)^{-1}
        (Q_A kron Q_G)^T`` per layer, from the factors' eigendecompositions.

        Args:
          damping: ``d >= 0`` added to every eigenvalue (``d = 0`` needs every
            factor to be non-singular).

        Returns:
          A :class:`LinearOperator` of the same size whose matvec solves
          ``(K + d I) x = v`` exactly.
        """
        d = self._check_damping("KFACOperator.inverse", damping)
        if _checks.is_concrete(d):
            low = float(jnp.min(jnp.abs(self.eigenvalues()))) + float(d)
            if low == 0.0:
                msg = (
                    "KFACOperator.inverse: the operator is singular (an "
                    "eigenvalue is 0); pass damping > 0."
                )
                raise ValueError(msg)
        return LinearOperator.from_factory(
            _KFACInverseFactory(self._mask),
            (self._tree, self._factor_eigs(), self._idx, self._inv_perm, d),
            size=self.size,
            dtype=self.dtype,
            name="KFACInverse",
        )

    def logdet(self, damping: float = 0.0) -> jax.Array:
        """The exact ``log det(K + damping I) = sum log(a_i g_j + damping)``.

        Args:
          damping: ``d >= 0`` added to every eigenvalue.

        Returns:
          The log-determinant, a scalar.

        Raises:
          ValueError: if ``K + d I`` is not positive definite (on concrete
            values).
        """
        fn = "KFACOperator.logdet"
        d = self._check_damping(fn, damping)
        shifted = self.eigenvalues() + d
        if _checks.is_concrete(shifted) and float(jnp.min(shifted)) <= 0:
            msg = (
                f"{fn}: K + damping I is not positive definite (smallest "
                f"eigenvalue {float(jnp.min(shifted)):.3e}); pass damping > 0."
            )
            raise ValueError(msg)
        return jnp.sum(jnp.log(shifted))

    def __repr__(self) -> str:
        return (
            f"KFACOperator(size={self.size}, dtype={self.dtype}, "
            f"layers={len(self.layers)})"
        )


def _rows(x: jax.Array, axis: int) -> jax.Array:
    """``x`` with ``axis`` moved last, flattened to rows ``(M, x.shape[axis])``."""
    x = jnp.moveaxis(x, axis, -1)
    return x.reshape(-1, x.shape[-1])


@dataclasses.dataclass(frozen=True)
class _Spec:
    """What the factor computation depends on, besides arrays (hashable).

    The jitted :func:`_batch_sums` is keyed on it, so a fresh operator of the
    same model at new parameters or data of the same shapes compiles nothing.
    """

    model_fn: Callable
    treedef: Any
    likelihood: str
    mc_samples: int | None
    noise_scale: float
    layers: tuple[tuple[tuple[int, ...], bool], ...]  # (uses, has bias) per layer

    def model_flat(self, leaves, batch):
        return self.model_fn(jax.tree_util.tree_unflatten(self.treedef, leaves), batch)


@functools.partial(_xla.jit, static_argnums=0)
def _batch_sums(spec: _Spec, leaves, batch, key):
    """Per-layer ``(sum a a^T, sum g g^T, rows)`` over one batch."""
    closed = kt.trace_model(spec.model_flat, leaves, batch)
    rec = kt.discover(closed, leaves, batch)
    eps0 = [jnp.zeros(u.out_shape, u.out_dtype) for u in rec.uses]

    def f(eps):
        r = kt.Recorder(eps)
        out = kt.run(closed, leaves, batch, r)[0]
        return out, r.acts

    out, vjp, acts = jax.vjp(f, eps0, has_aux=True)
    U = lk.pseudo_gradients(
        out, spec.likelihood, spec.mc_samples, key, spec.noise_scale
    )
    grads = jax.vmap(lambda u: vjp(u)[0])(U.astype(out.dtype))
    sums = []
    for uses, has_bias in spec.layers:
        A = 0.0
        G = 0.0
        rows = 0
        for u in uses:
            use = rec.uses[u]
            a = _rows(acts[u], use.act_contract)
            if has_bias:
                a = jnp.concatenate([a, jnp.ones((a.shape[0], 1), a.dtype)], 1)
            A = A + a.T @ a
            rows += a.shape[0]
            feat = 0 if use.weight_is_lhs else len(use.out_shape) - 1
            g = _rows(grads[u], feat + 1)  # (K M, d_out)
            G = G + g.T @ g
        sums.append((A, G, rows))
    return sums


def kfac_operator(
    model_fn: Callable[[Any, Any], jax.Array],
    params: Any,
    data: Any,
    *,
    likelihood: str = "categorical",
    mc_samples: int | None = None,
    key: jax.Array | None = None,
    noise_scale: float = 1.0,
    batch_size: int | None = None,
    param_filter: Any = None,
    progress: bool = True,
) -> KFACOperator:
    r"""K-FAC for the dense layers of a model: ``A kron G`` per layer.

    ``A`` is the second moment of the layer's inputs with a ones column for the
    bias, ``G`` that of the gradients of ``-log p(y | f)`` in the layer's
    outputs, with ``y`` drawn from the model's predictive distribution (see
    the module docstring for the definitions and the vectorisation). The
    factors are computed once, in one pass over the data; matvecs, the whole
    spectrum, the inverse and the log-determinant need no further pass.

    Layers are found by tracing ``model_fn`` (no change to it is needed): a
    dense layer is a matrix product of an activation with a 2-D parameter
    (``x @ W``, ``x @ W.T``, flax ``nn.Dense``), its bias a 1-D parameter
    added to the product. Parameters outside dense layers (normalisation
    scales, embeddings) are not covered: the operator's ``unravel`` puts
    zeros there, and ``op.param_filter`` marks the covered leaves.

    On a batch of one example with one position per layer, ``A kron G`` is
    exactly the Fisher's diagonal block of each layer.

    Args:
      model_fn: ``model_fn(params, batch) -> outputs``: logits ``(n, C)`` for
        ``"categorical"``, means ``(n, D)`` or ``(n,)`` for ``"gaussian"``.
      params: the parameter pytree.
      data: as in :func:`hessian_operator` (in memory, batched or streamed).
      likelihood: ``"categorical"`` (softmax of the logits) or ``"gaussian"``
        (unit variance times ``noise_scale**2``).
      mc_samples: None: the exact expectation over labels (``C`` backward
        passes per batch for ``C`` classes); an int ``S``: ``S`` labels
        sampled per example with ``key`` (the Monte-Carlo K-FAC).
      key: the PRNG key for ``mc_samples`` (required then).
      noise_scale: the Gaussian likelihood's standard deviation.
      batch_size: as in :func:`hessian_operator`.
      param_filter: as in :func:`hessian_operator`; a layer is kept when its
        weight is selected, its bias when the bias is selected too.
      progress: a progress bar over streamed batches.

    Returns:
      A :class:`KFACOperator` of size ``P`` (the parameters of the kept
      layers), with ``.layers``, ``.eigenvalues()``, ``.inverse(damping)`` and
      ``.logdet(damping)``.

    Raises:
      ValueError: for an unknown likelihood, outputs of the wrong shape,
        ``mc_samples`` without a key, a model with no dense layer, or a
        ``param_filter`` that keeps none.
      TypeError: for non-callable ``model_fn`` or a bad ``data`` form.

    >>> import jax, jax.numpy as jnp
    >>> from jaxmc.spectrum import kfac_operator
    >>> def model(p, x):
    ...     return jnp.tanh(x @ p["w1"] + p["b1"][None, :]) @ p["w2"]
    >>> k = jax.random.split(jax.random.key(0), 3)
    >>> params = {"w1": jax.random.normal(k[0], (3, 4)), "b1": jnp.zeros(4),
    ...           "w2": jax.random.normal(k[1], (4, 2))}
    >>> op = kfac_operator(model, params, jax.random.normal(k[2], (8, 3)))
    >>> [(layer.weight, layer.A.shape, layer.G.shape) for layer in op.layers]
    [("['w1']", (4, 4), (4, 4)), ("['w2']", (4, 4), (2, 2))]
    >>> op.eigenvalues().shape
    (24,)
    """
    fn = "jaxmc.spectrum.kfac_operator"
    _checks.check_callable(fn, "model_fn", model_fn)
    mc_samples, key, noise_scale = lk.check_options(
        fn, likelihood, mc_samples, key, noise_scale
    )
    pm = _Params(fn, params, param_filter)
    treedef, leaves, paths, mask = pm.treedef, pm.leaves, pm.paths, pm.mask
    dm = _Data(fn, data, batch_size)
    lk.check_model(fn, likelihood, model_fn, pm.tree, dm.first)

    def model_flat(lv, batch):
        return model_fn(jax.tree_util.tree_unflatten(treedef, lv), batch)

    closed = kt.trace_model(model_flat, leaves, dm.first)
    rec = kt.discover(closed, leaves, dm.first)
    if not rec.uses:
        msg = (
            f"{fn}: found no dense layer in `model_fn`: K-FAC needs a matrix "
            f"product of an activation with a 2-D parameter (x @ W, x @ W.T, "
            f"flax nn.Dense). Use fisher_operator for other models."
        )
        raise ValueError(msg)
    # Layers: one per weight leaf (in the order first used), kept by the filter.
    weights = list(dict.fromkeys(u.weight for u in rec.uses if mask[u.weight]))
    if not weights:
        msg = f"{fn}: argument `param_filter` keeps no dense layer's weight."
        raise ValueError(msg)
    bias_of = {}
    for w in weights:
        found = set()
        for i, u in enumerate(rec.uses):
            if u.weight == w:
                found |= rec.biases.get(i, set())
        found = {b for b in found if mask[b] and b not in weights}
        bias_of[w] = next(iter(found)) if len(found) == 1 else None

    dtype = jnp.result_type(*[leaves[w] for w in weights])
    covered = sorted(set(weights) | {b for b in bias_of.values() if b is not None})
    cover_mask = [i in covered for i in range(len(leaves))]
    cover_tree = jax.tree_util.tree_unflatten(treedef, cover_mask)
    offsets, pos = {}, 0
    for i in covered:
        offsets[i] = pos
        pos += leaves[i].size

    info = []  # (weight, cw, d_in, d_out, bias)
    idx = []
    for w in weights:
        cw = next(u.weight_contract for u in rec.uses if u.weight == w)
        shape = leaves[w].shape
        d_in, d_out = shape[cw], shape[1 - cw]
        block = offsets[w] + np.arange(leaves[w].size).reshape(shape)
        if cw == 1:
            block = block.T
        b = bias_of[w]
        if b is not None:
            block = np.vstack([block, offsets[b] + np.arange(d_out)[None, :]])
        idx.append(block.reshape(-1))
        info.append((w, d_in, d_out, b))

    spec = _Spec(
        model_fn=model_fn,
        treedef=treedef,
        likelihood=likelihood,
        mc_samples=mc_samples,
        noise_scale=noise_scale,
        layers=tuple(
            (tuple(i for i, u in enumerate(rec.uses) if u.weight == w), b is not None)
            for w, _, _, b in info
        ),
    )
    totals = None
    count = 0
    for i, batch in enumerate(dm.batches("K-FAC factors", progress)):
        n = _leading_size(fn, "data", batch)
        bkey = None if key is None else jax.random.fold_in(key, i)
        sums = _batch_sums(spec, leaves, batch, bkey)
        if totals is None:
            totals = [[A, G, r] for A, G, r in sums]
        else:
            for t, (A, G, r) in zip(totals, sums, strict=True):
                t[0], t[1], t[2] = t[0] + A, t[1] + G, t[2] + r
        count += n
    layers = []
    for (w, d_in, d_out, b), (A, G, rows) in zip(info, totals, strict=True):
        layers.append(
            KFACLayer(
                name=paths[w] or "<root>",
                weight=paths[w] or "<root>",
                bias=None if b is None else paths[b],
                d_in=int(d_in),
                d_out=int(d_out),
                uses=len(spec.layers[len(layers)][0]),
                A=(A / rows).astype(dtype),
                G=(G / count).astype(dtype),
            )
        )
    # Order the flat vector's blocks as the operator's parameters (leaf order).
    return KFACOperator.build(layers, idx, cover_mask, pm.tree, cover_tree, dtype)
