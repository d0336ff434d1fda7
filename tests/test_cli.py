"""Tests for the jaxmc command line."""

import subprocess
import sys

import pytest

from jaxmc.cli import main


def test_tour_passes(capsys):
    assert main(["tour", "--n", "3"]) == 0
    out = capsys.readouterr().out
    assert "K vec(A) = vec(A^T)" in out
    assert "BAD" not in out and out.count("ok ") == 6


def test_no_arguments_runs_the_default(capsys):
    assert main([]) == 0
    assert "jaxmc" in capsys.readouterr().out


def test_unknown_command_is_an_error():
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2


def test_python_dash_m_runs():
    out = subprocess.run(
        [sys.executable, "-m", "jaxmc", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.startswith("jaxmc ")


def test_the_process_entry_point_freezes_the_collector_and_exits_with_main(capsys):
    import gc

    from jaxmc.cli import run_and_exit

    before = gc.get_freeze_count()
    assert main(["tour", "--n", "3"]) == 0  # main, called from Python: untouched
    assert gc.get_freeze_count() == before
    try:
        with pytest.raises(SystemExit) as exc:
            run_and_exit(["tour", "--n", "3"])
        assert exc.value.code == 0
        assert gc.get_freeze_count() > before  # what is alive is out of reach
        with pytest.raises(SystemExit) as exc:  # a subcommand's usage error: 2
            run_and_exit(["spectrum", "--k", "0"])
        assert exc.value.code == 2
    finally:
        gc.unfreeze()
    assert "K vec(A) = vec(A^T)" in capsys.readouterr().out


def test_the_installed_script_runs_the_process_entry_point():
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "jaxmc"]
    assert script.value == "jaxmc.cli:run_and_exit"


def _run_cli(args, env):
    import os

    full = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-m", "jaxmc", *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=300,
    )


def test_cli_writes_and_reuses_the_persistent_cache(tmp_path):
    cache = tmp_path / "cache"
    env = {"JAXMC_NO_CACHE": "", "JAXMC_CACHE_DIR": str(cache)}
    first = _run_cli(["tour", "--n", "3"], env)
    assert first.returncode == 0, first.stderr
    entries = sorted(p.name for p in cache.iterdir())
    assert entries, "the first run wrote no compiled program"
    second = _run_cli(["tour", "--n", "3"], env)
    assert second.returncode == 0, second.stderr
    # The second run compiles the same programs: it reads them, adding none.
    assert sorted(p.name for p in cache.iterdir()) == entries
    assert first.stdout == second.stdout


def test_cli_no_cache_writes_nothing(tmp_path):
    cache = tmp_path / "cache"
    env = {"JAXMC_NO_CACHE": "", "JAXMC_CACHE_DIR": str(cache)}
    out = _run_cli(["tour", "--n", "3", "--no-cache"], env)
    assert out.returncode == 0, out.stderr
    assert not cache.exists() or not any(cache.iterdir())


def test_help_says_where_the_cache_lives(tmp_path, capsys):
    import os

    os.environ["JAXMC_CACHE_DIR"] = str(tmp_path / "here")
    try:
        with pytest.raises(SystemExit):
            main(["spectrum", "--help"])
    finally:
        del os.environ["JAXMC_CACHE_DIR"]
    out = capsys.readouterr().out
    assert "--no-cache" in out and str(tmp_path / "here") in out.replace("\n", "")
