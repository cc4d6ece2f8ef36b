"""The ``trellis`` command line: thin glue over the SDK (one module per command group)."""

from .main import main

__all__ = ["main"]
