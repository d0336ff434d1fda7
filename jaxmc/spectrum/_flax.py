"""Flax models with state and randomness as ``model_fn(params, batch)``.

Curvature operators differentiate in the parameters only, at fixed state and
fixed randomness, so that the operator is one fixed matrix:

* **BatchNorm**: the statistics are held fixed. Apply the model in evaluation
  mode (``train=False`` / ``use_running_average=True``), so it normalises with
  the running statistics in ``variables["batch_stats"]``, which are held
  constant (never differentiated, never updated). Differentiating through
  batch statistics would couple the examples of a batch and make the
  operator depend on how the data are cut into batches.
* **Dropout**: either off (``deterministic=True``, evaluation mode), or on with
  a fixed ``rngs={"dropout": key}``: every matvec then sees the same masks.
  The mask is drawn per call from the same key, so batches of the same shape
  share one mask pattern. A module that switches BatchNorm and Dropout with
  one ``train`` flag cannot have dropout on with the statistics fixed (flax
  would update them): give it a separate flag (``deterministic``, ``dropout``)
  and pass ``train=False`` and dropout on.

:func:`flax_model_fn` does the bookkeeping.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jaxmc import _checks

__all__ = ["flax_model_fn"]


def _default_inputs(batch: Any) -> Any:
    return batch[0] if isinstance(batch, tuple | list) else batch


def flax_model_fn(
    module: Any,
    variables: Any,
    *,
    inputs: Callable[[Any], Any] | None = None,
    rngs: Any = None,
    **apply_kwargs: Any,
) -> tuple[Callable[[Any, Any], Any], Any]:
    """Splits flax variables into parameters and fixed state; returns ``model_fn``.

    ``model_fn(params, batch) = module.apply({"params": params, **state},
    inputs(batch), rngs=rngs, mutable=False, **apply_kwargs)``, with ``state``
    every collection of ``variables`` except ``"params"`` (BatchNorm's
    ``batch_stats``, ...) held fixed. Pass the module's evaluation flag in
    ``apply_kwargs`` (``train=False``), or ``rngs={"dropout": key}`` with
    dropout on.

    Args:
      module: a ``flax.linen.Module``.
      variables: its variables, from ``module.init`` (and training).
      inputs: maps a data batch to the module's input (default: ``batch[0]``
        for a tuple or list, else the batch itself).
      rngs: the fixed PRNG keys of the module's random collections (e.g.
        ``{"dropout": jax.random.key(0)}``), or None.
      **apply_kwargs: passed to ``module.apply`` (``train=False``, ...).

    Returns:
      ``(model_fn, params)``: ``model_fn(params, batch) -> outputs`` for
      :func:`kfac_operator`, :func:`jacobian_operator`, the Fisher and GGN
      operators, and ``params = variables["params"]``.

    Raises:
      TypeError: if ``module`` has no ``apply`` or ``variables`` has no
        ``"params"`` collection.

    >>> import jax, jax.numpy as jnp, flax.linen as nn
    >>> from jaxmc.spectrum import flax_model_fn
    >>> class Net(nn.Module):
    ...     @nn.compact
    ...     def __call__(self, x, train: bool):
    ...         x = nn.BatchNorm(use_running_average=not train)(nn.Dense(4)(x))
    ...         return nn.Dense(2)(nn.Dropout(0.5, deterministic=not train)(x))
    >>> net = Net()
    >>> x = jnp.ones((3, 5))
    >>> variables = net.init(jax.random.key(0), x, train=False)
    >>> model_fn, params = flax_model_fn(net, variables, train=False)
    >>> model_fn(params, (x, None)).shape, sorted(params)
    ((3, 2), ['BatchNorm_0', 'Dense_0', 'Dense_1'])
    """
    fn = "jaxmc.spectrum.flax_model_fn"
    if not callable(getattr(module, "apply", None)):
        msg = (
            f"{fn}: argument `module` must be a flax.linen.Module (with .apply); "
            f"got {type(module).__name__}."
        )
        raise TypeError(msg)
    if not hasattr(variables, "keys") or "params" not in variables:
        msg = (
            f"{fn}: argument `variables` must be the dict from module.init, with "
            f"a 'params' collection; got {_checks.describe(variables)}"
            + (
                f" with keys {sorted(variables)}."
                if hasattr(variables, "keys")
                else "."
            )
        )
        raise TypeError(msg)
    state = {k: v for k, v in variables.items() if k != "params"}
    get_inputs = _default_inputs if inputs is None else inputs

    def model_fn(params: Any, batch: Any) -> Any:
        return module.apply(
            {"params": params, **state},
            get_inputs(batch),
            rngs=rngs,
            mutable=False,
            **apply_kwargs,
        )

    return model_fn, variables["params"]
