"""Per-layer Hessian spectra: top eigenvalues, trace and density per parameter block."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmc import _checks
from jaxmc.spectrum import _io, _params
from jaxmc.spectrum._density import (
    SpectralDensity,
    exact_density,
    spectral_density,
)

__all__ = ["LayerSpectra", "LayerSpectrum", "layer_spectra"]


@dataclasses.dataclass(frozen=True)
class LayerSpectrum:
    """The spectrum of one diagonal block of the Hessian.

    Attributes:
      name: the block's name (its key path, e.g. ``[0]`` or ``['dense_1']``).
      size: the number of parameters in the block.
      top: the largest eigenvalues ``(k,)`` of the block, descending (NaN where
        the block has fewer than ``k`` parameters).
      trace: the estimated trace of the block, ``()``.
      trace_stderr: the standard error of ``trace`` (0 when exact), ``()``.
      density: the block's :class:`SpectralDensity`, the top eigenvalues
        deflated as outliers.
    """

    name: str
    size: int
    top: jax.Array
    trace: jax.Array
    trace_stderr: jax.Array
    density: SpectralDensity
    to_dict = _io.to_dict_method
    save = _io.save_method

    @property
    def ok(self) -> jax.Array:
        """True when the row's values are finite (jittable).

        ``top`` may hold NaN by design where the block has fewer than ``k``
        parameters; only its first ``min(k, size)`` entries are tested.
        """
        top = self.top[: min(self.top.shape[0], self.size)]
        return (
            jnp.all(jnp.isfinite(top))
            & jnp.isfinite(self.trace)
            & jnp.isfinite(self.trace_stderr)
            & self.density.ok
        )


@dataclasses.dataclass(frozen=True)
class LayerSpectra:
    """A table of per-block Hessian spectra, one :class:`LayerSpectrum` per row.

    Iterate over it, index it by position or name, or ``print`` it.

    Attributes:
      layers: the rows, in parameter (leaf) order.
    """

    layers: tuple[LayerSpectrum, ...]
    to_dict = _io.to_dict_method
    save = _io.save_method

    def __iter__(self) -> Iterator[LayerSpectrum]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def ok(self) -> jax.Array:
        """True when every row is finite (:attr:`LayerSpectrum.ok`; jittable).

        Under ``jax.jit`` non-finite values pass without an error: test
        ``result.ok``, or ``jax.experimental.checkify.check(result.ok, ...)``.
        """
        return jnp.all(jnp.stack([row.ok for row in self.layers]))

    def __getitem__(self, i: int | str) -> LayerSpectrum:
        if isinstance(i, str):
            for row in self.layers:
                if row.name == i:
                    return row
            names = ", ".join(row.name for row in self.layers)
            msg = f"LayerSpectra: no block named {i!r}; blocks are {names}."
            raise KeyError(msg)
        return self.layers[i]

    def table(self) -> str:
        """The table as text: block, size, top eigenvalue(s), trace +- stderr."""
        head = ["block", "params", "top eigenvalues", "trace", "+-"]
        rows = []
        for r in self.layers:
            top = ", ".join(f"{float(t):.4g}" for t in np.asarray(r.top))
            rows.append(
                [
                    r.name,
                    str(r.size),
                    top,
                    f"{float(r.trace):.4g}",
                    f"{float(r.trace_stderr):.2g}",
                ]
            )
        cells = [head, *rows]
        widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
            for row in cells
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(line.rstrip() for line in lines)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        return f"LayerSpectra(\n{self.table()}\n)"


def _auto_blocks(params: Any) -> dict[str, Callable[[Any, Any], bool]]:
    """Groups leaves by their key path without its last entry (weights + biases)."""
    groups = _params.layer_groups(params)
    return {name: _path_in(frozenset(keys)) for name, keys in groups.items()}


def _leaf_blocks(params: Any) -> dict[str, Callable[[Any, Any], bool]]:
    """One block per leaf, named by its key path."""
    paths = [p for p, _ in jax.tree_util.tree_leaves_with_path(params)]
    return {
        jax.tree_util.keystr(p): _path_in(frozenset([jax.tree_util.keystr(p)]))
        for p in paths
    }


def _path_in(keys: frozenset[str]) -> Callable[[Any, Any], bool]:
    def select(path: Any, leaf: Any) -> bool:
        return jax.tree_util.keystr(path) in keys

    return select


def layer_spectra(
    loss_fn: Callable[[Any, Any], jax.Array],
    params: Any,
    data: Any,
    /,
    *,
    key: jax.Array,
    k: int = 1,
    blocks: str | dict[str, Any] = "layers",
    num_runs: int = 10,
    lanczos_steps: int = 80,
    batch_size: int | None = None,
) -> LayerSpectra:
    r"""The spectrum of each diagonal block of the Hessian, in one call.

    For each block ``b`` of parameters, the block ``H_bb`` of the Hessian of the
    dataset-mean loss (:func:`hessian_operator` with ``param_filter``) is
    analysed by :func:`spectral_density` with ``deflate=k``: its top ``k``
    eigenvalues to full Lanczos accuracy, the density of the rest, and the
    trace

        tr H_bb = sum_{i <= k} lambda_i + n_b E[v^T P H_bb P v],

    the deflated part estimated from the same quadrature (Hutchinson on the
    bulk with ``num_runs`` Rademacher probes; its standard error from their
    spread). Blocks with at most ``lanczos_steps + k`` parameters are
    decomposed densely from ``n_b`` matvecs instead: their top eigenvalues,
    trace (standard error 0) and density (the exact eigenvalues smoothed, one
    "run") are exact.

    Args:
      loss_fn: ``loss_fn(params, batch) -> scalar``, the mean loss over a batch.
      params: a pytree of floating arrays. With float16 or bfloat16
        parameters the Hessian's matvec is 16-bit and everything else (the
        small blocks' eigendecomposition, SLQ) runs in float32: values are
        float32.
      data: the data, as for :func:`hessian_operator`.
      key: a PRNG key (one subkey per block); deterministic given it.
      k: the number of top eigenvalues per block.
      blocks: ``"layers"`` (leaves grouped by their key path minus the last
        entry, so a layer's weight and bias form one block; one block per leaf
        when that leaves a single group), ``"leaves"`` (one block per leaf), or a
        dict ``name -> param_filter`` (as in :func:`hessian_operator`).
      num_runs: SLQ runs per block.
      lanczos_steps: Lanczos steps per run.
      batch_size: passed to :func:`hessian_operator`.

    Returns:
      A :class:`LayerSpectra` table, one :class:`LayerSpectrum` per block:
      ``name``, ``size``, ``top`` ``(k,)``, ``trace``, ``trace_stderr``,
      ``density``. ``print`` shows it as text.

    Raises:
      ValueError: for an unknown ``blocks`` string, an empty dict, ``k < 1``.
      TypeError: for a wrong ``key`` or ``blocks`` type; and whatever
        :func:`hessian_operator` raises for bad ``loss_fn``/``params``/``data``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from jaxmc.spectrum import layer_spectra
      >>> params = {"a": jnp.array([1.0, 2.0]), "b": jnp.array([3.0])}
      >>> loss = lambda p, x: jnp.mean(x) * (jnp.sum(p["a"] ** 2) + p["b"][0] ** 2)
      >>> table = layer_spectra(loss, params, jnp.ones((4, 1)), key=jax.random.key(0))
      >>> [round(float(r.top[0]), 6) for r in table]
      [2.0, 2.0]
    """
    from jaxmc.spectrum._hessian import hessian_operator

    fn = "jaxmc.spectrum.layer_spectra"
    params, loss_fn, _ = _params.adapt_params(fn, params, loss_fn)
    key = _checks.check_key(fn, "key", key)
    k = _checks.static_int(fn, "k", k, minimum=1)
    if isinstance(blocks, str):
        _checks.check_one_of(fn, "blocks", blocks, ("layers", "leaves"))
        named = _auto_blocks(params) if blocks == "layers" else _leaf_blocks(params)
    elif isinstance(blocks, dict):
        if not blocks:
            msg = f"{fn}: argument `blocks` must name at least one block; got {{}}."
            raise ValueError(msg)
        named = dict(blocks)
    else:
        msg = (
            f"{fn}: argument `blocks` must be 'layers', 'leaves' or a dict "
            f"name -> param_filter; got {type(blocks).__name__}."
        )
        raise TypeError(msg)

    rows = []
    keys = jax.random.split(key, len(named))
    for (name, flt), bkey in zip(named.items(), keys, strict=True):
        op = hessian_operator(
            loss_fn, params, data, batch_size=batch_size, param_filter=flt
        )
        n = op.size
        if n <= lanczos_steps + k:
            # Small block: n matvecs give it exactly (SLQ would spend more).
            dense = op.to_dense()  # 16-bit: eigvalsh in float32 (no LAPACK)
            wide = jnp.promote_types(dense.dtype, jnp.float32)
            evals = jnp.linalg.eigvalsh(dense.astype(wide))
            dens = exact_density(evals, min(k, n - 1))
            pad = jnp.full((max(k - n, 0),), jnp.nan, evals.dtype)
            top = jnp.concatenate([evals[::-1][:k], pad])
            trace = jnp.sum(evals)
            stderr = jnp.zeros((), evals.dtype)
        else:
            dens = spectral_density(
                op,
                key=bkey,
                num_runs=num_runs,
                lanczos_steps=lanczos_steps,
                deflate=k,
            )
            top = dens.outliers
            per_run = n * jnp.sum(dens.weights * dens.nodes, axis=1)
            trace = jnp.sum(top) + jnp.mean(per_run)
            runs = per_run.shape[0]
            stderr = (
                jnp.std(per_run, ddof=1) / math.sqrt(runs)
                if runs > 1
                else jnp.full((), jnp.nan, per_run.dtype)
            )
        rows.append(
            LayerSpectrum(
                name=name,
                size=n,
                top=top,
                trace=trace,
                trace_stderr=stderr,
                density=dens,
            )
        )
    return LayerSpectra(layers=tuple(rows))
