"""``python -m specprompt`` runs the CLI."""

import sys

from specprompt.cli import main

sys.exit(main())
