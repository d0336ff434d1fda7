"""The tanh-MLP classification problem of the benchmarks (not in the package).

Used by ``spectrum_tracking.py`` and ``spectrum_pyhessian.py`` (the same data,
weights and loss in JAX and, for PyHessian, in PyTorch) and, as a model and an
output loss, by ``curvature_kfac.py`` and ``curvature_matvec.py``. jax and
torch are imported inside the functions, so a script can set its environment
first.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np


def classification_problem(
    sizes: Sequence[int], examples: int, seed: int = 0
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray, np.ndarray]:
    """Initial weights and Gaussian-cluster data, in NumPy (float64).

    Returns ``(W, B, X, y)``: ``W[i]`` ``(sizes[i], sizes[i + 1])`` scaled by
    ``1/sqrt(fan-in)``, biases ``B[i]``, inputs ``X`` ``(examples, sizes[0])``
    around one centre per class and labels ``y`` in ``range(sizes[-1])``.
    """
    rng = np.random.default_rng(seed)
    W = [
        rng.standard_normal((a, b)) / np.sqrt(a)
        for a, b in zip(sizes, sizes[1:], strict=False)
    ]
    B = [0.1 * rng.standard_normal(b) for b in sizes[1:]]
    centers = 1.5 * rng.standard_normal((sizes[-1], sizes[0]))
    y = rng.integers(0, sizes[-1], examples)
    X = centers[y] + rng.standard_normal((examples, sizes[0]))
    return W, B, X, y


def loss(params: Any, batch: Any) -> Any:
    """Mean softmax cross-entropy of the tanh MLP; ``params`` a list of ``(w, b)``."""
    import jax
    import jax.numpy as jnp

    x, labels = batch
    for w, b in params[:-1]:
        x = jnp.tanh(x @ w + b)
    w, b = params[-1]
    logits = x @ w + b
    picked = jnp.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
    return jnp.mean(jax.nn.logsumexp(logits, axis=1) - picked)


def model(params: Any, batch: Any) -> Any:
    """The tanh MLP's logits ``(n, C)``; ``params`` a list of ``{"w", "b"}``."""
    import jax.numpy as jnp

    x = batch[0]
    for layer in params[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"][None, :])
    return x @ params[-1]["w"] + params[-1]["b"][None, :]


def xent(logits: Any, batch: Any) -> Any:
    """Mean softmax cross-entropy of ``logits`` at the labels ``batch[1]``."""
    import jax
    import jax.numpy as jnp

    picked = jnp.take_along_axis(logits, batch[1][:, None], axis=1)[:, 0]
    return jnp.mean(jax.nn.logsumexp(logits, axis=1) - picked)


def torch_mlp(W: Sequence[np.ndarray], B: Sequence[np.ndarray]) -> Any:
    """The same MLP as a float32 ``torch.nn.Sequential`` (Linear, Tanh, ...)."""
    import torch

    layers = []
    for i, (w, b) in enumerate(zip(W, B, strict=True)):
        lin = torch.nn.Linear(w.shape[0], w.shape[1])
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(w.T, dtype=torch.float32))
            lin.bias.copy_(torch.tensor(b, dtype=torch.float32))
        layers.append(lin)
        if i < len(W) - 1:
            layers.append(torch.nn.Tanh())
    return torch.nn.Sequential(*layers)


def count_pyhessian_hvps() -> list[int]:
    """Counts PyHessian's Hessian-vector products (import pyhessian first).

    Returns:
      A one-element list, ``[calls]``, incremented by every product; reset it
      by assigning ``count[0] = 0``.
    """
    pyh_module = sys.modules["pyhessian.hessian"]
    hvp, count = pyh_module.hessian_vector_product, [0]

    def counted_hvp(*a):
        count[0] += 1
        return hvp(*a)

    pyh_module.hessian_vector_product = counted_hvp
    return count
