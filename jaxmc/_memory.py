"""How much memory is free, and a clear error before an allocation cannot fit.

:func:`available_bytes` reads the memory a new buffer can use: on a GPU or TPU
the device's ``memory_stats()`` (``bytes_limit - bytes_in_use``); on the CPU
(or where a device gives no statistics) the host's ``MemAvailable`` from
``/proc/meminfo`` on Linux, else ``os.sysconf`` free pages; ``None`` where
nothing can be read, and then no check is made.

:func:`check_fits` raises :class:`InsufficientMemoryError` (a ``MemoryError``
and a ``ValueError``) naming the function, what it would allocate, the bytes
needed, the bytes available and the option that lowers the need, *before* the
allocation, instead of XLA's ``RESOURCE_EXHAUSTED`` after a long wait.
"""

from __future__ import annotations

import os
from typing import Any

import jax


class InsufficientMemoryError(MemoryError, ValueError):
    """A result or its temporaries cannot fit in the memory available."""


def _host_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def available_bytes(device: Any = None) -> int | None:
    """Bytes free for a new buffer on ``device`` (default: JAX's first device).

    Args:
      device: a ``jax.Device``; None for ``jax.devices()[0]``.

    Returns:
      The free bytes, or None when they cannot be read.
    """
    try:
        device = jax.devices()[0] if device is None else device
    except RuntimeError:  # pragma: no cover - no backend at all
        return _host_available()
    if getattr(device, "platform", "cpu") != "cpu":
        try:
            stats = device.memory_stats() or {}
        except Exception:  # noqa: BLE001 - statistics are best-effort
            stats = {}
        limit = stats.get("bytes_limit")
        if limit:
            return int(limit) - int(stats.get("bytes_in_use", 0))
    return _host_available()


def format_bytes(n: float) -> str:
    """``n`` bytes in a short human form (``"8.0 TB"``, ``"512.0 MB"``)."""
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"  # pragma: no cover


def check_fits(
    fn: str, what: str, needed: float, remedy: str, *, available: int | None = None
) -> None:
    """Raises :class:`InsufficientMemoryError` unless ``needed`` bytes fit.

    Args:
      fn: the public function's name.
      what: what would be allocated (``"the dense (n, n) Hessian"``).
      needed: the bytes that allocation needs.
      remedy: the option that lowers the need, as a sentence.
      available: the free bytes; default :func:`available_bytes`.
    """
    available = available_bytes() if available is None else available
    if available is None or needed <= available:
        return
    msg = (
        f"{fn}: {what} needs {format_bytes(needed)} ({int(needed)} bytes), but "
        f"only {format_bytes(available)} ({int(available)} bytes) of memory is "
        f"available. {remedy}"
    )
    raise InsufficientMemoryError(msg)
