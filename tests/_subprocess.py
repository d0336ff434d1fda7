"""Running a Python script in a fresh interpreter, for the tests that need one.

A fresh process is needed where the device count is set before jax starts
(``XLA_FLAGS=--xla_force_host_platform_device_count=N``, sharding tests) or
where a script must run as a user runs it (examples).
"""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).parent.parent


def run_python(
    args: list[str],
    *,
    cwd: pathlib.Path,
    timeout: float,
    devices: int | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Runs ``python *args`` in ``cwd``; asserts that it exits with status 0.

    The repository root and ``tests/`` come first on ``PYTHONPATH`` (so the
    script imports this checkout's jaxmc and the tests' helper modules). With
    ``devices``, jax runs on the CPU with that many host devices. ``env`` adds
    variables. A hang fails at ``timeout`` seconds; a failure shows the ends of
    stdout and stderr.

    Returns:
      The finished process, its stdout and stderr as text.
    """
    path = [str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]
    full = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in path if p))
    if devices is not None:
        full["XLA_FLAGS"] = device_flags(devices)
        full["JAX_PLATFORMS"] = "cpu"
    full.update(env or {})
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


def device_flags(devices: int) -> str:
    """``XLA_FLAGS`` for ``devices`` host devices, after any flags already set."""
    flags = os.environ.get("XLA_FLAGS", "")
    return f"{flags} --xla_force_host_platform_device_count={devices}".strip()
