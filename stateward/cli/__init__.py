"""The ``stateward`` command (typer + rich)."""
