"""Sphinx configuration for jaxmc's documentation.

Build (strict: every warning is an error, as in CI)::

    sphinx-build -W --keep-going -n -b html docs docs/_build/html

Sphinx (not mkdocs) because jaxmc's docstrings are Google style with reST
roles (:func:, :class:, :mod:, ``.. math::``), which autodoc + napoleon render
as written; JAX, optax, flax and chex use the same stack. Pages are Markdown
(MyST). Two checks make the build fail where the API would rot:

* every name in the ``__all__`` of a documented module must be documented
  (a missing docstring or a missing page is an error, as in optax's build);
* every cross-reference must resolve (``nitpicky``); references to names
  re-exported at the top level (``jaxmc.gradient``) resolve to their page.
"""

from __future__ import annotations

import importlib
import os
import pathlib
import sys

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx.util import logging

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import jaxmc  # noqa: E402

project = "jaxmc"
author = "The jaxmc authors"
copyright = "2026, The jaxmc authors"  # noqa: A001
release = version = jaxmc.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "README.md", "make_figures.py"]
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

try:
    import furo  # noqa: F401

    html_theme = "furo"
except ImportError:  # pragma: no cover - the test extra installs furo
    html_theme = "alabaster"
html_title = f"jaxmc {release}"

# autodoc + napoleon: Google-style docstrings, no type hints in signatures (the
# docstrings state the shapes and types; hints would need JAX's inventory).
autodoc_typehints = "none"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True  # Attributes: sections as fields, not duplicate targets
napoleon_use_rtype = False

# Every cross-reference must resolve, except to other projects (no network in
# the build: no intersphinx) and to typing names.
nitpicky = True
nitpick_ignore_regex = [
    # napoleon reads "Some words: ..." opening a property's docstring as a type
    (r"py:class", r".* .*"),
    (r"py:.*", r"(jax|jnp|np|numpy|matplotlib|chex|matfree|flax|equinox|optax)\..*"),
    (r"py:.*", r"(typing|collections\.abc)\..*"),
    (
        r"py:(exc|class|obj)",
        r"(ValueError|TypeError|KeyError|IndexError|ImportError|OSError|"
        r"FileNotFoundError|NotImplementedError|RuntimeError|ArithmeticError|"
        r"ZeroDivisionError|UserWarning|RecursionError|Exception|AssertionError)",
    ),
    (
        r"py:(class|obj)",
        r"(Any|Callable|Sequence|Iterable|Iterator|Mapping|str|"
        r"int|float|bool|None|tuple|list|dict|object|type|optional)",
    ),
]

# The modules whose __all__ must be documented completely.
API_MODULES = [
    "jaxmc.vec",
    "jaxmc.layout",
    "jaxmc.differentials",
    "jaxmc.check",
    "jaxmc.cost",
    "jaxmc.identities",
    "jaxmc.spectrum",
    "jaxmc.symbolic",
]

logger = logging.getLogger("jaxmc.docs")


def _skip_member(app, what, name, obj, skip, options):
    """NamedTuple fields are documented by the class's Attributes section."""
    doc = getattr(obj, "__doc__", None) or ""
    if doc.startswith("Alias for field number"):
        return True
    return None


def _documented_names(env) -> dict[int, str]:
    """id(object) -> the full name it is documented under."""
    out = {}
    for full in env.domaindata["py"]["objects"]:
        module, _, attr = full.rpartition(".")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError, ValueError):
            continue
        out.setdefault(id(obj), full)
    return out


def _resolve_reexport(app, env, node, contnode):
    """``jaxmc.gradient`` (a re-export) -> ``jaxmc.layout.gradient``'s entry."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    candidates = [target]
    module = node.get("py:module")
    if module and "." not in target:
        candidates.append(f"{module}.{target}")
    for cand in candidates:
        head, _, attr = cand.rpartition(".")
        if not head.startswith("jaxmc"):
            continue
        try:
            obj = getattr(importlib.import_module(head), attr)
        except (ImportError, AttributeError, ValueError):
            continue
        full = _documented_names(env).get(id(obj))
        if full and full != cand:
            domain = env.get_domain("py")
            return domain.resolve_xref(
                env,
                node["refdoc"],
                app.builder,
                node["reftype"],
                full,
                node,
                contnode,
            )
    return None


def _check_all_documented(app, env) -> None:
    """Warns (an error under -W) for every public name without an entry."""
    documented = env.domaindata["py"]["objects"]
    for modname in API_MODULES:
        module = importlib.import_module(modname)
        for name in getattr(module, "__all__", []):
            if f"{modname}.{name}" not in documented:
                logger.warning(
                    "%s.%s is in __all__ but not documented (no docstring, or "
                    "its module's page is missing)",
                    modname,
                    name,
                )


FIGURES = {"hessian_spectrum": "hessian_spectrum.png", "jvp_vs_vjp": "jvp_vs_vjp.png"}


def _figure(env, name: str) -> list:
    """An image node for docs/figures/NAME, or a note when it was not drawn.

    Figures are drawn by ``python docs/make_figures.py`` (which runs the
    examples); a missing one is replaced by a note, so that the strict build
    does not depend on having run the examples.
    """
    if (pathlib.Path(__file__).parent / "figures" / name).exists():
        node = nodes.image(uri=f"/figures/{name}", alt=name)
        return [node]
    text = (
        f"(The figure {name} is drawn by running the example; build the docs "
        f"after python docs/make_figures.py to include it.)"
    )
    return [nodes.paragraph(text=text)]


class ExampleFigure(Directive):
    """``jaxmc-figure:: name.png``: a figure of an example, if it was drawn."""

    required_arguments = 1

    def run(self):
        return _figure(self.state.document.settings.env, self.arguments[0])


class Examples(Directive):
    """``jaxmc-examples::``: every script in examples/, its text, code, figure."""

    def run(self):
        import ast

        out = []
        for path in sorted((ROOT / "examples").glob("*.py")):
            source = path.read_text()
            doc = ast.get_docstring(ast.parse(source)) or ""
            out.append(nodes.rubric(text=f"examples/{path.name}"))
            for para in doc.split("\n\n"):
                out.append(nodes.paragraph(text=" ".join(para.split())))
            block = nodes.literal_block(source, source, language="python")
            out.append(block)
            if path.stem in FIGURES:
                out += _figure(self.state.document.settings.env, FIGURES[path.stem])
        return out


class Reexports(Directive):
    """``jaxmc-reexports::``: a list of the top-level names, linked to their pages."""

    def run(self):
        from docutils.statemachine import StringList

        lines = []
        for name in jaxmc.__all__:
            obj = getattr(jaxmc, name)
            role = "mod" if type(obj).__name__ == "module" else "obj"
            lines.append(f"* :py:{role}:`jaxmc.{name}`")
        container = nodes.container()
        self.state.nested_parse(StringList(lines), self.content_offset, container)
        return container.children


def setup(app):
    """Registers the hooks above."""
    app.connect("autodoc-skip-member", _skip_member)
    app.connect("missing-reference", _resolve_reexport)
    app.connect("env-check-consistency", _check_all_documented)
    app.add_directive("jaxmc-figure", ExampleFigure)
    app.add_directive("jaxmc-examples", Examples)
    app.add_directive("jaxmc-reexports", Reexports)
    os.environ.setdefault("MPLBACKEND", "Agg")
    return {"parallel_read_safe": True}
