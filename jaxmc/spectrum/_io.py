"""Saving and loading spectrum results: plain data, JSON and ``.npz``, exact.

Every result type (:class:`EigenResult`, :class:`TraceEstimate`,
:class:`DiagonalEstimate`, :class:`SpectralDensity`, :class:`KPMDensity`,
:class:`LayerSpectrum`, :class:`LayerSpectra`) has two methods:

* ``result.to_dict()``: plain Python data, ``{"__type__": "EigenResult",
  "values": ..., ...}``, one key per field; arrays become NumPy arrays (copied
  from the device, bitwise), nested results nested dicts.
* ``result.save(path)``: writes ``path`` (``.json``, added when missing) and,
  when the result holds arrays, ``path`` with the suffix ``.npz`` beside it.
  The JSON file is readable on its own: every array is listed with its dtype
  and shape (and its values, up to 1000 entries); the ``.npz`` holds the
  arrays bitwise.

:func:`load` reads such a file back into the same result type, with every array
bitwise equal to the saved one (as a NumPy array of the saved dtype, whatever
``jax_enable_x64`` says; ``jnp.asarray`` moves it to the device).
:func:`from_dict` inverts ``to_dict``. Plain containers can hold results too:
``save`` and ``load`` also take a dict, list or tuple of results, numbers,
strings and arrays (``jaxmc spectrum --out`` writes one such dict).

Pytrees inside results (the eigenvectors and diagonal estimates of a Hessian
over a parameter pytree) keep their structure when made of dicts, lists,
tuples and None; other node types (flax ``FrozenDict``, ``nnx.State``,
equinox modules) come back as a dict from each leaf's key path
(``jax.tree_util.keystr``) to the leaf.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from typing import Any

import jax
import numpy as np

__all__ = ["from_dict", "load", "save", "to_dict"]

FORMAT = "jaxmc.spectrum/1"
_TYPE = "__type__"
_MARKERS = ("__array__", "__tuple__", "__items__", _TYPE)
_INLINE = 1000  # arrays up to this many entries are also listed in the JSON


def _result_types() -> dict[str, type]:
    from jaxmc.spectrum._density import KPMDensity, SpectralDensity
    from jaxmc.spectrum._eigen import EigenResult
    from jaxmc.spectrum._layers import LayerSpectra, LayerSpectrum
    from jaxmc.spectrum._trace import DiagonalEstimate, TraceEstimate

    types = (
        EigenResult,
        TraceEstimate,
        DiagonalEstimate,
        SpectralDensity,
        KPMDensity,
        LayerSpectrum,
        LayerSpectra,
    )
    return {t.__name__: t for t in types}


def _field_names(obj: Any) -> tuple[str, ...]:
    if dataclasses.is_dataclass(obj):
        return tuple(f.name for f in dataclasses.fields(obj))
    return tuple(obj._fields)


def _is_result(obj: Any) -> bool:
    return type(obj).__name__ in _result_types() and isinstance(
        obj, _result_types()[type(obj).__name__]
    )


def _plain(x: Any) -> Any:
    """A value as plain data: NumPy arrays, Python scalars, containers."""
    if _is_result(x):
        return to_dict(x)
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if isinstance(x, (np.ndarray, np.generic, jax.Array)):
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(
            x.dtype, jax.dtypes.prng_key
        ):
            x = jax.random.key_data(x)
        return np.asarray(jax.device_get(x)) if isinstance(x, jax.Array) else x
    if isinstance(x, dict) and type(x) is dict:
        return {k: _plain(v) for k, v in x.items()}
    if type(x) is list:
        return [_plain(v) for v in x]
    if type(x) is tuple:
        return tuple(_plain(v) for v in x)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(x)
    if treedef.num_nodes == 1 and treedef.num_leaves == 1:  # an unknown leaf
        msg = (
            f"jaxmc.spectrum.save: cannot store a {type(x).__name__}; results, "
            f"arrays, numbers, strings, None and pytrees of them can be stored."
        )
        raise TypeError(msg)
    return {jax.tree_util.keystr(p): _plain(v) for p, v in leaves}


def to_dict(result: Any) -> dict[str, Any]:
    """A result as plain Python data, one key per field.

    Args:
      result: a spectrum result (:class:`EigenResult`, :class:`TraceEstimate`,
        :class:`DiagonalEstimate`, :class:`SpectralDensity`,
        :class:`KPMDensity`, :class:`LayerSpectrum` or :class:`LayerSpectra`).

    Returns:
      ``{"__type__": type name, field: value, ...}``: arrays as NumPy arrays
      (bitwise copies), nested results as such dicts, pytrees as in the
      module docstring. :func:`from_dict` inverts it.

    Raises:
      TypeError: if ``result`` is not a spectrum result.
    """
    if not _is_result(result):
        names = ", ".join(_result_types())
        msg = (
            f"jaxmc.spectrum.to_dict: argument `result` must be one of {names}; "
            f"got {type(result).__name__}."
        )
        raise TypeError(msg)
    out: dict[str, Any] = {_TYPE: type(result).__name__}
    for name in _field_names(result):
        out[name] = _plain(getattr(result, name))
    return out


def from_dict(data: dict[str, Any]) -> Any:
    """Rebuilds a result from :func:`to_dict`'s plain data.

    Args:
      data: a dict with a ``"__type__"`` key naming the result type and one
        key per field.

    Returns:
      The result, of the named type, its fields as given (nested result dicts
      rebuilt).

    Raises:
      ValueError: for an unknown type name or missing / unexpected fields.
    """
    return _rebuild(data, where="data")


def _rebuild(x: Any, where: str) -> Any:
    if isinstance(x, dict) and _TYPE in x:
        types = _result_types()
        name = x[_TYPE]
        if name not in types:
            msg = (
                f"jaxmc.spectrum.load: {where} names an unknown result type "
                f"{name!r}; known: {', '.join(types)}."
            )
            raise ValueError(msg)
        cls = types[name]
        fields = {k: v for k, v in x.items() if k != _TYPE}
        expected = (
            [f.name for f in dataclasses.fields(cls)]
            if dataclasses.is_dataclass(cls)
            else list(cls._fields)
        )
        missing = [f for f in expected if f not in fields]
        extra = [f for f in fields if f not in expected]
        if missing or extra:
            msg = (
                f"jaxmc.spectrum.load: {where} does not match {name}'s fields "
                f"{expected}: missing {missing}, unexpected {extra} (saved by "
                f"another version of jaxmc?)."
            )
            raise ValueError(msg)
        kwargs = {k: _rebuild(v, f"{where}.{k}") for k, v in fields.items()}
        if name == "LayerSpectra":
            kwargs["layers"] = tuple(kwargs["layers"])
        return cls(**kwargs)
    if isinstance(x, dict):
        return {k: _rebuild(v, f"{where}[{k!r}]") for k, v in x.items()}
    if isinstance(x, list):
        return [_rebuild(v, f"{where}[{i}]") for i, v in enumerate(x)]
    if isinstance(x, tuple):
        return tuple(_rebuild(v, f"{where}[{i}]") for i, v in enumerate(x))
    return x


# ------------------------------------------------------------------- JSON + npz


def _encode(x: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Plain data -> JSON-able data; arrays go to ``arrays``."""
    if isinstance(x, (np.ndarray, np.generic)):
        arr = np.asarray(x)
        key = f"a{len(arrays)}"
        arrays[key] = arr
        node: dict[str, Any] = {
            "__array__": key,
            "dtype": str(arr.dtype),
            "shape": list(arr.shape),
        }
        if isinstance(x, np.generic):
            node["scalar"] = True
        if arr.size <= _INLINE and arr.dtype.kind in "biuf":
            node["data"] = _readable(arr)
        return node
    if isinstance(x, dict):
        plain_keys = all(isinstance(k, str) for k in x) and not any(
            k in _MARKERS for k in x if k != _TYPE
        )
        if _TYPE in x and not isinstance(x[_TYPE], str):
            plain_keys = False
        if plain_keys:
            return {k: _encode(v, arrays) for k, v in x.items()}
        return {
            "__items__": [
                [_encode(k, arrays), _encode(v, arrays)] for k, v in x.items()
            ]
        }
    if isinstance(x, tuple):
        return {"__tuple__": [_encode(v, arrays) for v in x]}
    if isinstance(x, list):
        return [_encode(v, arrays) for v in x]
    return x


def _readable(arr: np.ndarray) -> Any:
    """Nested lists; floats narrower than float64 by their shortest repr."""
    if arr.dtype.kind == "f" and arr.dtype.itemsize < 8:
        flat = [float(str(v)) for v in arr.ravel()]
        return np.asarray(flat, dtype=np.float64).reshape(arr.shape).tolist()
    return arr.tolist()


def _decode(x: Any, arrays: Any, where: str) -> Any:
    if isinstance(x, dict):
        if "__array__" in x:
            return _decode_array(x, arrays, where)
        if "__tuple__" in x:
            return tuple(_decode(v, arrays, where) for v in x["__tuple__"])
        if "__items__" in x:
            return {
                _decode(k, arrays, where): _decode(v, arrays, where)
                for k, v in x["__items__"]
            }
        return {k: _decode(v, arrays, where) for k, v in x.items()}
    if isinstance(x, list):
        return [_decode(v, arrays, where) for v in x]
    return x


def _decode_array(node: dict[str, Any], arrays: Any, where: str) -> Any:
    import jax.numpy as jnp

    dtype = jnp.dtype(node["dtype"])
    key = node["__array__"]
    if arrays is not None and key in arrays:
        arr = arrays[key]
        if arr.dtype != dtype:  # e.g. bfloat16, stored by numpy as raw bytes
            arr = arr.view(dtype)
    elif "data" in node:
        arr = np.asarray(node["data"], dtype=dtype).reshape(node["shape"])
    else:
        msg = (
            f"jaxmc.spectrum.load: array {key!r} of {where} is not in the JSON "
            f"file and its .npz file is missing or lacks it; keep the .npz "
            f"written by save() beside the .json."
        )
        raise ValueError(msg)
    if list(arr.shape) != list(node["shape"]):
        msg = (
            f"jaxmc.spectrum.load: array {key!r} of {where} has shape "
            f"{arr.shape} in the .npz file; the JSON says {tuple(node['shape'])}."
        )
        raise ValueError(msg)
    return arr[()] if node.get("scalar") else arr


def _dumps(doc: Any) -> str:
    """JSON with one level of indentation per node, each array on one line."""
    compact: list[str] = []

    def lift(x: Any) -> Any:
        if isinstance(x, dict):
            if "__array__" in x:
                out = dict(x)
                for name in ("shape", "data"):
                    if name in x:
                        compact.append(json.dumps(x[name], separators=(",", ":")))
                        out[name] = f"@@jaxmc-array-{len(compact) - 1}@@"
                return out
            return {k: lift(v) for k, v in x.items()}
        if isinstance(x, list):
            return [lift(v) for v in x]
        return x

    text = json.dumps(lift(doc), indent=1)
    for i, data in enumerate(compact):
        text = text.replace(f'"@@jaxmc-array-{i}@@"', data, 1)
    return text


def _paths(path: Any) -> tuple[pathlib.Path, pathlib.Path]:
    p = pathlib.Path(os.fspath(path))
    if p.suffix == ".npz":
        p = p.with_suffix(".json")
    elif p.suffix != ".json":
        p = p.with_name(p.name + ".json")
    return p, p.with_suffix(".npz")


def save(result: Any, path: str | os.PathLike) -> pathlib.Path:
    """Writes a result (or a container of results) to JSON plus ``.npz``.

    Args:
      result: a spectrum result, or a dict, list or tuple of results, arrays,
        numbers, strings and None.
      path: the JSON file to write (``.json`` is appended when the name has
        another suffix); the arrays go to the same name with suffix ``.npz``.

    Returns:
      The path of the JSON file written.

    Raises:
      TypeError: for a value that cannot be stored (an arbitrary object).
      OSError: if the files cannot be written.
    """
    from jaxmc import __version__

    json_path, npz_path = _paths(path)
    plain = _plain(result)
    arrays: dict[str, np.ndarray] = {}
    doc = {
        "format": FORMAT,
        "jaxmc_version": __version__,
        "result": _encode(plain, arrays),
    }
    text = _dumps(doc)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    if arrays:
        with open(npz_path, "wb") as fh:
            np.savez(fh, **arrays)
    json_path.write_text(text + "\n")
    return json_path


def load(path: str | os.PathLike) -> Any:
    """Reads a result written by ``save`` (or ``jaxmc spectrum --out``).

    Args:
      path: the JSON file (or its ``.npz`` companion; the other is found
        beside it).

    Returns:
      What was saved, of the same type: a result (``EigenResult``,
      ``SpectralDensity``, ...) or a container of them, every array a NumPy
      array bitwise equal to the saved one.

    Raises:
      FileNotFoundError: if the JSON file does not exist.
      ValueError: if the file is not a jaxmc results file or does not match
        its ``.npz`` file.

    >>> import tempfile, os, jax.numpy as jnp
    >>> from jaxmc.spectrum import TraceEstimate, load
    >>> est = TraceEstimate(jnp.float32(3.5), jnp.float32(0.25), 30)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     back = load(est.save(os.path.join(d, "trace.json")))
    >>> back
    TraceEstimate(estimate=3.5, std_error=0.25, num_matvecs=30)
    """
    json_path, npz_path = _paths(path)
    if not json_path.exists():
        msg = f"jaxmc.spectrum.load: no such file {str(json_path)!r}."
        raise FileNotFoundError(msg)
    try:
        doc = json.loads(json_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        msg = f"jaxmc.spectrum.load: {str(json_path)!r} is not JSON ({err})."
        raise ValueError(msg) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        msg = (
            f"jaxmc.spectrum.load: {str(json_path)!r} is not a jaxmc results "
            f'file (no "format": {FORMAT!r}).'
        )
        raise ValueError(msg)
    arrays = None
    if npz_path.exists():
        with np.load(npz_path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    plain = _decode(doc["result"], arrays, json_path.name)
    return _rebuild(plain, where=json_path.name)


# Methods attached to the result classes (``to_dict = _io.to_dict_method``).


def to_dict_method(self: Any) -> dict[str, Any]:
    """This result as plain Python data (see ``jaxmc.spectrum.to_dict``)."""
    return to_dict(self)


def save_method(self: Any, path: str | os.PathLike) -> pathlib.Path:
    """Writes this result to ``path`` (JSON) and its arrays beside it (``.npz``).

    See ``jaxmc.spectrum.save``; ``jaxmc.spectrum.load(path)`` reads it back.
    """
    return save(self, path)
