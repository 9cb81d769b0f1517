"""Stateward: keeps the real state of a cloud's infrastructure true, and says so fast."""

__version__ = "0.1.0"
