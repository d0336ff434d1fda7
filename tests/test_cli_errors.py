"""Every user error in the CLI is one line on stderr and exit status 2.

Runs the subcommands tour, layouts, identities, cost and derive in process with
bad options and checks the status, that stderr is one line naming the option,
and that no traceback is printed. One case goes through ``python -m jaxmc`` to
check the same holds for a real process.
"""

import subprocess
import sys

import pytest

from jaxmc.cli import UsageError, int_at_least, main


def run_cli(argv, capsys):
    """(status, stdout, stderr) of ``jaxmc argv`` run in this process."""
    capsys.readouterr()
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's errors exit
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


BAD = [
    (["tour", "--n", "0"], "--n", "from 1 to 64; got 0"),
    (["tour", "--n", "-2"], "--n", "got -2"),
    (["tour", "--n", "4.5"], "--n", "got '4.5'"),
    (["tour", "--n", "100000"], "--n", "got 100000"),
    (["tour", "--seed", "-1"], "--seed", "from 0 to 4294967295"),
    (["tour", "--size", "3"], "unrecognized arguments", "--size"),
    (["layouts", "--n", "3"], "unrecognized arguments", "--n"),
    (["identities", "--trials", "0"], "--trials", ">= 1; got 0"),
    (["identities", "--verify", "--trials", "-1"], "--trials", "got -1"),
    (["identities", "--family", "nope"], "--family", "unknown family nope"),
    (["identities", "--dtype", "float16"], "--dtype", "invalid choice"),
    (["identities", "--verify", "--latex"], "--latex", "not allowed"),
    (["cost", "trace.AX", "--size", "0"], "--size", ">= 1; got 0"),
    (["cost", "trace.AX", "--size", "-3"], "--size", "got -3"),
    (["cost", "trace.AX", "--repeats", "0"], "--repeats", "got 0"),
    (["cost", "trace.AX", "--sizes", "0", "4"], "--sizes", "got 0"),
    (["cost", "trace.AX", "--argnums", "-1"], "--argnums", "got -1"),
    (["cost", "no_such_file.py:f", "--shapes", "3"], "no such file", "no_such"),
    (["cost", "no_such_module_xyz:f", "--shapes", "3"], "importing", "Module"),
    (["cost", "jax.numpy:nosuch", "--shapes", "3"], "no attribute", "nosuch"),
    (["cost", "jax.numpy:sin"], "--shapes", "give"),
    (["cost", "jax.numpy:sin", "--shapes", "-3"], "--shapes", "negative"),
    (["cost", "jax.numpy:sin", "--shapes", "3y"], "--shapes", "'3y'"),
    (["cost", "jax.numpy:sin", "--shapes", "0"], "args[0]", "no entries"),
    (["cost", "jax.numpy:sin", "--shapes", "3", "--modes", "fast"], "modes", "fast"),
    (
        ["cost", "jax.numpy:sin", "--shapes", "3", "--argnums", "2"],
        "argnums=2",
        "1 positional",
    ),
    (
        ["cost", "trace.AX", "--plot", "/no/such/folder/out.png"],
        "--plot",
        "does not exist",
    ),
    (["cost", "no.such.identity"], "no.such.identity", "identity"),
    (["derive", "x'*x"], "--wrt", "required"),
    (["derive", "x'*x", "--wrt", "x", "--seed", "-5"], "--seed", "got -5"),
    (["derive", "x'*x", "--wrt", "x", "--layout", "rows"], "--layout", "rows"),
]


@pytest.mark.parametrize(("argv", "option", "allowed"), BAD, ids=" ".join)
def test_user_errors_are_one_line_and_exit_2(argv, option, allowed, capsys):
    status, out, err = run_cli(argv, capsys)
    assert status == 2, (status, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"jaxmc {argv[0]}: error:") or lines[0].startswith(
        "jaxmc: error:"
    ), err
    assert option in lines[0] and allowed in lines[0], err
    assert "Traceback" not in err + out


def test_a_real_process_prints_no_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "jaxmc", "cost", "trace.AX", "--size", "0"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "jaxmc cost: error: argument --size: must be an int >= 1; got 0 "
        "(see jaxmc cost --help)"
    ]
    assert "Traceback" not in proc.stderr


def test_usage_error_is_the_generic_mechanism(capsys, monkeypatch):
    import jaxmc.cli.layouts as layouts

    def broken(args):
        raise UsageError("jaxmc layouts: --thing must be one of a, b;\n got c")

    monkeypatch.setattr(layouts, "run", broken)
    status, out, err = run_cli(["layouts"], capsys)
    assert status == 2 and out == ""
    assert err == "jaxmc layouts: error: --thing must be one of a, b; got c\n"


def test_int_at_least():
    import argparse

    parse = int_at_least(1, 3)
    assert parse("2") == 2
    for text, words in [("0", "got 0"), ("4", "got 4"), ("x", "got 'x'")]:
        with pytest.raises(argparse.ArgumentTypeError, match=words):
            parse(text)
    assert int_at_least(0)("123456789") == 123456789


def test_good_options_still_run(capsys):
    status, out, err = run_cli(["tour", "--n", "1"], capsys)
    assert status == 0 and "BAD" not in out and err == ""
