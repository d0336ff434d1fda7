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


def test_issue_signatures_accept_keywords():
    """The signatures the issues name accept those arguments by keyword."""
    import jax
    import jax.numpy as jnp

    from jaxmc import check_gradient, identities, symmetric_gradient
    from jaxmc.spectrum import hessian_operator

    def f(x):
        return jnp.sum(x**2)

    x = jnp.arange(1.0, 4.0)
    assert check_gradient(f, x, grad=2 * x).passed
    assert not check_gradient(f, x, grad=x).passed
    G = jnp.array([[1.0, 2.0], [0.0, 3.0]])
    assert symmetric_gradient(G, "sym").tolist() == [[1.0, 1.0], [1.0, 3.0]]
    table = identities.verify(identity="trace.AX", key=jax.random.key(0), trials=1)
    assert table.all_passed
    op = hessian_operator(lambda p, b: jnp.mean((b @ p) ** 2), x, data=jnp.eye(3))
    assert op.size == 3
