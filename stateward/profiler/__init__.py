"""The performance profiler (Doctor seed 001): checkpoints T00..T10 of a fault's path.

Usable on its own: ``model`` (profiles, module spans, JSON export), ``stamp`` (trace points
and trace propagation), ``logs`` (rebuild profiles from JSON-lines logs of several
processes) and ``render`` (text timeline, cost table, SVG) import neither the server
runtime, FastAPI nor SQLAlchemy.

Roles stamp with ``from stateward.profiler.stamp import stamp``.
"""

from stateward.profiler.model import CHECKPOINTS, MODULES, Profile
from stateward.profiler.stamp import new_trace, trace_from_headers, trace_headers

__all__ = [
    "CHECKPOINTS",
    "MODULES",
    "Profile",
    "new_trace",
    "trace_from_headers",
    "trace_headers",
]
