"""The documentation builds with every warning an error (Sphinx, strict).

A public name without documentation, a broken cross-reference or a docstring
that does not parse fails this test, as it fails the docs build in CI.
"""

import importlib
import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parent.parent
DOCS = ROOT / "docs"

needs_sphinx = pytest.mark.skipif(
    importlib.util.find_spec("sphinx") is None
    or importlib.util.find_spec("myst_parser") is None,
    reason="sphinx and myst-parser (the `test` extra) are not installed",
)


@pytest.mark.slow
@needs_sphinx
def test_docs_build_strict(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    cmd = [sys.executable, "-m", "sphinx", "-q", "-E", "-W", "--keep-going", "-n"]
    cmd += ["-b", "html", "-d", str(tmp_path / "doctrees"), str(DOCS)]
    cmd += [str(tmp_path / "html")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    html = tmp_path / "html"
    spectrum = (html / "api" / "spectrum.html").read_text()
    for name in ("eigenvalues", "SpectralDensity", "load", "hessian_operator"):
        assert f'id="jaxmc.spectrum.{name}"' in spectrum, name
    # re-exported names link to their module's entry
    top = (html / "api" / "jaxmc.html").read_text()
    assert 'href="layout.html#jaxmc.layout.gradient"' in top
    assert "Getting started" in (html / "getting-started.html").read_text()
    assert "hessian_spectrum.py" in (html / "examples.html").read_text()


def _conf():
    spec = importlib.util.spec_from_file_location("_jaxmc_docs_conf", DOCS / "conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    return conf


@needs_sphinx
def test_an_undocumented_public_name_is_reported(monkeypatch):
    """The check behind the strict build: every name in __all__ has an entry."""
    conf = _conf()
    warnings = []
    monkeypatch.setattr(
        conf.logger, "warning", lambda msg, *a: warnings.append(msg % a)
    )
    documented = {
        f"{m}.{n}": None
        for m in conf.API_MODULES
        for n in importlib.import_module(m).__all__
    }

    class Env:
        domaindata = {"py": {"objects": documented}}

    conf._check_all_documented(None, Env)
    assert warnings == []
    first = importlib.import_module("jaxmc.vec").__all__[0]
    del documented[f"jaxmc.vec.{first}"]
    conf._check_all_documented(None, Env)
    assert warnings == [
        f"jaxmc.vec.{first} is in __all__ but not documented (no docstring, or "
        f"its module's page is missing)"
    ]
