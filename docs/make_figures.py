"""Draws the examples' figures for the documentation (docs/figures/*.png).

Runs each example that writes a figure, in a temporary folder, and copies the
figure here. ``python docs/make_figures.py`` (full size; ``--small`` for the
tiny CI sizes), then build the docs.
"""

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))
FIGURES = {"hessian_spectrum": "hessian_spectrum.png", "jvp_vs_vjp": "jvp_vs_vjp.png"}


def main() -> None:
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(ROOT))
    if "--small" in sys.argv:
        env["JAXMC_EXAMPLE_SMALL"] = "1"
    out = ROOT / "docs" / "figures"
    out.mkdir(exist_ok=True)
    for stem, png in FIGURES.items():
        with tempfile.TemporaryDirectory() as tmp:
            script = ROOT / "examples" / f"{stem}.py"
            subprocess.run([sys.executable, str(script)], cwd=tmp, env=env, check=True)
            shutil.copy(pathlib.Path(tmp) / png, out / png)
            print(f"{script.name} -> docs/figures/{png}")


if __name__ == "__main__":
    main()
