"""Logging to stderr, one line per event, with key=value fields.

Process wiring: called once by the CLI.
"""

from __future__ import annotations

import logging
import sys
import time


class _UtcFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))


class _QuietScheduler(logging.Filter):
    """A delivery pass asked to run again while it runs is expected, not worth a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances" not in record.getMessage()


def setup(verbosity: int) -> None:
    """-v shows every poll, -q only warnings and errors."""
    level = {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG)
    if verbosity < -1:
        level = logging.ERROR
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_UtcFormatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger("feedwatch")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    # the scheduler's own chatter is noise at INFO; its warnings still show
    scheduler = logging.getLogger("apscheduler")
    scheduler.setLevel(max(level, logging.WARNING))
    scheduler.handlers[:] = [handler]
    scheduler.propagate = False
    handler.addFilter(_QuietScheduler())
