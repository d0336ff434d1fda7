"""Spectra across processes: jax.distributed with gloo on 127.0.0.1.

Runs examples/multiprocess_spectrum.py's workers: two processes, each feeding
its half of the data with jax.make_array_from_process_local_data, must give
the eigenvalues and trace of one process holding all the data. Bounded in
time: a hang fails the test.
"""

import importlib.util
import os
import pathlib

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).parent.parent


def _example():
    path = ROOT / "examples" / "multiprocess_spectrum.py"
    spec = importlib.util.spec_from_file_location("multiprocess_spectrum", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_two_processes_match_one(monkeypatch):
    monkeypatch.setenv("JAXMC_EXAMPLE_SMALL", "1")
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    ex = _example()
    assert ex.SMALL
    results = ex.launch(2, timeout=240)
    single = ex.analyse(*ex.make_problem())
    assert [r["process"] for r in results] == [0, 1]
    assert all(r["processes"] == 2 for r in results)
    assert [r["local_examples"] for r in results] == [ex.N // 2, ex.N // 2]
    for r in results:
        np.testing.assert_allclose(r["values"], single["values"], rtol=1e-10)
        np.testing.assert_allclose(r["trace"], single["trace"], rtol=1e-10)
