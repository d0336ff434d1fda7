"""``python -m jaxmc`` runs the command line."""

from jaxmc.cli import run_and_exit

run_and_exit()
