"""Neural-network backpropagation rules, from the seed notes' layers and flashcards.

Upstream gradients are produced by concrete losses (squared error, cross-entropy,
or a linear probe ``L = <G, output>`` whose upstream gradient is exactly ``G``),
so every rule is checked end to end against autodiff.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxmc.identities._record import Identity
from jaxmc.identities._record import Input as In
from jaxmc.identities._sources import SEED_0910, SEED_CH48, SEED_FLASH, SEED_TUTORIAL

__all__ = ["identities"]


def _relu(z):
    return jnp.maximum(z, 0)


def _step(z):
    return (z > 0).astype(z.dtype)


def _sig(z):
    return jax.nn.sigmoid(z)


def _lin_delta(W, x, b, t):
    return W @ x + b - t


def identities() -> list[Identity]:
    """The neural-network rules."""
    fam = "nn"
    lin = (In("W", "m n"), In("x", "n"), In("b", "m"), In("t", "m"))
    lin_loss = r"L = \tfrac12 \|W x + b - t\|^2,\ \delta = W x + b - t"
    act = (In("x", "n"), In("t", "n"))
    layer = (In("W", "m n"), In("x", "n"), In("b", "m"), In("t", "m"))

    def sig_layer_loss(W, x, b, t):
        return 0.5 * jnp.sum((_sig(W @ x + b) - t) ** 2)

    def sig_layer_delta(W, x, b, t):
        a = _sig(W @ x + b)
        return (a - t) * a * (1 - a)

    def relu_sq_loss(W, x, b, t):
        return jnp.sum((_relu(W @ x + b) - t) ** 2)

    def relu_sq_delta(W, x, b, t):
        z = W @ x + b
        return 2 * (_relu(z) - t) * _step(z)

    def example3_loss(W, x, y):
        return 0.5 * jnp.sum((_relu(W @ x) - y) ** 2)

    def example3_delta(W, x, y):
        z = W @ x
        return (_relu(z) - y) * _step(z)

    def two_layer(W1, W2, x, g):
        return g @ (W2 @ _relu(W1 @ x))

    def batched_loss(X, W, b, T):
        return 0.5 * jnp.sum((X @ W.T + b[None, :] - T) ** 2)

    def batched_delta(X, W, b, T):
        return X @ W.T + b[None, :] - T

    def relu_cost(w, b, X, y):
        return jnp.mean((y - _relu(X @ w + b)) ** 2)

    def relu_cost_e(w, b, X, y):
        u = X @ w + b
        return (u - y) * _step(u)

    cost_inputs = (In("w", "n"), In("b", ""), In("X", "p n"), In("y", "p"))
    cost_note = (
        "The flashcard writes the case split outside the sum; the correct form "
        "masks each term: only samples with w.x_i + b > 0 contribute."
    )
    return [
        Identity(
            "nn.linear_dW",
            fam,
            lin_loss,
            r"\delta x^T",
            "W",
            "mixed",
            lambda W, x, b, t: 0.5 * jnp.sum(_lin_delta(W, x, b, t) ** 2),
            lambda W, x, b, t: jnp.outer(_lin_delta(W, x, b, t), x),
            lin,
            source=f"{SEED_CH48} (dL/dW = delta x^T); {SEED_TUTORIAL} (Part 4)",
        ),
        Identity(
            "nn.linear_dx",
            fam,
            lin_loss,
            r"W^T \delta",
            "x",
            "mixed",
            lambda W, x, b, t: 0.5 * jnp.sum(_lin_delta(W, x, b, t) ** 2),
            lambda W, x, b, t: W.T @ _lin_delta(W, x, b, t),
            lin,
            source=f"{SEED_CH48}; {SEED_TUTORIAL} (Part 5, fully connected layer)",
        ),
        Identity(
            "nn.linear_db",
            fam,
            lin_loss,
            r"\delta",
            "b",
            "mixed",
            lambda W, x, b, t: 0.5 * jnp.sum(_lin_delta(W, x, b, t) ** 2),
            lambda W, x, b, t: _lin_delta(W, x, b, t),
            lin,
            source=f"{SEED_TUTORIAL} (Part 5, fully connected layer)",
        ),
        Identity(
            "nn.activation_tanh",
            fam,
            r"L = \tfrac12 \|\tanh(x) - t\|^2",
            r"\delta_y \odot (1 - \tanh^2(x)),\ \delta_y = \tanh(x) - t",
            "x",
            "mixed",
            lambda x, t: 0.5 * jnp.sum((jnp.tanh(x) - t) ** 2),
            lambda x, t: (jnp.tanh(x) - t) * (1 - jnp.tanh(x) ** 2),
            act,
            source=f"{SEED_TUTORIAL} (Part 5, activation: element-wise backward)",
        ),
        Identity(
            "nn.activation_sigmoid",
            fam,
            r"L = \tfrac12 \|\sigma(x) - t\|^2",
            r"\delta_y \odot \sigma(x)(1 - \sigma(x))",
            "x",
            "mixed",
            lambda x, t: 0.5 * jnp.sum((_sig(x) - t) ** 2),
            lambda x, t: (_sig(x) - t) * _sig(x) * (1 - _sig(x)),
            act,
            source=f"{SEED_TUTORIAL} (Part 5, activation)",
        ),
        Identity(
            "nn.activation_relu",
            fam,
            r"L = \tfrac12 \|\mathrm{ReLU}(x) - t\|^2",
            r"\delta_y \odot 1[x > 0]",
            "x",
            "mixed",
            lambda x, t: 0.5 * jnp.sum((_relu(x) - t) ** 2),
            lambda x, t: (_relu(x) - t) * _step(x),
            act,
            domain="x_i != 0 (ReLU is not differentiable at 0)",
            source=f"{SEED_TUTORIAL} (Part 4, relu_derivative)",
        ),
        Identity(
            "nn.sigmoid_layer_dW",
            fam,
            r"L = \tfrac12 \|\sigma(W x + b) - t\|^2",
            r"(\partial L / \partial a \odot \sigma'(z))\, x^T",
            "W",
            "mixed",
            sig_layer_loss,
            lambda W, x, b, t: jnp.outer(sig_layer_delta(W, x, b, t), x),
            layer,
            source=f"{SEED_0910} (chain rule in matrix form, NN layer)",
        ),
        Identity(
            "nn.sigmoid_layer_dx",
            fam,
            r"L = \tfrac12 \|\sigma(W x + b) - t\|^2",
            r"W^T (\partial L / \partial a \odot \sigma'(z))",
            "x",
            "mixed",
            sig_layer_loss,
            lambda W, x, b, t: W.T @ sig_layer_delta(W, x, b, t),
            layer,
            source=f"{SEED_0910} (chain rule in matrix form, NN layer)",
        ),
        Identity(
            "nn.relu_sq_loss_dW",
            fam,
            r"L = \|\mathrm{ReLU}(W x + b) - t\|^2",
            r"(2 (y - t) \odot 1[z > 0])\, x^T",
            "W",
            "mixed",
            relu_sq_loss,
            lambda W, x, b, t: jnp.outer(relu_sq_delta(W, x, b, t), x),
            layer,
            domain="W x + b has no zero entry",
            source=f"{SEED_CH48} (Python: Manual Backprop)",
        ),
        Identity(
            "nn.relu_sq_loss_db",
            fam,
            r"L = \|\mathrm{ReLU}(W x + b) - t\|^2",
            r"2 (y - t) \odot 1[z > 0]",
            "b",
            "mixed",
            relu_sq_loss,
            relu_sq_delta,
            layer,
            domain="W x + b has no zero entry",
            source=f"{SEED_CH48} (Python: Manual Backprop)",
        ),
        Identity(
            "nn.relu_sq_loss_dx",
            fam,
            r"L = \|\mathrm{ReLU}(W x + b) - t\|^2",
            r"W^T (2 (y - t) \odot 1[z > 0])",
            "x",
            "mixed",
            relu_sq_loss,
            lambda W, x, b, t: W.T @ relu_sq_delta(W, x, b, t),
            layer,
            domain="W x + b has no zero entry",
            source=f"{SEED_CH48} (Python: Manual Backprop)",
        ),
        Identity(
            "nn.relu_layer_dW",
            fam,
            r"L = \tfrac12 \|\mathrm{ReLU}(W x) - y\|^2",
            r"((a - y) \odot 1[W x > 0])\, x^T",
            "W",
            "mixed",
            example3_loss,
            lambda W, x, y: jnp.outer(example3_delta(W, x, y), x),
            (In("W", "m n"), In("x", "n"), In("y", "m")),
            domain="W x has no zero entry",
            source=f"{SEED_0910} (Worked Example 3)",
        ),
        Identity(
            "nn.relu_layer_dx",
            fam,
            r"L = \tfrac12 \|\mathrm{ReLU}(W x) - y\|^2",
            r"W^T ((a - y) \odot 1[W x > 0])",
            "x",
            "mixed",
            example3_loss,
            lambda W, x, y: W.T @ example3_delta(W, x, y),
            (In("W", "m n"), In("x", "n"), In("y", "m")),
            domain="W x has no zero entry",
            source=f"{SEED_0910} (Worked Example 3)",
        ),
        Identity(
            "nn.two_layer_dW1",
            fam,
            r"L = g^T W_2\, \mathrm{ReLU}(W_1 x)",
            r"((W_2^T g) \odot 1[W_1 x > 0])\, x^T",
            "W1",
            "mixed",
            two_layer,
            lambda W1, W2, x, g: jnp.outer((W2.T @ g) * _step(W1 @ x), x),
            (In("W1", "m n"), In("W2", "p m"), In("x", "n"), In("g", "p")),
            domain="W1 x has no zero entry",
            source=f"{SEED_TUTORIAL} (Part 4, TwoLayerNet.backward)",
        ),
        Identity(
            "nn.two_layer_dW2",
            fam,
            r"L = g^T W_2\, \mathrm{ReLU}(W_1 x)",
            r"g\, \mathrm{ReLU}(W_1 x)^T",
            "W2",
            "mixed",
            two_layer,
            lambda W1, W2, x, g: jnp.outer(g, _relu(W1 @ x)),
            (In("W1", "m n"), In("W2", "p m"), In("x", "n"), In("g", "p")),
            source=f"{SEED_TUTORIAL} (Part 4, TwoLayerNet.backward)",
        ),
        Identity(
            "nn.softmax_cross_entropy",
            fam,
            r"L = -\sum_i y_i \log \mathrm{softmax}(z)_i,\ \textstyle\sum_i y_i = 1",
            r"\mathrm{softmax}(z) - y",
            "z",
            "mixed",
            lambda z, y: -(y @ jax.nn.log_softmax(z)),
            lambda z, y: jax.nn.softmax(z) - y,
            (In("z", "n"), In("y", "n", "simplex")),
            domain="y a probability vector (one-hot: p - e_y)",
            source=f"{SEED_TUTORIAL} (Part 5.3); {SEED_0910} (cross-entropy row)",
            note="Needs sum(y) = 1; otherwise the gradient is sum(y) p - y.",
        ),
        Identity(
            "nn.logistic_regression",
            fam,
            r"L = -[y \log \sigma(w^T x) + (1 - y) \log(1 - \sigma(w^T x))]",
            r"(\sigma(w^T x) - y)\, x",
            "w",
            "mixed",
            lambda w, x, y: (
                -(
                    y * jax.nn.log_sigmoid(w @ x)
                    + (1 - y) * jax.nn.log_sigmoid(-(w @ x))
                )
            ),
            lambda w, x, y: (_sig(w @ x) - y) * x,
            (In("w", "n"), In("x", "n"), In("y", "", "unit_interval")),
            source=f"{SEED_0910} (log-sigmoid, Practice Problem 6)",
        ),
        Identity(
            "nn.matmul_dA",
            fam,
            r"L = \langle G, A B \rangle,\ C = A B",
            r"\delta_A = \delta_C B^T = G B^T",
            "A",
            "mixed",
            lambda A, B, G: jnp.sum(G * (A @ B)),
            lambda A, B, G: G @ B.T,
            (In("A", "m n"), In("B", "n p"), In("G", "m p")),
            source=f"{SEED_TUTORIAL} (Part 5.4, matrix multiplication)",
        ),
        Identity(
            "nn.matmul_dB",
            fam,
            r"L = \langle G, A B \rangle,\ C = A B",
            r"\delta_B = A^T \delta_C = A^T G",
            "B",
            "mixed",
            lambda A, B, G: jnp.sum(G * (A @ B)),
            lambda A, B, G: A.T @ G,
            (In("A", "m n"), In("B", "n p"), In("G", "m p")),
            source=f"{SEED_TUTORIAL} (Part 5.4, matrix multiplication)",
        ),
        Identity(
            "nn.batched_dW",
            fam,
            r"L = \tfrac12 \|X W^T + \vec 1 b^T - T\|_F^2,\ "
            r"\Delta = X W^T + \vec 1 b^T - T",
            r"\Delta^T X = \textstyle\sum_i \delta_i x_i^T",
            "W",
            "mixed",
            batched_loss,
            lambda X, W, b, T: batched_delta(X, W, b, T).T @ X,
            (In("X", "p n"), In("W", "m n"), In("b", "m"), In("T", "p m")),
            source=f"{SEED_CH48} (Practice Task 4: batch dL/dW has W's shape)",
        ),
        Identity(
            "nn.batched_db",
            fam,
            r"L = \tfrac12 \|X W^T + \vec 1 b^T - T\|_F^2",
            r"\Delta^T \vec 1",
            "b",
            "mixed",
            batched_loss,
            lambda X, W, b, T: jnp.sum(batched_delta(X, W, b, T), axis=0),
            (In("X", "p n"), In("W", "m n"), In("b", "m"), In("T", "p m")),
            source=f"{SEED_CH48} (batched linear layer)",
        ),
        Identity(
            "nn.relu_neuron_dw",
            fam,
            r"\max(0, w \cdot x + b)",
            r"x\, 1[w \cdot x + b > 0]",
            "w",
            "mixed",
            lambda w, b, x: _relu(w @ x + b),
            lambda w, b, x: x * _step(w @ x + b),
            (In("w", "n"), In("b", ""), In("x", "n")),
            domain="w . x + b != 0",
            source=f"{SEED_FLASH} (neuron activation; the card writes the row x^T "
            "of numerator layout)",
        ),
        Identity(
            "nn.relu_neuron_db",
            fam,
            r"\max(0, w \cdot x + b)",
            r"1[w \cdot x + b > 0]",
            "b",
            "mixed",
            lambda w, b, x: _relu(w @ x + b),
            lambda w, b, x: _step(w @ x + b),
            (In("w", "n"), In("b", ""), In("x", "n")),
            domain="w . x + b != 0",
            source=f"{SEED_FLASH} (neuron activation)",
        ),
        Identity(
            "nn.relu_mse_cost_dw",
            fam,
            r"C = \tfrac1N \sum_i (y_i - \max(0, w \cdot x_i + b))^2",
            r"\tfrac2N \sum_i 1[w \cdot x_i + b > 0]\, e_i x_i,\ "
            r"e_i = w \cdot x_i + b - y_i",
            "w",
            "mixed",
            relu_cost,
            lambda w, b, X, y: 2 * X.T @ relu_cost_e(w, b, X, y) / X.shape[0],
            cost_inputs,
            domain="no w . x_i + b = 0",
            source=f"{SEED_FLASH} (neural network loss)",
            note=cost_note,
        ),
        Identity(
            "nn.relu_mse_cost_db",
            fam,
            r"C = \tfrac1N \sum_i (y_i - \max(0, w \cdot x_i + b))^2",
            r"\tfrac2N \sum_i 1[w \cdot x_i + b > 0]\, e_i",
            "b",
            "mixed",
            relu_cost,
            lambda w, b, X, y: 2 * jnp.mean(relu_cost_e(w, b, X, y)),
            cost_inputs,
            domain="no w . x_i + b = 0",
            source=f"{SEED_FLASH} (neural network loss)",
            note=cost_note,
        ),
    ]
