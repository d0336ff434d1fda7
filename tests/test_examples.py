"""Every script in examples/ runs, at small sizes, and exits cleanly."""

import pytest
from _subprocess import ROOT, run_python

# Examples run by a test of their own (which checks their results), not here.
OWN_TEST = {"multiprocess_spectrum": "tests/test_spectrum_multiprocess.py"}
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py") if p.stem not in OWN_TEST)


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(path, tmp_path):
    env = {"JAXMC_EXAMPLE_SMALL": "1", "MPLBACKEND": "Agg"}
    proc = run_python([str(path)], cwd=tmp_path, env=env, timeout=300)
    assert proc.stdout.strip(), "the example printed nothing"
