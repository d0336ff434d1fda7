"""Parameter-sharded (FSDP-style) operators on a 2 x 4 CPU mesh.

Runs tests/_fsdp_check.py in a subprocess with 8 host devices: eigenvalues,
trace, diagonal and density equal the single-device ones to 1e-10 (float64),
each device holds 1/4 of each eigenvector and of the Lanczos basis, and the
compiled eigensolver never gathers the basis. Bounded in time.
"""

import json

import pytest
from _subprocess import ROOT, run_python


@pytest.mark.slow
def test_parameter_sharded_vectors_match_single_device(tmp_path):
    script = str(ROOT / "tests" / "_fsdp_check.py")
    proc = run_python([script], cwd=tmp_path, devices=8, timeout=600)
    lines = proc.stdout.splitlines()
    assert lines[0] == "OK"
    info = json.loads(lines[1])
    assert info["fractions"] == [0.25]
