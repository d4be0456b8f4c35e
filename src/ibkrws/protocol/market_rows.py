"""Merged market data per conid: the latest value and the `_updated` time of every field (pure).

This runs for every market-data message, so the per-message work is small: the row takes the
message's values (one C-level `dict.update`), and the message's key set is stamped with its
update number and `_updated`. The stamp of the latest key set waits in the row (`pending`); it
goes into the key-set dict only when a message with another key set arrives, so a stream whose
messages share their keys stores nothing more per message. The time of each field is worked out
only when someone reads the row, from the stamps in update order. Stamps are folded into a
per-field table once there are more than `MAX_SHAPES` key sets, so memory stays bounded however
long the stream runs.

Reads may come from another thread than the merges. `MarketRowPy.stamps` reads the pending
stamp before the key-set dict, which a merge fills before it replaces the pending stamp, and a
fold swaps in a new `(times, shapes)` pair with one attribute store; the C row copies everything
in one call under the GIL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ibkrws import speedups

MAX_SHAPES = 64
"""Distinct key sets remembered per conid before they are folded into per-field times."""

Shapes = dict[tuple[str, ...], tuple[int, Any]]
Stamps = tuple[dict[str, Any], list[tuple[tuple[str, ...], tuple[int, Any]]]]


class _RowReading:
    """What both row implementations share: folding stamps and reading per-field times."""

    __slots__ = ()
    history: tuple[dict[str, Any], Shapes]

    def stamps(self) -> Stamps:  # pragma: no cover - provided by each implementation
        raise NotImplementedError

    def fold(self) -> None:
        """Fold the key-set stamps into per-field times (oldest first) and start a new key-set dict."""
        times, shapes = self.history
        merged = dict(times)
        for shape, (_, updated) in sorted(shapes.items(), key=_update_number):
            merged.update(dict.fromkeys(shape, updated))
        self.history = (merged, {})  # type: ignore[misc]  # a slot or property of each concrete row

    def field_times(self) -> dict[str, Any]:
        """Field -> `_updated` of the last message that carried it."""
        times, stamped = self.stamps()
        for shape, (_, updated) in sorted(stamped, key=_update_number):
            times.update(dict.fromkeys(shape, updated))
        return times


class MarketRowPy(_RowReading):
    """One conid's merged fields, its update count, and when each field last changed."""

    __slots__ = ("values", "updates", "history", "pending")

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.updates = 0
        self.history: tuple[dict[str, Any], Shapes] = ({}, {})
        """(field -> `_updated` folded so far, key set -> (update number, `_updated`) since)."""
        self.pending: tuple[tuple[str, ...], int, Any] | None = None
        """(key set, update number, `_updated`) of the latest message, not yet in the key-set dict."""

    def stamps(self) -> Stamps:
        """(a copy of the folded times, every stamp since): what `field_times` works from."""
        pending = self.pending
        times, shapes = self.history
        for _ in range(3):  # a merge on another thread may resize `shapes` while it is listed
            try:
                stamped = list(shapes.items())
                break
            except RuntimeError:
                continue
        else:
            stamped = list(dict(shapes).items())
        if pending is not None:
            stamped.append((pending[0], (pending[1], pending[2])))
        return dict(times), stamped


def merge_py(rows: dict[Any, MarketRowPy], conid: Any, named: dict[str, Any], make_row: Callable[[], MarketRowPy],
             max_shapes: int) -> bool:
    """Merge one unwrapped message into `rows[conid]`; False (nothing changed) when it repeats the previous one."""
    row = rows.get(conid)
    updated = named.get("_updated")
    if row is None:
        row = rows[conid] = make_row()
    elif row.updates < 2 and row.values.get("_updated") == updated and named.items() <= row.values.items():
        return False  # IBKR repeats the first message of a stream (same `_updated`, other key order)
    row.updates = number = row.updates + 1
    row.values.update(named)
    shape = tuple(named)
    pending = row.pending
    if pending is not None and pending[0] != shape:
        shapes = row.history[1]
        shapes[pending[0]] = (pending[1], pending[2])
        if len(shapes) > max_shapes:
            row.fold()
    row.pending = (shape, number, updated)
    return True


if speedups.module is None:
    MarketRow: Any = MarketRowPy
    _merge: Callable[..., bool] = merge_py
else:
    class MarketRowC(speedups.module.MarketRow, _RowReading):  # type: ignore[name-defined]
        """The C row (`values`, `updates`, `history`, `stamps()`) with the shared reading methods."""

        __slots__ = ()

    MarketRow = MarketRowC
    _merge = speedups.module.merge


def _update_number(item: tuple[tuple[str, ...], tuple[int, Any]]) -> int:
    return item[1][0]


class MarketRows:
    """Every conid's `MarketRow`; IBKR's repeated first message is recognised and not counted."""

    def __init__(self) -> None:
        self.rows: dict[Any, Any] = {}
        """conid -> `MarketRow` (the C row when built, else `MarketRowPy`)."""
        self.duplicates = 0

    def merge(self, conid: Any, named: dict[str, Any]) -> bool:
        """Merge one unwrapped message; False when it repeats the previous message exactly."""
        if _merge(self.rows, conid, named, MarketRow, MAX_SHAPES):
            return True
        self.duplicates += 1
        return False

    def snapshot(self, conid: Any) -> dict[str, Any] | None:
        """A copy of the merged row with `fields_updated` (field -> `_updated`) and `updates`."""
        row = self.rows.get(conid)
        if row is None and isinstance(conid, str) and conid.isdigit():
            row = self.rows.get(int(conid))
        if row is None:
            return None
        result = dict(row.values)
        result["fields_updated"] = row.field_times()
        result["updates"] = row.updates
        return result
