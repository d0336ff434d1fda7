"""Predictive likelihoods of a model's outputs, for Fisher matrices and K-FAC.

A likelihood turns the model's output ``f`` for one example into a
distribution ``p(y | f)``:

* ``"categorical"``: ``f`` are logits ``(C,)``, ``p = softmax(f)``. The Fisher
  of ``-log p(y | f)`` in ``f`` is ``diag(p) - p p^T``.
* ``"gaussian"``: ``f`` is a mean ``(D,)`` (or a scalar), ``y ~ N(f,
  sigma^2 I)`` with ``sigma = noise_scale``. Its Fisher in ``f`` is
  ``I / sigma^2``.

Both Fishers are written as sums of outer products of *pseudo-gradients*
``u_k`` (vectors in output space): ``F_f = sum_k u_k u_k^T``. For the exact
expectation over labels (``mc_samples=None``) they are the columns of a square
root (``u_c = sqrt(p_c) (e_c - p)`` and ``u_d = e_d / sigma``); for the
Monte-Carlo Fisher they are the gradients ``grad_f -log p(y_s | f)`` at
``S`` sampled labels, scaled by ``1/sqrt(S)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxmc import _checks
from jaxmc.spectrum import _hessian as _h

LIKELIHOODS = ("categorical", "gaussian")


def check_options(
    fn: str, likelihood: Any, mc_samples: Any, key: Any, noise_scale: Any
) -> tuple[int | None, jax.Array | None, float]:
    """Validates the likelihood options; returns (mc_samples, key, noise_scale)."""
    if not isinstance(likelihood, str) or likelihood not in LIKELIHOODS:
        msg = (
            f"{fn}: argument `likelihood` must be one of 'categorical' (logits, "
            f"softmax) or 'gaussian' (means, noise_scale); got {likelihood!r}."
        )
        raise ValueError(msg)
    if mc_samples is not None:
        mc_samples = _checks.static_int(fn, "mc_samples", mc_samples, minimum=1)
        if key is None:
            msg = (
                f"{fn}: argument `mc_samples={mc_samples}` draws labels at random "
                f"and needs a PRNG key; pass key=jax.random.key(seed), or "
                f"mc_samples=None for the exact expectation over labels."
            )
            raise ValueError(msg)
        key = _checks.check_key(fn, "key", key)
    try:
        noise_scale = float(noise_scale)
    except (TypeError, ValueError):
        msg = (
            f"{fn}: argument `noise_scale` must be a positive float; got "
            f"{type(noise_scale).__name__} {noise_scale!r}."
        )
        raise TypeError(msg) from None
    if not noise_scale > 0:
        msg = f"{fn}: argument `noise_scale` must be > 0; got {noise_scale}."
        raise ValueError(msg)
    return mc_samples, key, noise_scale


def check_outputs(fn: str, likelihood: str, out: Any, num_examples: int) -> None:
    """Raises unless ``out`` (shapes only) suits the likelihood."""
    if not hasattr(out, "shape") or not hasattr(out, "dtype"):
        msg = (
            f"{fn}: `model_fn` must return one array of outputs; got "
            f"{type(out).__name__}."
        )
        raise TypeError(msg)
    shape = tuple(out.shape)
    if likelihood == "categorical":
        ok = len(shape) == 2 and shape[0] == num_examples and shape[1] >= 2
        expected = f"logits of shape (batch, classes) = ({num_examples}, C >= 2)"
    else:
        ok = len(shape) in (1, 2) and shape[0] == num_examples
        expected = f"means of shape ({num_examples},) or ({num_examples}, D)"
    if not ok:
        msg = (
            f"{fn}: with likelihood={likelihood!r}, `model_fn` must return "
            f"{expected} for a batch of {num_examples} examples; got shape {shape}."
        )
        raise ValueError(msg)
    if not jnp.issubdtype(out.dtype, jnp.floating):
        msg = f"{fn}: `model_fn` must return floating outputs; got {out.dtype}."
        raise TypeError(msg)


def check_model(
    fn: str, likelihood: str, model_fn: Callable, params: Any, batch: Any
) -> None:
    """Raises unless ``model_fn(params, batch)`` evaluates and suits the likelihood.

    ``batch`` is the first batch of the data (arrays or their shapes).
    """
    out = _h._eval_on_first(fn, "model_fn", model_fn, params, batch)
    check_outputs(fn, likelihood, out, _h._leading_size(fn, "data", batch))


def sample_noise(
    likelihood: str, key: jax.Array, shape: tuple[int, ...], dtype: Any
) -> jax.Array:
    """The noise that draws labels: Gumbel (categorical) or Gaussian noise.

    See :func:`pseudo_gradients_from_noise`; for a categorical likelihood the
    last axis of ``shape`` is the classes'.
    """
    if likelihood == "categorical":
        return jax.random.gumbel(key, shape, dtype)
    return jax.random.normal(key, shape, dtype)


def pseudo_gradients_from_noise(
    out: jax.Array, noise: jax.Array, likelihood: str, noise_scale: float
) -> jax.Array:
    """Monte-Carlo pseudo-gradients ``(S, *out.shape)`` from drawn noise.

    ``noise`` is ``(S, *out.shape)`` from :func:`sample_noise`. A categorical
    label is ``y = argmax(f + g)`` for Gumbel noise ``g`` (the Gumbel-max
    trick, as ``jax.random.categorical``), with gradient ``p - e_y``; a
    Gaussian label is ``y = f + sigma z``, with gradient ``(f - y) / sigma^2 =
    -z / sigma``. Each is scaled by ``1/sqrt(S)``.
    """
    out = jax.lax.stop_gradient(out)
    dtype = out.dtype
    scale = jnp.sqrt(jnp.asarray(noise.shape[0], dtype))
    noise = noise.astype(dtype)
    if likelihood == "categorical":
        p = jax.nn.softmax(out, axis=-1)
        y = jnp.argmax(out[None] + noise, axis=-1)
        onehot = jax.nn.one_hot(y, out.shape[-1], dtype=dtype)
        return (p[None] - onehot) / scale
    return -noise / (noise_scale * scale)


def pseudo_gradients(
    out: jax.Array,
    likelihood: str,
    mc_samples: int | None,
    key: jax.Array | None,
    noise_scale: float,
) -> jax.Array:
    """Vectors ``u_k`` with ``sum_k u_k u_k^T`` the output Fisher, per example.

    Args:
      out: the model outputs, ``(n, C)`` (or ``(n,)`` for a scalar Gaussian).
      likelihood: ``"categorical"`` or ``"gaussian"``.
      mc_samples: None for the exact Fisher, else the number of sampled labels.
      key: the PRNG key for the samples (used only when ``mc_samples`` is set).
      noise_scale: the Gaussian's standard deviation.

    Returns:
      ``(K, *out.shape)``: ``K = C`` (exact) or ``K = mc_samples``; the sampled
      ones are scaled by ``1/sqrt(S)``, so the sum over ``k`` is the Fisher
      (exact) or its Monte-Carlo estimate.
    """
    out = jax.lax.stop_gradient(out)
    dtype = out.dtype
    if mc_samples is not None:
        noise = sample_noise(likelihood, key, (mc_samples, *out.shape), dtype)
        return pseudo_gradients_from_noise(out, noise, likelihood, noise_scale)
    if likelihood == "categorical":
        p = jax.nn.softmax(out, axis=-1)
        C = out.shape[-1]
        eye = jnp.eye(C, dtype=dtype)
        # u_c = sqrt(p_c) (e_c - p): sum_c u_c u_c^T = diag(p) - p p^T.
        return jnp.sqrt(p).T[:, :, None] * (eye[:, None, :] - p[None])
    inv = jnp.asarray(1.0 / noise_scale, dtype)
    if out.ndim == 1:
        return jnp.full((1, *out.shape), inv, dtype)
    D = out.shape[-1]
    eye = jnp.eye(D, dtype=dtype)
    return jnp.broadcast_to(eye[:, None, :], (D, *out.shape)) * inv


def output_fisher_apply(
    out: jax.Array, U: jax.Array | None, likelihood: str, noise_scale: float
):
    """Returns ``t -> F_f t`` per example, for tangents ``t`` shaped like ``out``.

    With ``U`` (pseudo-gradients from :func:`pseudo_gradients`), ``F_f = sum_k
    u_k u_k^T``; without, the exact Fisher in closed form.
    """
    out = jax.lax.stop_gradient(out)
    if U is not None:
        axes = tuple(range(2, U.ndim))

        def apply(t):
            c = jnp.sum(U * t[None], axis=axes, keepdims=True)
            return jnp.sum(U * c, axis=0)

        return apply
    if likelihood == "categorical":
        p = jax.nn.softmax(out, axis=-1)

        def apply(t):
            return p * t - p * jnp.sum(p * t, axis=-1, keepdims=True)

        return apply
    scale = jnp.asarray(1.0 / noise_scale**2, out.dtype)
    return lambda t: t * scale
