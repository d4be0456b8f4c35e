"""Calling blocking code from the engine loop without blocking it or leaving threads behind.

A synchronous `IbkrClient` call runs on a daemon thread of its own, so a hung REST call can
neither stall the receive path nor keep the interpreter from exiting.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from typing import Any


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


async def run_blocking(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run `fn(*args, **kwargs)` on a daemon thread and await its result on this loop."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def work() -> None:
        result: Any = None
        error: BaseException | None = None
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the awaiting task
            error = exc
        try:
            loop.call_soon_threadsafe(_settle, future, result, error)
        except RuntimeError:  # the loop has closed; nobody is waiting any more
            pass

    threading.Thread(target=work, name="ibkrws-rest", daemon=True).start()
    return await future


async def call_maybe_async(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Await `fn` if it is a coroutine function (or a method of an `is_async` client), else run it off the loop."""
    if inspect.iscoroutinefunction(fn) or getattr(getattr(fn, "__self__", None), "is_async", False):
        return await fn(*args, **kwargs)
    return await run_blocking(fn, *args, **kwargs)
