"""Shipped test aids: the controller shim (an ODL stand-in) and the multi-node emulator."""
