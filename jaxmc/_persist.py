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
path. A file holds the devices the program runs on, whether it makes custom
calls (LAPACK's kernels, which are then set up before it loads) and the
executable. A program that JAX's cache holds and jaxmc's files do not (a new
jaxmc's keys, or this folder deleted) is compiled once more past JAX's cache
and kept. Files in ``hints/`` map a cheap guess at a call's key (made before
the trace) to the program last kept or loaded for it, which is then loaded in
a thread while the call traces (see ``_Prefetch``). Only on the CPU backend
and in a single process for now: that is where it was tested (other backends
and ``jax.distributed`` runs keep JAX's cache alone). The files live in
``jaxmc-programs/`` inside the cache directory; deleting them is always safe.
They are read with ``jax.experimental.serialize_executable`` (a pickle), so,
as for JAX's own cache, the directory must be writable only by its user.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jax.experimental import serialize_executable

from jaxmc import _lapack
from jaxmc._bounded import BoundedDict

try:
    from jax.extend import core as _core
except ImportError:  # an old jax
    _core = None

__all__ = ["call", "directory"]

_SUBDIR = "jaxmc-programs"
_FORMAT = "jaxmc-persist-2"
# in-process: (program, signature) -> Compiled, or None (not persistable)
_LOADED: dict[Any, Any] = BoundedDict(256)
# in-process: program key -> Compiled (one program, arguments of other kinds)
_BY_KEY: dict[str, Any] = BoundedDict(256)


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
        compiled = _load_or_compile(jitted, args, kwargs, options, sig)
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


def _forget() -> None:
    """Drops what this process holds (the files stay); for tests."""
    _LOADED.clear()
    _BY_KEY.clear()


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


def _load_or_compile(
    jitted: Any, args: tuple, kwargs: dict, options: tuple, sig: tuple
) -> Any:
    """The Compiled for these arguments, from disk or compiled and written."""
    folder = directory()
    hint = _hint(sig, options) if folder is not None else None
    prefetch = _Prefetch(folder, hint, sig) if hint is not None else None
    try:
        return _trace_and_find(jitted, args, kwargs, options, folder, hint, prefetch)
    finally:
        if prefetch is not None:  # no thread outlives the call
            prefetch.join()


def _trace_and_find(
    jitted: Any,
    args: tuple,
    kwargs: dict,
    options: tuple,
    folder: Path | None,
    hint: str | None,
    prefetch: _Prefetch | None,
) -> Any:
    traced = jitted.trace(*args, **kwargs)
    closed = traced.jaxpr
    if closed.effects or _calls_host(closed.jaxpr):
        return None
    try:
        key = _key(traced, options)
    except Exception:  # noqa: BLE001 (anything unexpected: not kept)
        return None
    hit = _BY_KEY.get(key)
    if hit is not None:  # the same program, for arguments of another kind
        return hit
    path = folder / f"{key}.exe" if folder is not None else None
    compiled = prefetch.take(key, traced) if prefetch is not None else None
    if compiled is not None:
        _COUNTS["prefetched"] += 1
        _BY_KEY[key] = compiled
        return compiled
    if path is not None and path.is_file():
        try:
            blob, devices = _read_kept(path)
            compiled = serialize_executable.deserialize_and_load(
                blob, traced._in_tree, traced.out_tree, execution_devices=devices
            )
            _BY_KEY[key] = compiled
            _remember(folder, hint, key)
            return compiled
        except Exception:  # noqa: BLE001 (a stale or damaged file: recompile)
            path.unlink(missing_ok=True)
    _lapack.prepare_for_cpu()  # as lowering an eigh would, less scipy.linalg
    lowered = traced.lower()
    compiled, fresh, from_jax = _compile(lowered)
    # Only an executable XLA has just compiled, and not yet run, serializes
    # whole on the CPU (measured, jaxlib 0.10): one that has run refuses
    # ("`LessThan` is not serializable", a sort comparator), and one read
    # back from JAX's cache serializes, but the next process that loads it
    # fails ("Function iota.22_kernel not found"). So a program compiled
    # here is written; one found in memory is not. One found in JAX's cache
    # but not here (a new jaxmc, whose keys are new, or this folder deleted)
    # is compiled once more, missing JAX's cache on purpose, so that later
    # processes load it instead of lowering it every time.
    if path is not None and from_jax and _writable(path.parent):
        try:
            compiled, fresh, _ = _compile(lowered, _MISS_JAX_CACHE)
        except Exception:  # noqa: BLE001 (the option unknown here: not kept)
            fresh = False
    if path is not None and fresh:
        try:
            blob = serialize_executable.serialize(compiled)[0]
            # the devices it runs on, in order: a one-device program loaded
            # onto all of them would expect an argument shard on each
            devices = compiled._executable.xla_executable.local_devices()
            head = ",".join(str(d.id) for d in devices).encode()
            _write(path, head + b"\n" + _custom_calls(compiled) + b"\n" + blob)
            _remember(folder, hint, key)
        except Exception:  # noqa: BLE001 (not serializable here: kept in memory)
            pass
    _BY_KEY[key] = compiled
    return compiled


def _read_kept(path: Path) -> tuple[bytes, list]:
    """A kept file's executable and the devices it runs on, ready to load.

    Sets up LAPACK first where the executable makes custom calls. Raises
    where the file is missing or damaged, names devices this process lacks,
    or LAPACK cannot be set up (the executable must not run then).
    """
    head, calls, blob = path.read_bytes().split(b"\n", 2)
    by_id = {d.id: d for d in jax.devices()}
    devices = [by_id[int(i)] for i in head.decode().split(",")]
    if calls != b"no-custom-calls":
        _prepare_runtime()
    return blob, devices


# A program's key needs its trace (0.15 to 0.25 s for the eigensolver of the
# benchmark MLP), and loading its executable another 0.07 to 0.13 s, which
# jaxlib spends without holding the GIL. So a cheap guess at the key, from
# what is known before the trace (the function's name, the static arguments
# as they print, the arguments' types and shardings, the options), names the
# program last kept or loaded for it (a file in ``hints/``), and that program
# is loaded in a thread while this one traces. It is used only if the traced
# program's key is the guessed one; a wrong guess costs a load on the other
# core, never a wrong program.
_HINTS = "hints"
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_KEY = re.compile(r"[0-9a-f]{64}")
# how often a program came from a load made while it was traced (for tests)
_COUNTS = {"prefetched": 0}


def _hint(sig: tuple, options: tuple) -> str | None:
    """The guess's file name: a hash of ``sig`` as it prints, less addresses.

    None where something in it cannot be printed (no guess, no prefetch).
    """
    from jaxmc import __version__

    jitted, pos, kw, signature = sig
    fun = getattr(jitted, "__wrapped__", jitted)
    try:
        # a solver's ``traced`` is one function per algorithm core, in its closure
        cells = [c.cell_contents for c in getattr(fun, "__closure__", None) or ()]
        names = [_name(x) for x in (fun, *cells) if callable(x)]
        text = repr((_FORMAT, __version__, jax.__version__, names, pos, kw, signature))
    except Exception:  # noqa: BLE001 (a static argument whose repr fails)
        return None
    text = _ADDRESS.sub("", text) + repr(options)
    return hashlib.sha256(text.encode()).hexdigest()


def _name(fun: Any) -> str:
    return f"{getattr(fun, '__module__', '')}.{getattr(fun, '__qualname__', '')}"


def _remember(folder: Path | None, hint: str | None, key: str) -> None:
    """Points the guess ``hint`` at the program ``key`` (best effort)."""
    if folder is None or hint is None:
        return
    path = folder / _HINTS / hint
    try:
        if not (path.is_file() and path.read_text() == key):
            _write(path, key.encode())
    except OSError:
        pass


class _Prefetch:
    """The executable a guess names, loaded in a thread while the call traces."""

    def __init__(self, folder: Path, hint: str, sig: tuple):
        self._thread = None
        self._result = None
        self.key = None
        try:
            key = (folder / _HINTS / hint).read_text()
            if not _KEY.fullmatch(key):
                return
            # here, not in the thread: a LAPACK setup may import modules
            blob, devices = _read_kept(folder / f"{key}.exe")
        except Exception:  # noqa: BLE001 (no guess, its file gone, no LAPACK)
            return
        self.key = key
        # the tree jit flattens the dynamic arguments by; checked in ``take``
        self._in_tree = sig[3][0]
        placeholder = jax.tree_util.tree_structure(None)

        def load() -> None:
            try:
                self._result = serialize_executable.deserialize_and_load(
                    blob, self._in_tree, placeholder, execution_devices=devices
                )
            except Exception:  # noqa: BLE001 (the usual load follows)
                self._result = None

        self._thread = threading.Thread(target=load, name="jaxmc-load", daemon=True)
        self._thread.start()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def take(self, key: str, traced: Any) -> Any:
        """The loaded program if it is ``traced``'s (its key), else None."""
        self.join()
        loaded, self._result = self._result, None
        if loaded is None or key != self.key or traced._in_tree != self._in_tree:
            return None
        try:  # the loaded executable, with the traced program's output tree
            return jax.stages.Compiled(
                loaded._executable,
                [],
                loaded.args_info,
                traced.out_tree,
                no_kwargs=loaded._no_kwargs,
            )
        except Exception:  # noqa: BLE001 (another jax: the usual load)
            return None


def _compile(lowered: Any, options: dict | None = None) -> tuple[Any, bool, bool]:
    """``lowered.compile(options)``, whether XLA compiled it, whether JAX had it.

    (JAX reports a compile for a hit in its cache too.)
    """
    _STATE.events = events = []
    try:
        compiled = lowered.compile(options)
    finally:
        _STATE.events = None
    from_jax = _JAX_HIT in events
    return compiled, _COMPILED in events and not from_jax, from_jax


# An option the CPU compiler ignores (it is the GPU's), so a program compiled
# with it is the same program under another key of JAX's cache. Programs are
# kept on the CPU only (see ``directory``).
_MISS_JAX_CACHE = {"xla_gpu_enable_fast_min_max": True}

_COMPILED = "/jax/core/compile/backend_compile_duration"
_JAX_HIT = "/jax/compilation_cache/cache_hits"
# the compile events of this thread's compile in _load_or_compile (JAX
# records them on the compiling thread)
_STATE = threading.local()


def _listen(event: str, *args: Any, **kwargs: Any) -> None:
    events = getattr(_STATE, "events", None)
    if events is not None:
        events.append(event)


jax.monitoring.register_event_listener(_listen)
jax.monitoring.register_event_duration_secs_listener(_listen)


def _custom_calls(compiled: Any) -> bytes:
    """The file's second line: whether the executable makes custom calls.

    The CPU's custom calls are jaxlib's kernels (LAPACK's ``eigh``, ``geqrf``,
    ...), which need :func:`_prepare_runtime` before they run; a program
    without any (the command line's training steps, for one) loads without
    it. Read from the optimized HLO, so nothing a lowering adds is missed.
    """
    text = compiled.as_text()
    if text is None or "custom_call_target=" in text:
        return b"custom-calls"
    return b"no-custom-calls"


def _prepare_runtime() -> None:
    """What lowering would have set up before the executable runs.

    jaxlib looks up the LAPACK routines behind the CPU's linear-algebra
    kernels (``eigh``, ``cholesky``, ...) when it first lowers one; an
    executable loaded without lowering would call them unset (measured: a
    segmentation fault). Looking them up is idempotent; ``jaxmc/_lapack.py``
    does it without importing ``scipy.linalg`` (0.01 s instead of 0.1 to
    0.3 s here).
    """
    _lapack.prepare()


def _writable(folder: Path) -> bool:
    """Whether files can be kept in ``folder`` (created if missing)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


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
        # what the executable sees of an argument; not whether it came as a
        # NumPy array or committed (the call places it)
        sharding = getattr(meta, "sharding", None)
        ids = getattr(sharding, "_device_assignment", None)
        feed(
            meta.aval,
            sharding,
            getattr(meta, "format", None),
            None if ids is None else [d.id for d in ids],
        )
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
