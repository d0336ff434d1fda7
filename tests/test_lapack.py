"""jaxmc._lapack: jaxlib's CPU LAPACK set up without importing scipy.linalg.

Each case runs in a fresh interpreter, since the setup happens once per
process and the test process has long imported SciPy's linear algebra.
"""

import json
import textwrap

import pytest
from _subprocess import run_python

# argv[1]: "fresh" (nothing of SciPy imported before), "scipy-first"
# (scipy.linalg imported before) or "no-files" (the two modules cannot be
# found alone: jaxlib's own lookup). Prints what was imported when, and
# whether eigh, QR and SciPy's own linear algebra give the right numbers.
_SCRIPT = textwrap.dedent(
    """
    import json, sys, threading
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp, numpy as np
    from jaxmc import _lapack

    mode = sys.argv[1]
    if mode == "scipy-first":
        import scipy.linalg
    if mode == "no-files":
        _lapack._MODULES = ("scipy.linalg.no_such_module",)
    threads = [threading.Thread(target=_lapack.prepare) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _lapack.prepare()
    after_prepare = "scipy.linalg" in sys.modules

    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 6))
    a = a + a.T
    w, v = jax.jit(jnp.linalg.eigh)(a)
    q, r = jax.jit(jnp.linalg.qr)(a)
    after_lapack = "scipy.linalg" in sys.modules

    import scipy.linalg
    q2, r2 = scipy.linalg.qr(a)
    u = rng.standard_normal(6)
    q3, r3 = scipy.linalg.qr_update(q2, r2, u, u)  # Cython, cimports cython_blas
    print(json.dumps({
        "after_prepare": after_prepare,
        "after_lapack": after_lapack,
        "eigh": float(np.max(np.abs(np.asarray(w) - np.linalg.eigvalsh(a)))),
        "eigvec": float(np.max(np.abs(a @ np.asarray(v) - np.asarray(v) * np.asarray(w)))),
        "qr": float(np.max(np.abs(np.asarray(q) @ np.asarray(r) - a))),
        "qr_update": float(np.max(np.abs(q3 @ r3 - (a + np.outer(u, u))))),
        "attributes": [
            scipy.linalg.cython_blas is sys.modules["scipy.linalg.cython_blas"],
            scipy.linalg.cython_lapack is sys.modules["scipy.linalg.cython_lapack"],
        ],
    }))
    """
)


@pytest.mark.parametrize("mode", ["fresh", "scipy-first", "no-files"])
def test_lapack_set_up_once_and_scipy_linalg_unharmed(tmp_path, mode):
    script = tmp_path / "lapack.py"
    script.write_text(_SCRIPT)
    out = run_python([str(script), mode], cwd=tmp_path, timeout=120)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    # where SciPy's linear algebra was not imported, neither the setup nor
    # jaxlib's eigh and QR import it; where the two modules cannot be loaded
    # alone, jaxlib's own lookup imports it, as it always did
    imported = mode != "fresh"
    assert got["after_prepare"] is imported
    assert got["after_lapack"] is imported
    assert got["eigh"] < 1e-12
    assert got["eigvec"] < 1e-12
    assert got["qr"] < 1e-12
    # SciPy, imported afterwards, is whole: its package attributes are the
    # modules jaxlib read, and its Cython code that uses them runs right
    assert got["qr_update"] < 1e-12
    assert got["attributes"] == [True, True]


def test_a_failed_setup_before_lowering_is_left_to_lowering(monkeypatch):
    from jaxmc import _lapack, _persist

    def fail():
        raise ModuleNotFoundError("No module named 'scipy'")

    monkeypatch.setattr(_lapack, "_ready", False)
    monkeypatch.setattr(_lapack, "prepare", fail)
    _lapack.prepare_for_cpu()  # best effort: a program without eigh needs none
    assert _lapack._ready is False
    # while a kept executable is loaded only after a setup that succeeded
    # (run unset, its LAPACK calls would crash the process)
    with pytest.raises(ModuleNotFoundError):
        _persist._prepare_runtime()
