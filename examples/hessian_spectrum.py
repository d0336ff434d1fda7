"""The Hessian spectrum of a small trained MLP, checked against the dense Hessian.

Builds jaxmc's default problem (a tanh MLP on synthetic clusters, trained a few
steps), finds the 3 largest and 3 most negative Hessian eigenvalues with
thick-restart Lanczos, estimates the trace with Hutch++, and compares both with
the eigenvalues of the dense Hessian (built from HVPs with op.to_dense).
JAXMC_EXAMPLE_SMALL=1 uses a tiny network.
"""

import os

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from jaxmc.cli.spectrum import default_problem  # noqa: E402
from jaxmc.spectrum import eigenvalues, hessian_operator, trace  # noqa: E402

small = os.environ.get("JAXMC_EXAMPLE_SMALL") == "1"
prob = default_problem(
    num_examples=64 if small else 512,
    hidden=(6,) if small else (24, 24),
    train_steps=20 if small else 100,
    dtype="float64",
)
print(prob.description)
op = hessian_operator(prob.loss_fn, prob.params, prob.data)
exact = np.linalg.eigvalsh(np.asarray(op.to_dense()))

res = eigenvalues(op, 3, which="both", key=jax.random.key(0))
ref = np.r_[exact[::-1][:3], exact[:3]]
print("Lanczos  :", np.round(np.asarray(res.values), 8).tolist())
print("dense    :", np.round(ref, 8).tolist())
err = np.max(np.abs(np.asarray(res.values) - ref)) / np.abs(exact).max()
print(f"max relative error {err:.1e} with {int(res.num_matvecs)} HVPs")
assert err < 1e-8

est = trace(op, method="hutch++", num_matvecs=45, key=jax.random.key(1))
print(
    f"trace (Hutch++, 45 HVPs): {float(est.estimate):.6f} +/- "
    f"{float(est.std_error):.1e}; exact {exact.sum():.6f}"
)
