"""The pure domain: models and rules. Nothing here does I/O or imports a framework."""
