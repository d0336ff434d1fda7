"""jaxmc.enable_compilation_cache: JAX's persistent cache in a user directory."""

import subprocess
import sys
import textwrap

import pytest

import jaxmc
from jaxmc._cache import default_cache_dir


def test_default_dir_follows_env_and_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("JAXMC_CACHE_DIR", str(tmp_path / "a"))
    assert default_cache_dir() == tmp_path / "a"
    monkeypatch.delenv("JAXMC_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert default_cache_dir() == tmp_path / "xdg" / "jaxmc" / "xla"


def test_second_process_reuses_compiled_programs(tmp_path):
    # Counted with JAX's monitoring events: every program of the second
    # process is a cache hit, none a miss (JAX records its compile-duration
    # event for hits too, so the cache's own events are the ones to count).
    script = textwrap.dedent(
        f"""
        import jax, jax.numpy as jnp, jaxmc
        from jax import monitoring
        n = []
        monitoring.register_event_listener(lambda e, **kw: n.append(e))
        jaxmc.enable_compilation_cache({str(tmp_path)!r})
        f = jax.jit(lambda x: jnp.sin(x) @ x.T)
        f(jnp.ones((3, 3))).block_until_ready()
        print(n.count("/jax/compilation_cache/cache_misses"),
              n.count("/jax/compilation_cache/cache_hits"))
        """
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=120,
        )
        for _ in range(2)
    ]
    for r in runs:
        assert r.returncode == 0, r.stderr
    misses0, hits0 = map(int, runs[0].stdout.split()[-2:])
    misses1, hits1 = map(int, runs[1].stdout.split()[-2:])
    assert misses0 >= 1 and hits0 == 0
    assert misses1 == 0 and hits1 == misses0


def test_bad_paths(tmp_path):
    with pytest.raises(TypeError, match="enable_compilation_cache: argument `path`"):
        jaxmc.enable_compilation_cache(3)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="cannot create the cache directory"):
        jaxmc.enable_compilation_cache(blocker / "sub")
