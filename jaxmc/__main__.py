"""``python -m jaxmc`` runs the command line."""

import sys

from jaxmc.cli import main

sys.exit(main())
