"""`ibind_logs_initialize`: console logging in the seed's format for the `ibkrws` loggers."""

from __future__ import annotations

import logging
import os
import sys

from ibkrws.config import DEFAULTS

_HANDLER_NAME = "ibkrws-console"


def ibind_logs_initialize(
    log_to_console: bool = True,
    log_to_file: bool = False,
    log_level: str | None = None,
    log_format: str | None = None,
    print_file_logs: bool = False,
) -> None:
    """Send `ibkrws` logs to stdout as `2024-04-26 17:02:34,248|I| IbkrWsClient: Starting`.

    `log_level` and `log_format` default to IBIND_LOG_LEVEL and IBIND_LOG_FORMAT. Calling it twice
    does not add a second handler. File logging is accepted for compatibility and not written:
    attach your own `logging.FileHandler` to the `ibkrws` logger for files.
    """
    level_name = (log_level or os.environ.get("IBIND_LOG_LEVEL") or DEFAULTS["IBIND_LOG_LEVEL"]).upper()
    level = logging.getLevelName(level_name)
    if not isinstance(level, int):
        raise ValueError(f"log_level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got {level_name!r}")
    fmt = log_format or os.environ.get("IBIND_LOG_FORMAT") or DEFAULTS["IBIND_LOG_FORMAT"]
    logger = logging.getLogger("ibkrws")
    logger.setLevel(logging.DEBUG if level <= logging.DEBUG else level)
    for handler in logger.handlers:
        if handler.get_name() == _HANDLER_NAME:
            handler.setLevel(level)
            handler.setFormatter(logging.Formatter(fmt))
            return
    if log_to_console:
        handler = logging.StreamHandler(stream=sys.stdout)
        handler.set_name(_HANDLER_NAME)
        handler.setLevel(level)
        handler.setFormatter(logging.Formatter(fmt))
        logger.addHandler(handler)
