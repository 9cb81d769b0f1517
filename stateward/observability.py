"""Structured logging for every role and process: human-readable lines on a terminal, JSON
lines otherwise (a file, a pipe, a supervisor), or as configured (``[logging] format``)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import structlog

_CONFIGURED = False


def resolve_format(fmt: str, file: Path | None = None) -> str:
    """``auto`` is ``console`` when the logs go to an interactive terminal, else ``json``."""
    if fmt != "auto":
        return fmt
    return "console" if file is None and sys.stderr.isatty() else "json"


def configure_logging(level: str = "INFO", fmt: str = "auto", file: Path | None = None) -> None:
    """Route stdlib and structlog records through one renderer; idempotent."""
    global _CONFIGURED
    fmt = resolve_format(fmt, file)
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler: logging.Handler = (
        logging.FileHandler(file) if file else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_stateward", False):
            root.removeHandler(old)
    handler._stateward = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("uvicorn.access", "nats", "alembic", "httpx"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    if not _CONFIGURED:
        structlog.configure(
            processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
            cache_logger_on_first_use=True,
        )
    _CONFIGURED = True
