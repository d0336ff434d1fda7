"""Every script in examples/ runs, at small sizes, and exits cleanly."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parent.parent
# Examples run by a test of their own (which checks their results), not here.
OWN_TEST = {"multiprocess_spectrum": "tests/test_spectrum_multiprocess.py"}
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py") if p.stem not in OWN_TEST)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(path, tmp_path):
    path_entries = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    env = dict(
        os.environ,
        JAXMC_EXAMPLE_SMALL="1",
        MPLBACKEND="Agg",
        PYTHONPATH=os.pathsep.join(p for p in path_entries if p),
    )
    proc = subprocess.run(
        [sys.executable, str(path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert proc.stdout.strip(), "the example printed nothing"
