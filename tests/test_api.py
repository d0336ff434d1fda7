"""The public API contract: every name in __all__ exists and is documented."""

import importlib
import inspect

import pytest

import jaxmc


def test_version():
    assert isinstance(jaxmc.__version__, str)
    assert jaxmc.__version__.count(".") >= 2


def test_all_is_sorted_within_reason_and_unique():
    assert len(jaxmc.__all__) == len(set(jaxmc.__all__))


@pytest.mark.parametrize("name", jaxmc.__all__)
def test_public_name_exists_and_has_docstring(name):
    obj = getattr(jaxmc, name)
    doc = inspect.getdoc(obj)
    assert doc, f"jaxmc.{name} has no docstring"
    assert len(doc.splitlines()[0]) > 10, f"jaxmc.{name}: first line too short"


@pytest.mark.parametrize("name", jaxmc.__all__)
def test_public_functions_document_args_and_returns(name):
    obj = getattr(jaxmc, name)
    if inspect.isfunction(obj):
        doc = inspect.getdoc(obj)
        params = [p for p in inspect.signature(obj).parameters if p != "self"]
        if params:
            assert "Args:" in doc, f"jaxmc.{name} documents no Args"
        assert "Returns:" in doc or "Yields:" in doc, f"jaxmc.{name}: no Returns"


def test_submodules_importable():
    for mod in (
        "jaxmc.vec",
        "jaxmc.layout",
        "jaxmc.cli",
        "jaxmc.spectrum",
        "jaxmc.differentials",
        "jaxmc.check",
        "jaxmc.cost",
        "jaxmc.identities",
        "jaxmc.cli.identities",
        "jaxmc.cli.spectrum",
        "jaxmc.cli._spectrum_density",
        "jaxmc.symbolic",
    ):
        assert importlib.import_module(mod).__doc__
