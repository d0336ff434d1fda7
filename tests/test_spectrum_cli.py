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
    values = {}
    for line in out.splitlines():
        words = line.split()
        if words and words[0] in ("largest", "most"):
            label = "largest" if words[0] == "largest" else "negative"
            values[label] = [float(w) for w in words if w[0] in "+-"]
    assert len(values["largest"]) == 2 and len(values["negative"]) == 2
    assert all(abs(v) < 1e6 for vs in values.values() for v in vs)  # finite
    assert values["largest"][0] >= values["largest"][1] >= values["negative"][0]
    assert "nan" not in out.lower()
