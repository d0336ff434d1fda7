"""Test configuration: float64 and strict rank promotion for the whole suite.

float32 behaviour is tested explicitly by creating float32 inputs; ``tol`` gives
the tolerance used for each dtype throughout the suite.
"""

import os

# The suite compiles about 12,000 small XLA programs, and on the CPU most of
# its time is LLVM code generation. The suite's programs run in milliseconds,
# so it compiles them with XLA's elemental emitters at LLVM optimisation level
# 0 (XLA_FLAGS, which subprocesses inherit; tests/_subprocess.py appends its
# device count): 8.5 minutes for the suite on the 2-core development machine
# against 11.9 at level 1. jaxmc's own small programs compile at level 1 for a
# user (jaxmc/_xla.py leaves an option named in XLA_FLAGS to XLA);
# tests/test_xla.py tests jaxmc's options without the flags, and tests that
# compare two programs bitwise use the user's options (test_spectrum_compile).
# Each program is also generated as one LLVM module rather than split for
# parallel code generation: the suite's workers already keep every core busy,
# so the split's threads only add per-part overhead (three test files on 2
# workers: 107 to 125 s against 122 to 125 s; the whole suite 8 min 52 s
# against 9 min 42 s and 9 min 57 s).
_FAST_COMPILE = (
    "--xla_cpu_use_fusion_emitters=false --xla_backend_optimization_level=0 "
    "--xla_cpu_parallel_codegen_split_count=1"
)
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


def pytest_collection_modifyitems(config, items):
    """Tests marked ``slow`` run first (stable order otherwise).

    pytest-xdist hands out tests in collection order: a 30 to 45 s test
    collected late keeps one worker busy after the other has finished.
    Started first, the long tests overlap the short ones; with at most 4
    tests sent to a worker at a time (``--maxschedchunk=4`` in
    pyproject.toml) they are shared between the workers instead of making
    up the first worker's whole first batch.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
