"""Test configuration: float64 and strict rank promotion for the whole suite.

float32 behaviour is tested explicitly by creating float32 inputs; ``tol`` gives
the tolerance used for each dtype throughout the suite.
"""

import os

# The suite compiles about 10,000 small XLA programs, and on the CPU most of
# its time is LLVM code generation. jaxmc compiles its own small programs with
# XLA's elemental emitters and LLVM optimisation level 1 on the CPU
# (jaxmc/_xla.py), which cuts that time by more than half; the suite's own
# programs (references, eager operations, programs under the tests' jax.jit)
# use them too, through XLA_FLAGS, which subprocesses inherit
# (tests/_subprocess.py appends its device count). tests/test_xla.py tests
# jaxmc's options without the flags.
_FAST_COMPILE = "--xla_cpu_use_fusion_emitters=false --xla_backend_optimization_level=1"
os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_FAST_COMPILE}".strip()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

# The CLI turns on JAX's persistent compilation cache; in-process CLI tests
# would then turn it on for the rest of the suite, and compile counts would
# depend on earlier runs. tests/test_cli.py tests the cache in subprocesses.
os.environ["JAXMC_NO_CACHE"] = "1"

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")

settings.register_profile(
    "jaxmc",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
settings.load_profile("jaxmc")

# Tolerances used across the suite: (rtol, atol) per dtype.
TOLERANCES = {
    jnp.dtype("float64"): (1e-10, 1e-12),
    jnp.dtype("float32"): (1e-5, 1e-5),
}


def tol(dtype):
    """(rtol, atol) for ``dtype``, from TOLERANCES."""
    return TOLERANCES[jnp.dtype(dtype)]


# Run each public function eagerly and jitted.
TRANSFORMS = {"eager": lambda f: f, "jit": jax.jit}


@pytest.fixture(params=list(TRANSFORMS), ids=list(TRANSFORMS))
def transform(request):
    """Either the identity or jax.jit, to run a test body both ways."""
    return TRANSFORMS[request.param]
