"""JAX's persistent compilation cache, switched on in a per-user directory.

jaxmc's algorithms compile one program per signature (loss function, shapes,
dtypes, static options). Within a process they are reused; across processes
(a second ``jaxmc spectrum`` run, a new notebook kernel, the next job of a
sweep) JAX's persistent cache can reuse them too, which removes most of the
start-up time of a short analysis.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import jax
from jax.experimental.compilation_cache import compilation_cache as _jax_cache

__all__ = [
    "default_cache_dir",
    "disable_compilation_cache",
    "enable_compilation_cache",
]

_ENV = "JAXMC_CACHE_DIR"


def default_cache_dir() -> Path:
    r"""The directory :func:`enable_compilation_cache` uses when given none.

    ``$JAXMC_CACHE_DIR`` when set; otherwise the platform's user cache
    directory: ``$XDG_CACHE_HOME/jaxmc/xla`` (default ``~/.cache/jaxmc/xla``)
    on Linux and other POSIX systems, ``~/Library/Caches/jaxmc/xla`` on macOS
    and ``%LOCALAPPDATA%\jaxmc\xla`` on Windows.

    Returns:
      The directory, as a ``pathlib.Path`` (not created).
    """
    env = os.environ.get(_ENV)
    if env:
        return Path(env).expanduser()
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "jaxmc" / "xla"
    if sys.platform.startswith("win"):
        base = os.environ.get("LOCALAPPDATA") or str(home / "AppData" / "Local")
        return Path(base) / "jaxmc" / "xla"
    base = os.environ.get("XDG_CACHE_HOME") or str(home / ".cache")
    return Path(base) / "jaxmc" / "xla"


def enable_compilation_cache(path: str | os.PathLike | None = None) -> Path:
    """Turns on JAX's persistent compilation cache for this process.

    Compiled XLA programs are written to ``path`` and read back by later
    processes that compile the same program (same function, shapes, dtypes,
    static options, JAX version and platform), so a second run skips
    compilation. Every program is cached, however quick its compilation: a
    spectrum solve compiles a few programs of well under a second each, which
    together dominate a short run. The cache holds only compiled programs,
    never data; deleting the directory is always safe.

    On the CPU, jaxmc's solver programs are also kept in ``jaxmc-programs/``
    under a hash of their traced program, so that a later process loads them
    without lowering them first (``jaxmc/_persist.py``; a second ``jaxmc
    spectrum`` run spends about 0.5 s less).

    The ``jaxmc`` command line calls this by default (``--no-cache`` turns it
    off). It sets JAX's global options ``jax_compilation_cache_dir``,
    ``jax_persistent_cache_min_compile_time_secs`` (0) and
    ``jax_persistent_cache_min_entry_size_bytes`` (0).

    Args:
      path: the cache directory; created if missing. None uses
        ``default_cache_dir()`` (``$JAXMC_CACHE_DIR`` or the platform's
        user cache directory).

    Returns:
      The cache directory in use, as a ``pathlib.Path``.

    Raises:
      TypeError: if ``path`` is not a string or path-like.
      ValueError: if the directory cannot be created or is not writable.

    >>> import tempfile, jaxmc
    >>> d = jaxmc.enable_compilation_cache(tempfile.mkdtemp())
    >>> d.is_dir()
    True
    >>> jaxmc.disable_compilation_cache()
    """
    if path is None:
        target = default_cache_dir()
    elif isinstance(path, str | os.PathLike):
        target = Path(path).expanduser()
    else:
        msg = (
            "jaxmc.enable_compilation_cache: argument `path` must be a directory "
            f"(a str or os.PathLike) or None; got {type(path).__name__}."
        )
        raise TypeError(msg)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        msg = (
            f"jaxmc.enable_compilation_cache: cannot create the cache directory "
            f"{str(target)!r} ({err.strerror or err}); pass another `path` or set "
            f"${_ENV}."
        )
        raise ValueError(msg) from None
    if not os.access(target, os.W_OK):
        msg = (
            f"jaxmc.enable_compilation_cache: the cache directory {str(target)!r} "
            f"is not writable; pass another `path` or set ${_ENV}."
        )
        raise ValueError(msg)
    jax.config.update("jax_compilation_cache_dir", str(target))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    # JAX decides once per process, at its first compilation, whether the cache
    # is used; resetting makes the new setting apply to later compilations.
    _jax_cache.reset_cache()
    return target


def disable_compilation_cache() -> None:
    """Turns JAX's persistent compilation cache off for this process.

    Undoes :func:`enable_compilation_cache` (the files stay on disk).

    Returns:
      None.
    """
    jax.config.update("jax_compilation_cache_dir", None)
    _jax_cache.reset_cache()
