"""The ``specprompt`` command line."""

from specprompt.cli._main import main

__all__ = ["main"]
