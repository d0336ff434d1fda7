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
