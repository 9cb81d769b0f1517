"""Use cases and the long-running roles that drive them. No HTTP, no SQL here."""
