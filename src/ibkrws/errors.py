"""The exception tree of ibkrws: everything raised on purpose derives from `IbkrWsError`."""

from __future__ import annotations


class IbkrWsError(Exception):
    """Root of every error ibkrws raises on purpose."""


class ConfigurationError(IbkrWsError, ValueError):
    """A bad argument or environment variable; says which one and what is accepted."""


class ExternalBrokerError(IbkrWsError):
    """The gateway answered a REST call with an error status."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class NotRunningError(IbkrWsError):
    """An operation that needs a running client was called on a stopped one."""
