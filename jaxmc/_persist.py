"""Compiled solver programs kept on disk, found again without lowering them.

JAX's persistent compilation cache finds a compiled program by a hash of its
lowered module, so every new process still traces and lowers each program
before the cache is read: for ``eigenvalues`` on the benchmark MLP about 0.3 s
of lowering and 0.1 s of hashing and reading, most of a second ``jaxmc
spectrum`` run. When that cache is on (``jax_compilation_cache_dir`` is set,
as :func:`jaxmc.enable_compilation_cache` does), jaxmc's solver programs are
also written there as serialized executables under a key computed from the
traced program itself (its jaxpr, the values of its constants and literals,
its arguments' types, shardings and devices, the compile options and the
versions of JAX, jaxlib and jaxmc), so that a later process traces the program
and then loads it, skipping lowering and XLA's cache lookup.

A program is kept only when it has no side effects and no host callbacks
(whose executables cannot be serialized); any other program, and any program
whose key cannot be computed or whose file cannot be read, takes JAX's usual
path. Only on the CPU backend and in a single process for now: that is
where it was tested (other backends and ``jax.distributed`` runs keep
JAX's cache alone). The files live in
``jaxmc-programs/`` inside the cache directory; deleting them is always safe.
They are read with ``jax.experimental.serialize_executable`` (a pickle), so,
as for JAX's own cache, the directory must be writable only by its user.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jax.experimental import serialize_executable

try:
    from jax.extend import core as _core
except ImportError:  # an old jax
    _core = None

__all__ = ["call", "directory"]

_SUBDIR = "jaxmc-programs"
_FORMAT = "jaxmc-persist-1"
# in-process: (program, signature) -> Compiled, or None (not persistable)
_LOADED: dict[Any, Any] = {}
_MAX_LOADED = 256


def directory() -> Path | None:
    """Where programs are kept, or None when JAX's persistent cache is off."""
    base = jax.config.jax_compilation_cache_dir
    if not base or _core is None or jax.default_backend() != "cpu":
        return None
    if jax.process_count() > 1:  # devices of other processes: JAX's cache alone
        return None
    if "://" in str(base):  # a remote cache (gs://...): JAX's alone
        return None
    return Path(base) / _SUBDIR


def call(jitted: Any, static: tuple, args: tuple, kwargs: dict, options: tuple) -> Any:
    """``jitted(*args, **kwargs)``, its executable read from disk when kept there.

    Args:
      jitted: the ``jax.jit`` function (with its compile options).
      static: ``(static_argnums, static_argnames)`` of ``jitted``.
      args: positional arguments, static ones included.
      kwargs: keyword arguments, static ones included.
      options: the compile options, as a sorted tuple of pairs.

    Returns:
      What ``jitted(*args, **kwargs)`` returns.
    """
    nums, names = static
    dyn_args = tuple(a for i, a in enumerate(args) if i not in nums)
    dyn_kwargs = {k: v for k, v in kwargs.items() if k not in names}
    try:
        sig = (
            jitted,
            tuple(args[i] for i in nums if i < len(args)),
            tuple(sorted((k, v) for k, v in kwargs.items() if k in names)),
            _signature((dyn_args, dyn_kwargs)),
        )
        hash(sig)
    except TypeError:  # an unhashable leaf or static value: jit decides
        return jitted(*args, **kwargs)
    compiled = _LOADED.get(sig, False)
    if compiled is False:
        compiled = _load_or_compile(jitted, args, kwargs, options)
        if len(_LOADED) >= _MAX_LOADED:  # the oldest goes (dicts keep order)
            del _LOADED[next(iter(_LOADED))]
        _LOADED[sig] = compiled
    if compiled is None:
        return jitted(*args, **kwargs)
    try:
        return compiled(*dyn_args, **dyn_kwargs)
    except (TypeError, ValueError):
        # arguments the signature above did not tell apart (a compiled call
        # checks them before it runs anything): jit decides, from now on
        _LOADED[sig] = None
        return jitted(*args, **kwargs)


def _signature(tree: Any) -> tuple:
    """What a compiled call depends on, beyond the static arguments."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    parts = []
    for x in leaves:
        if isinstance(x, jax.Array):
            parts.append((x.aval, x.sharding, x.committed))
        elif isinstance(x, np.ndarray | np.generic):
            parts.append((x.shape, x.dtype))
        else:
            parts.append((type(x),))
    return (treedef, tuple(parts), _trace_context())


def _trace_context() -> Any:
    try:
        from jax._src import config

        return config.trace_context()
    except Exception:  # noqa: BLE001 (a jax without it: x64 is the main one)
        return jax.config.jax_enable_x64


def _load_or_compile(jitted: Any, args: tuple, kwargs: dict, options: tuple) -> Any:
    """The Compiled for these arguments, from disk or compiled and written."""
    traced = jitted.trace(*args, **kwargs)
    closed = traced.jaxpr
    if closed.effects or _calls_host(closed.jaxpr):
        return None
    try:
        key = _key(traced, options)
    except Exception:  # noqa: BLE001 (anything unexpected: not kept)
        return None
    folder = directory()
    path = folder / f"{key}.exe" if folder is not None else None
    if path is not None and path.is_file():
        try:
            head, blob = path.read_bytes().split(b"\n", 1)
            by_id = {d.id: d for d in jax.devices()}
            devices = [by_id[int(i)] for i in head.decode().split(",")]
            _prepare_runtime()
            return serialize_executable.deserialize_and_load(
                blob, traced._in_tree, traced.out_tree, execution_devices=devices
            )
        except Exception:  # noqa: BLE001 (a stale or damaged file: recompile)
            pass
    compiled = traced.lower().compile()
    if path is not None:
        try:
            blob = serialize_executable.serialize(compiled)[0]
            # the devices it runs on, in order: a one-device program loaded
            # onto all of them would expect an argument shard on each
            devices = compiled._executable.xla_executable.local_devices()
            head = ",".join(str(d.id) for d in devices).encode()
            _write(path, head + b"\n" + blob)
        except Exception:  # noqa: BLE001 (not serializable here: kept in memory)
            pass
    return compiled


def _prepare_runtime() -> None:
    """What lowering would have set up before the executable runs.

    jaxlib looks up the LAPACK routines behind the CPU's linear-algebra
    kernels (``eigh``, ``cholesky``, ...) when it first lowers one; an
    executable loaded without lowering would call them unset (measured: a
    segmentation fault). Looking them up is idempotent and cheap.
    """
    from jax._src.lax import linalg

    linalg.initialize_lapack()


def _write(path: Path, blob: bytes) -> None:
    """Writes ``blob`` to ``path`` atomically (a concurrent reader sees all or none)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _calls_host(jaxpr: Any) -> bool:
    for eqn in jaxpr.eqns:
        if "callback" in eqn.primitive.name:
            return True
        for sub in _core.jaxprs_in_params(eqn.params):
            if _calls_host(getattr(sub, "jaxpr", sub)):
                return True
    return False


def _key(traced: Any, options: tuple) -> str:
    """A hash of everything the compiled program depends on."""
    from jaxmc import __version__

    h = hashlib.sha256()

    def feed(*parts: Any) -> None:
        for p in parts:
            h.update(p if isinstance(p, bytes) else repr(p).encode())
            h.update(b"\x00")

    backend = jax.extend.backend.get_backend()
    feed(
        _FORMAT,
        __version__,
        jax.__version__,
        jax.lib.__version__ if hasattr(jax.lib, "__version__") else None,
        sys.version_info[:2],
        backend.platform,
        backend.platform_version,
        [(d.id, d.device_kind, d.process_index) for d in jax.devices()],
        options,
        jax.config.jax_enable_x64,
        jax.config.jax_default_matmul_precision,
    )
    closed = traced.jaxpr
    text = closed.jaxpr.pretty_print(source_info=False, name_stack=False)
    if " at 0x" in text:  # an object printed by address: not the same next time
        msg = "a parameter prints its address"
        raise ValueError(msg)
    feed(text)
    for c in closed.consts:
        _feed_array(feed, c)
    for value in _literals(closed.jaxpr):
        _feed_array(feed, value)
    for meta in traced._meta_tys_flat:
        sharding = getattr(meta, "sharding", None)
        ids = getattr(sharding, "_device_assignment", None)
        feed(meta, None if ids is None else [d.id for d in ids])
    feed({k: v for k, v in traced._params.items() if k != "jaxpr"})
    feed(traced._in_tree, traced.out_tree)
    return h.hexdigest()


def _feed_array(feed: Any, x: Any) -> None:
    if jax.dtypes.issubdtype(getattr(x, "dtype", None), jax.dtypes.prng_key):
        x = jax.random.key_data(x)
    a = np.asarray(x)
    feed(a.dtype.str, a.shape, a.tobytes())


def _literals(jaxpr: Any) -> list:
    out = []
    for eqn in jaxpr.eqns:
        out.extend(v.val for v in eqn.invars if isinstance(v, _core.Literal))
        for sub in _core.jaxprs_in_params(eqn.params):
            out.extend(_literals(getattr(sub, "jaxpr", sub)))
    out.extend(v.val for v in jaxpr.outvars if isinstance(v, _core.Literal))
    return out
