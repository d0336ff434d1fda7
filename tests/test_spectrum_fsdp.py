"""Parameter-sharded (FSDP-style) operators on a 2 x 4 CPU mesh.

Runs tests/_fsdp_check.py in a subprocess with 8 host devices: eigenvalues,
trace, diagonal and density equal the single-device ones to 1e-10 (float64),
each device holds 1/4 of each eigenvector and of the Lanczos basis, and the
compiled eigensolver never gathers the basis. Bounded in time.
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parent.parent


@pytest.mark.slow
def test_parameter_sharded_vectors_match_single_device(tmp_path):
    env = dict(
        os.environ,
        XLA_FLAGS="--xla_force_host_platform_device_count=8",
        JAX_PLATFORMS="cpu",
        PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
    )
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "_fsdp_check.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    lines = proc.stdout.splitlines()
    assert lines[0] == "OK"
    info = json.loads(lines[1])
    assert info["fractions"] == [0.25]
