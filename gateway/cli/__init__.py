"""The `gateway` command, one module per command group."""

from gateway.cli.main import main

__all__ = ["main"]
