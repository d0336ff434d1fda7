"""Shared timing helpers for the benchmark scripts (not part of the package).

Every benchmark jit-compiles, warms up, blocks with ``jax.block_until_ready`` and
reports the median of several repeats, measured side by side in one run.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax


def median_time(
    f: Callable[..., Any], *args: Any, repeats: int = 7, warmup: int = 2
) -> float:
    """Median wall time of ``f(*args)`` in seconds, after ``warmup`` calls."""
    for _ in range(warmup):
        jax.block_until_ready(f(*args))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(f(*args))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def machine() -> str:
    """A one-line description of the machine the benchmark ran on."""
    dev = jax.devices()[0]
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"JAX {jax.__version__} on {dev.platform} ({dev.device_kind})"
    )


def print_table(headers: list[str], rows: list[list[Any]]) -> None:
    """Prints a Markdown table, ready to paste into the README."""
    cells = [headers] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    fmt = "| " + " | ".join(f"{{:<{w}}}" for w in widths) + " |"
    print(fmt.format(*headers))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        print(fmt.format(*row))


COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


def compile_counter() -> list[float]:
    """A list that receives the duration of every XLA compilation from now on."""
    rec: list[float] = []

    def listen(event, duration, **kwargs):
        if event == COMPILE_EVENT:
            rec.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listen)
    return rec
