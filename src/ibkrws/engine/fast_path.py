"""The receive path's common case in one call: decode a frame and, when it is data of an active
subscription, stamp the subscription and hand the message to its handler.

`frame_path_py` is the reference; `FramePath` is the C version from the optional `_speedups`
extension when it was built. Anything else (errors, confirmations, system messages, data of a
subscription not yet active, frames that are not JSON objects) comes back decoded for the
engine's slow path; decoding errors propagate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from ibkrws import speedups

HANDLED: Any = object()
"""Returned when the frame went to an active subscription's handler."""

FastTable = dict[str, tuple[Any, Callable[[dict[str, Any]], Any]]]
FramePathFn = Callable[[bytes | str, float], Any]


def frame_path_py(fast: FastTable, loads: Callable[[bytes | str], Any], handled: Any) -> FramePathFn:
    """`frame_path(payload, now)`: `handled`, or the decoded message for the slow path."""

    def frame_path(payload: bytes | str, now: float) -> Any:
        message = loads(payload)
        if type(message) is dict:
            topic = message.get("topic")
            if type(topic) is str:
                entry = fast.get(topic)
                if entry is not None and "error" not in message:
                    entry[0].last_message_at = now
                    entry[1](message)
                    return handled
        return message

    return frame_path


def new_frame_path(fast: FastTable, loads: Callable[[bytes | str], Any]) -> FramePathFn:
    """The C `FramePath` when built, else `frame_path_py`.

    With `orjson.loads`, the C version decodes the common frame (a flat JSON object of plain ASCII
    strings, numbers, booleans and nulls) itself, with results equal to orjson's, and hands an
    `smd` frame to the C market-data sink without building the raw message dict first.
    """
    if speedups.module is None:
        return frame_path_py(fast, loads, HANDLED)
    frame_path: FramePathFn = speedups.module.FramePath(fast, loads, HANDLED, flat=loads is orjson.loads)
    return frame_path
