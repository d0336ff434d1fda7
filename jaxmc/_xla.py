"""How jaxmc compiles its own programs: XLA options that cut CPU compile time.

On the CPU backend, most of a first call of a spectrum algorithm is LLVM code
generation for the many small fused kernels of its program (a solver loop, its
checks and its matvec). Two options shorten it:

* XLA's elemental emitters (``xla_cpu_use_fusion_emitters=False``) generate
  those kernels in about half the time of its newer fusion emitters, and the
  code runs as fast for these programs (``benchmarks/spectrum_tracking.py``:
  the first ``eigenvalues(k=5)`` on the benchmark MLP compiled in 1.3 to 1.6 s
  instead of 2.1 to 2.3 s, and the solves took the same time). Set on every
  top-level jaxmc program on the CPU.
* LLVM's optimisation level 1 instead of XLA's default
  (``xla_backend_optimization_level=1``) cuts a fifth to a third more: the
  same call compiled in 1.04 to 1.15 s against 1.30 to 1.54 s at the
  default, alternating fresh processes. Level 1 runs fewer of LLVM's loop
  and vectorisation passes. On this 2-core machine the solves it compiled
  ran within the spread of the default's, from 1,860 to 670,000 parameters
  and up to a dense 3,000 x 3,000 matrix (``benchmarks/compile_options.py``:
  0.90x to 1.21x over two runs of the whole table, in no consistent
  direction), but an early single run of the dense 3,000 case was 1.4x
  slower. So jaxmc sets it only where the compile is sure to be most of
  the time: programs whose array arguments hold at most
  :data:`SMALL_ELEMENTS` numbers in all (2^16, the benchmark MLP has about
  23,000), whose solves take tens of milliseconds. Larger programs compile
  at XLA's default.

Programs of other backends, and the user's own programs (which may contain
jaxmc's: JAX allows compile options only on a top-level ``jax.jit``), compile
with XLA's defaults.

To choose for jaxmc's programs too, name an option in ``XLA_FLAGS``
(``--xla_cpu_use_fusion_emitters=true`` restores XLA's default): an option
named there is left to it. An XLA that no longer knows an option refuses the
first compile; jaxmc then drops the option for the rest of the process and
compiles with the defaults.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from jaxmc import _lapack, _persist

try:
    from jax.extend import core as _core
except ImportError:  # an old jax: no compile options
    _core = None

__all__ = ["at_top", "jit", "options", "small_shapes"]

# the options jaxmc sets on the CPU, each unless XLA_FLAGS names it
CPU_OPTIONS = {"xla_cpu_use_fusion_emitters": False}
# and, on top, for programs whose array arguments hold at most SMALL_ELEMENTS
# numbers in all (256 KiB of float32)
SMALL_CPU_OPTIONS = {"xla_backend_optimization_level": 1}
SMALL_ELEMENTS = 2**16
_REFUSED = "No such compile option"
_dropped: set[str] = set()


def _trace_state() -> Any:
    get = getattr(_core, "get_opaque_trace_state", None)
    return None if get is None else get()


# The trace state of an import at the top level (no transformation running).
_TOP = _trace_state()


def options(small: bool = False) -> dict[str, Any]:
    """The compile options of a top-level jaxmc program now (maybe empty).

    Args:
      small: options for a small program (at most :data:`SMALL_ELEMENTS`
        numbers in its array arguments).
    """
    return dict(_options_key(small))


_KEYS: dict[tuple, tuple] = {}


def _options_key(small: bool) -> tuple:
    # Called on every top-level call, so memoised on what decides it: the
    # size class, the flags, and the options dropped so far (the backend is
    # fixed at start).
    flags = os.environ.get("XLA_FLAGS", "")
    memo = (small, flags, id(_dropped), len(_dropped))
    key = _KEYS.get(memo)
    if key is None:
        cpu = jax.default_backend() == "cpu"
        wanted = {**CPU_OPTIONS, **(SMALL_CPU_OPTIONS if small else {})}
        key = tuple(
            (name, value)
            for name, value in sorted(wanted.items())
            if cpu and name not in _dropped and f"--{name}" not in flags
        )
        _KEYS[memo] = key
    return key


def small_shapes(shapes: Any) -> bool:
    """Whether arrays of these shapes hold at most ``SMALL_ELEMENTS`` numbers."""
    return sum(math.prod(s) for s in shapes) <= SMALL_ELEMENTS


def _is_small(args: Any) -> bool:
    """At most ``SMALL_ELEMENTS`` numbers in the arrays among ``args``."""
    leaves = jax.tree_util.tree_leaves(args)
    return small_shapes(
        x.shape for x in leaves if isinstance(x, jax.Array | np.ndarray)
    )


def at_top() -> bool:
    """True when no transformation (``jit``, ``grad``, ``vmap``) is running."""
    return _TOP is not None and _trace_state() == _TOP


class _Jit:
    """``jax.jit(fun, **kwargs)``, with :func:`options` on top-level calls.

    Under a transformation (an enclosing ``jax.jit``, ``grad`` or ``vmap``)
    it is ``jax.jit(fun, **kwargs)`` itself. ``trace`` and ``lower`` are
    those of that plain jit (options change the compiled code, not the
    program). Hashable by identity, as a ``jax.jit`` function is.
    """

    def __init__(
        self, fun: Callable, kwargs: dict[str, Any], small: bool | None, persist: bool
    ):
        self._fun = fun
        self._kwargs = kwargs
        self._small = small
        self._persist = persist
        nums = kwargs.get("static_argnums", ())
        names = kwargs.get("static_argnames", ())
        self._static = (
            (nums,) if isinstance(nums, int) else tuple(nums),
            (names,) if isinstance(names, str) else tuple(names),
        )
        self._plain = jax.jit(fun, **kwargs)
        self._with: dict[tuple, Callable] = {}
        functools.update_wrapper(self, fun)

    def _compiled_with(self, key: tuple) -> Callable:
        f = self._with.get(key)
        if f is None:
            try:
                f = jax.jit(self._fun, compiler_options=dict(key), **self._kwargs)
            except TypeError:  # a jax.jit without compile options
                _dropped.update(name for name, _ in key)
                return self._plain
            self._with[key] = f
        return f

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not at_top():
            return self._plain(*args, **kwargs)
        small = self._small
        if small is None:
            small = _is_small((args, kwargs))
        key = _options_key(small)
        f = (self._with.get(key) or self._compiled_with(key)) if key else self._plain
        try:
            if self._persist and _persist.directory() is not None:
                return _persist.call(f, self._static, args, kwargs, key)
            if self._persist:  # a solver: its eigh's LAPACK set up cheaply
                _lapack.prepare_for_cpu()
            return f(*args, **kwargs)
        except jax.errors.JaxRuntimeError as e:
            text = str(e)
            refused = [name for name, _ in key if _REFUSED in text and name in text]
            if not refused:
                raise
            _dropped.update(refused)
        return self(*args, **kwargs)

    def trace(self, *args: Any, **kwargs: Any) -> Any:
        return self._plain.trace(*args, **kwargs)

    def lower(self, *args: Any, **kwargs: Any) -> Any:
        return self._plain.lower(*args, **kwargs)


def jit(
    fun: Callable | None = None,
    *,
    small: bool | None = None,
    persist: bool = False,
    **kwargs: Any,
) -> Any:
    """``jax.jit`` for jaxmc's programs (usable as a decorator, with kwargs).

    Args:
      fun: the function; None returns a decorator taking it.
      small: whether the program is small (see :func:`options`); None
        (default) decides on every top-level call from the arrays passed.
        A program called many times with arguments of fixed shapes (a
        stretch of a host-run solve) fixes it once instead.
      persist: keep the compiled program on disk when JAX's persistent
        cache is on, found again in a later process without lowering
        (``jaxmc/_persist.py``); for the solver programs, each called
        once per solve.
      **kwargs: ``jax.jit``'s keyword arguments (``static_argnums``, ...).

    Returns:
      A callable like ``jax.jit(fun, **kwargs)`` whose top-level calls on the
      CPU compile with :func:`options`.
    """
    if fun is None:
        return lambda f: _Jit(f, kwargs, small, persist)
    return _Jit(fun, kwargs, small, persist)
