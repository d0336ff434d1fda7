"""The problem ``jaxmc spectrum`` analyses: a user's ``MODULE:FUNCTION``, a checkpoint.

**The problem function.** ``jaxmc spectrum MODULE:FUNCTION`` imports
``MODULE`` (a dotted module path importable from the current directory, or a
``path/to/file.py``) and calls ``FUNCTION()`` with no arguments. It returns
one of:

* ``(loss_fn, params, data)``, what :func:`jaxmc.spectrum.hessian_operator`
  takes: ``loss_fn(params, batch) -> scalar`` (the mean loss over a batch),
  ``params`` a pytree, ``data`` a pytree of arrays with a leading example axis
  (or a callable returning an iterable of batches);
* ``(model_fn, loss_fn, params, data)``, what
  :func:`jaxmc.spectrum.ggn_operator` takes: ``model_fn(params, batch) ->
  outputs`` and ``loss_fn(outputs, batch) -> scalar``; the Hessian is that of
  ``loss_fn(model_fn(params, batch), batch)``, and ``--ggn`` analyses the
  generalised Gauss-Newton matrix instead;
* a :class:`jaxmc.cli.spectrum.Problem`, or a dict or object with the same
  names (``loss_fn``, ``params``, ``data``, and optionally ``description``,
  ``model_fn`` and ``output_loss_fn`` for ``--ggn``).

``params`` may hold leaves that are not floating arrays (an equinox module's
activation functions, integer step counters, Python numbers): they are held
fixed, and the spectrum is that of the floating array leaves. With ``--x64``
the floating leaves of ``params`` and ``data`` are cast to float64.

**Checkpoints** (``--params FILE``) replace the values of ``params``, leaf by
leaf; the problem function's ``params`` gives the structure, shapes and dtypes:

* ``.npz`` (``numpy.savez``): one array per floating leaf, named by the leaf's
  key path with ``/`` between the keys (``0/w`` for ``params[0]["w"]``,
  ``params/Dense_0/kernel`` for a flax variables dict, ``layers/0/weight`` for
  an equinox module's field), or ``arr_0``, ``arr_1``, ... in leaf order (what
  ``numpy.savez(path, *jax.tree_util.tree_leaves(params))`` writes);
* ``.msgpack`` (flax): ``flax.serialization.to_bytes(params)``;
* a directory: an orbax checkpoint (``orbax.checkpoint.PyTreeCheckpointer``).

Every leaf must be present with the template's shape; values are cast to the
template's dtype.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pathlib
import sys
from collections.abc import Callable
from typing import Any

from jaxmc import cli


class UsageError(cli.UsageError, ValueError):
    """A mistake in the command line: printed as one line, exit status 2.

    A :class:`jaxmc.cli.UsageError` (so :func:`jaxmc.cli.main` reports it) and
    a ValueError.
    """


def one_line(err: BaseException) -> str:
    """The exception's message on one line (its type when the message is empty)."""
    return cli.one_line(str(err)) or type(err).__name__


# ------------------------------------------------------------------ the target


def load_function(target: str, what: str = "the problem") -> Callable[..., Any]:
    """Imports ``module:function`` or ``path/to/file.py:function``.

    A dotted module is imported from the current directory (put on
    ``sys.path``); a ``.py`` file as a module of its own, with its folder on
    ``sys.path`` while it runs. ``jaxmc spectrum`` and ``jaxmc cost`` load
    their targets here.

    Args:
      target: ``MODULE:FUNCTION``.
      what: how messages name the target (``"the problem"``, ``"target"``).

    Returns:
      The callable ``FUNCTION`` (a dotted name is followed attribute by
      attribute).

    Raises:
      UsageError: for a malformed target, a missing file, a module that cannot
        be imported (the error it raised is quoted), a missing attribute or
        one not callable.
    """
    module_name, sep, attr = target.rpartition(":")
    where = f"{what} {target!r}"
    if not sep or not module_name or not attr:
        msg = (
            f"{where} must be MODULE:FUNCTION (a dotted module path or a .py "
            f"file, then the function's name)"
        )
        raise UsageError(msg)
    if module_name.endswith(".py"):
        module = _import_file(where, module_name)
    else:
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            msg = (
                f"{where}: cannot import module {module_name!r}: importing it "
                f"raised {type(err).__name__}: {one_line(err)}; give a module "
                f"importable from the current directory or a .py file"
            )
            raise UsageError(msg) from None
        except Exception as err:
            msg = (
                f"{where}: importing {module_name!r} failed: "
                f"{type(err).__name__}: {one_line(err)}"
            )
            raise UsageError(msg) from None
    f = module
    for part in attr.split("."):
        if not hasattr(f, part):
            msg = f"{where}: {module_name!r} has no attribute {attr!r}"
            raise UsageError(msg)
        f = getattr(f, part)
    if not callable(f):
        msg = f"{where}: {attr} is a {type(f).__name__}, not a function"
        raise UsageError(msg)
    return f


def _import_file(where: str, module_name: str) -> Any:
    """The module of the Python file ``module_name``, run with its folder on path."""
    path = pathlib.Path(module_name)
    if not path.is_file():
        msg = (
            f"{where}: no such file {module_name!r} (it does not exist or is "
            f"not a file)"
        )
        raise UsageError(msg)
    name = f"_jaxmc_target_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover
        msg = f"{where}: cannot load {module_name!r} as a Python file"
        raise UsageError(msg)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses (flax modules) look it up
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        sys.modules.pop(name, None)
        msg = (
            f"{where}: importing {module_name!r} failed: "
            f"{type(err).__name__}: {one_line(err)}"
        )
        raise UsageError(msg) from None
    finally:
        sys.path.remove(folder)
    return module


_SHAPES = (
    "(loss_fn, params, data), (model_fn, loss_fn, params, data), or a Problem "
    "(or dict) with loss_fn, params and data"
)


def call_problem(target: str, problem_cls: Any) -> Any:
    """Calls the target's function and normalises its result to a Problem."""
    f = load_function(target)
    try:
        out = f()
    except Exception as err:
        msg = f"calling {target}() failed: {type(err).__name__}: {one_line(err)}"
        raise UsageError(msg) from None
    return as_problem(target, out, problem_cls)


def as_problem(target: str, out: Any, problem_cls: Any) -> Any:
    """``(loss_fn, params, data)``, 4-tuples, Problems and dicts -> Problem."""
    desc = f"{target}"
    if isinstance(out, problem_cls):
        prob = out
    elif isinstance(out, dict) or (
        not isinstance(out, tuple) and hasattr(out, "loss_fn")
    ):
        get = out.get if isinstance(out, dict) else lambda k: getattr(out, k, None)
        missing = [k for k in ("loss_fn", "params", "data") if get(k) is None]
        if missing:
            msg = f"{target}() returned a {type(out).__name__} without {missing}"
            raise UsageError(msg)
        prob = problem_cls(
            get("loss_fn"),
            get("params"),
            get("data"),
            get("description") or desc,
            get("model_fn"),
            get("output_loss_fn"),
        )
    elif isinstance(out, tuple) and len(out) == 3:
        prob = problem_cls(out[0], out[1], out[2], desc)
    elif isinstance(out, tuple) and len(out) == 4:
        model_fn, loss_out, params, data = out

        def loss_fn(p: Any, batch: Any) -> Any:
            return loss_out(model_fn(p, batch), batch)

        prob = problem_cls(loss_fn, params, data, desc, model_fn, loss_out)
    else:
        what = (
            f"a tuple of {len(out)}"
            if isinstance(out, tuple)
            else f"a {type(out).__name__}"
        )
        msg = f"{target}() returned {what}; expected {_SHAPES}"
        raise UsageError(msg)
    for name in ("loss_fn",):
        if not callable(getattr(prob, name)):
            msg = (
                f"{target}(): loss_fn must be callable, got "
                f"{type(getattr(prob, name)).__name__}; expected {_SHAPES}"
            )
            raise UsageError(msg)
    if not prob.description:
        prob = prob._replace(description=desc)
    return prob


# ------------------------------------------------------- floating leaves, x64


def is_float_array(x: Any) -> bool:
    """A JAX or NumPy array with a floating dtype."""
    import jax
    import numpy as np

    return isinstance(x, (jax.Array, np.ndarray)) and np.issubdtype(
        np.dtype(x.dtype), np.floating
    )


def split_static(loss_fn: Any, params: Any) -> tuple[Any, Any, Any]:
    """(loss over the floating leaves, those leaves, merge) for any ``params``.

    Leaves that are not floating arrays are replaced by None in the analysed
    pytree (None is an empty subtree) and closed over by the returned loss.
    """
    import jax

    leaves, treedef = jax.tree_util.tree_flatten(params)
    floating = [is_float_array(x) for x in leaves]
    if all(floating):
        return loss_fn, params, lambda p: p

    def dynamic_part(tree: Any) -> Any:
        return jax.tree_util.tree_map(lambda x: x if is_float_array(x) else None, tree)

    dynamic = dynamic_part(params)

    def merge(p: Any) -> Any:
        it = iter(jax.tree_util.tree_leaves(p))
        return jax.tree_util.tree_unflatten(
            treedef,
            [next(it) if f else x for x, f in zip(leaves, floating, strict=True)],
        )

    def loss_dynamic(p: Any, batch: Any) -> Any:
        return loss_fn(merge(p), batch)

    return loss_dynamic, dynamic, merge


def cast_floating(tree: Any, dtype: Any) -> Any:
    """Casts every floating array leaf of ``tree`` to ``dtype``."""
    import jax
    import jax.numpy as jnp

    return jax.tree_util.tree_map(
        lambda x: jnp.asarray(x, dtype) if is_float_array(x) else x, tree
    )


# ------------------------------------------------------------------ checkpoints


def _key_name(entry: Any) -> str:
    for attr in ("key", "idx", "name"):
        if hasattr(entry, attr):
            return str(getattr(entry, attr))
    return str(entry)


def leaf_names(params: Any) -> list[str]:
    """The ``/``-joined key path of every leaf, in leaf order."""
    import jax

    return [
        "/".join(_key_name(e) for e in path)
        for path, _ in jax.tree_util.tree_leaves_with_path(params)
    ]


def load_params(path: str, params: Any) -> Any:
    """``params`` with every floating leaf replaced by the checkpoint's value."""
    p = pathlib.Path(path)
    if not p.exists():
        msg = f"--params {path}: no such file or directory"
        raise UsageError(msg)
    if p.is_dir():
        new = _restore_orbax(p, params)
    elif p.suffix == ".npz":
        new = _restore_npz(p, params)
    elif p.suffix == ".msgpack":
        new = _restore_msgpack(p, params)
    else:
        msg = (
            f"--params {path}: unknown checkpoint format {p.suffix or '(none)'!r}; "
            f"give a .npz file, a flax .msgpack file or an orbax directory"
        )
        raise UsageError(msg)
    return _check_like(path, new, params)


def _restore_npz(p: pathlib.Path, params: Any) -> Any:
    import jax
    import numpy as np

    try:
        with np.load(p, allow_pickle=False) as npz:
            stored = {k: npz[k] for k in npz.files}
    except Exception as err:
        msg = f"--params {p}: cannot read it as .npz ({one_line(err)})"
        raise UsageError(msg) from None
    leaves, treedef = jax.tree_util.tree_flatten(params)
    names = leaf_names(params)
    wanted = [n for n, x in zip(names, leaves, strict=True) if is_float_array(x)]
    positional = [f"arr_{i}" for i in range(len(wanted))]
    if set(stored) == set(positional):
        by_name = dict(zip(wanted, (stored[k] for k in positional), strict=True))
    else:
        missing = [n for n in wanted if n not in stored]
        extra = sorted(set(stored) - set(wanted))
        if missing or extra:
            msg = (
                f"--params {p}: its arrays do not match the problem's parameters: "
                f"missing {_short(missing)}, unexpected {_short(extra)} (names are "
                f"key paths joined by '/', e.g. {wanted[0]!r}, or arr_0, arr_1, ...)"
            )
            raise UsageError(msg)
        by_name = {n: stored[n] for n in wanted}
    new = [
        by_name[n] if n in by_name else x for n, x in zip(names, leaves, strict=True)
    ]
    return jax.tree_util.tree_unflatten(treedef, new)


def _short(names: list[str]) -> str:
    if len(names) > 4:
        return "[" + ", ".join(map(repr, names[:4])) + f", ... ({len(names)} in all)]"
    return "[" + ", ".join(map(repr, names)) + "]"


def _restore_msgpack(p: pathlib.Path, params: Any) -> Any:
    try:
        from flax import serialization
    except ImportError:
        msg = (
            f"--params {p}: reading .msgpack checkpoints needs flax (pip install flax)"
        )
        raise UsageError(msg) from None
    try:
        return serialization.from_bytes(params, p.read_bytes())
    except Exception as err:
        msg = (
            f"--params {p}: flax could not restore it into the problem's "
            f"parameters ({type(err).__name__}: {one_line(err)})"
        )
        raise UsageError(msg) from None


def _restore_orbax(p: pathlib.Path, params: Any) -> Any:
    try:
        import orbax.checkpoint as ocp
    except ImportError:
        msg = (
            f"--params {p}: a directory is read as an orbax checkpoint, which "
            f"needs orbax-checkpoint (pip install orbax-checkpoint)"
        )
        raise UsageError(msg) from None
    import warnings

    try:
        with warnings.catch_warnings():  # "sharding info not provided": on purpose
            warnings.simplefilter("ignore", UserWarning)
            return ocp.PyTreeCheckpointer().restore(p.resolve(), item=params)
    except Exception as err:
        msg = (
            f"--params {p}: orbax could not restore it into the problem's "
            f"parameters ({type(err).__name__}: {one_line(err)})"
        )
        raise UsageError(msg) from None


def _check_like(path: str, new: Any, params: Any) -> Any:
    """Same structure and shapes as ``params``; floating leaves cast to its dtypes."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    old_leaves, treedef = jax.tree_util.tree_flatten(params)
    try:
        new_leaves = treedef.flatten_up_to(new)
    except (ValueError, TypeError) as err:
        msg = (
            f"--params {path}: its structure differs from the problem's "
            f"parameters ({one_line(err)})"
        )
        raise UsageError(msg) from None
    out = []
    for name, old, x in zip(leaf_names(params), old_leaves, new_leaves, strict=True):
        if not is_float_array(old):
            out.append(old)
            continue
        shape = tuple(np.shape(x))
        if shape != tuple(old.shape):
            msg = (
                f"--params {path}: {name!r} has shape {shape}; the problem's "
                f"parameter has shape {tuple(old.shape)}"
            )
            raise UsageError(msg)
        out.append(jnp.asarray(x, old.dtype))
    return jax.tree_util.tree_unflatten(treedef, out)


def save_npz(path: str, params: Any) -> None:
    """Writes the floating leaves of ``params`` as ``--params`` reads them."""
    import jax
    import numpy as np

    leaves = jax.tree_util.tree_leaves(params)
    arrays = {
        n: np.asarray(x)
        for n, x in zip(leaf_names(params), leaves, strict=True)
        if is_float_array(x)
    }
    np.savez(path, **arrays)


# --------------------------------------------------------------- output paths


def check_writable(option: str, path: str, suffixes: tuple[str, ...]) -> None:
    """Fails early (before the analysis) if ``path`` cannot be written."""
    p = pathlib.Path(path)
    if p.is_dir():
        msg = f"{option} {path}: is a directory; give a file name"
        raise UsageError(msg)
    if suffixes and p.suffix.lower() not in suffixes:
        msg = (
            f"{option} {path}: the file name must end in "
            f"{', '.join(suffixes)}; got {p.suffix or 'no suffix'!r}"
        )
        raise UsageError(msg)
    parent = p.parent if str(p.parent) else pathlib.Path(".")
    if not parent.is_dir():
        msg = f"{option} {path}: the folder {str(parent)!r} does not exist"
        raise UsageError(msg)
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        msg = f"{option} {path}: not writable (permission denied)"
        raise UsageError(msg)
