"""The `jaxmc spectrum` main job, at a tiny size."""

from jaxmc.cli import main


def test_spectrum_command_prints_the_summary(capsys):
    argv = [
        "spectrum",
        "--examples",
        "48",
        "--hidden",
        "6",
        "--steps",
        "5",
        "--k",
        "2",
        "--trace-matvecs",
        "9",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    for text in (
        "Hessian eigenvalues",
        "largest",
        "most negative",
        "Trace (Hutch++, 9 HVPs",
        "+/-",
        "Total time",
    ):
        assert text in out
