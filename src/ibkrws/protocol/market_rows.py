"""Merged market data per conid: the latest value and the `_updated` time of every field (pure).

This runs for every market-data message, so the per-message work is two C-level operations:
the row takes the message's values (`dict.update`) and the message's key set is stamped with its
update number and `_updated` (one dict store keyed by the tuple of its keys). The time of each
field is worked out only when someone reads the row, from the stamped key sets in update order.
IBKR sends few distinct key sets per conid, and the stamps are folded into a per-field table once
there are more than `MAX_SHAPES`, so memory stays bounded however long the stream runs.

Reads may come from another thread than the merges. A reader takes the row's `(times, shapes)`
pair in one attribute read and copies both with C-level operations; a fold builds a new pair and
swaps it in with one attribute store, so a reader never sees a half-folded pair.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ibkrws import speedups

MAX_SHAPES = 64
"""Distinct key sets remembered per conid before they are folded into per-field times."""

Shapes = dict[tuple[str, ...], tuple[int, Any]]


class MarketRow:
    """One conid's merged fields, its update count, and when each field last changed."""

    __slots__ = ("values", "updates", "history")

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.updates = 0
        self.history: tuple[dict[str, Any], Shapes] = ({}, {})
        """(field -> `_updated` folded so far, key set -> (update number, `_updated`) since)."""

    def fold(self) -> None:
        """Fold the stamped key sets into per-field times (oldest first) and start a new set."""
        times, shapes = self.history
        merged = dict(times)
        for shape, (_, updated) in sorted(shapes.items(), key=_update_number):
            merged.update(dict.fromkeys(shape, updated))
        self.history = (merged, {})

    def field_times(self) -> dict[str, Any]:
        """Field -> `_updated` of the last message that carried it."""
        times, shapes = self.history
        result = dict(times)
        for _ in range(3):  # a merge on another thread may resize `shapes` while it is listed
            try:
                stamped = list(shapes.items())
                break
            except RuntimeError:
                continue
        else:
            stamped = list(dict(shapes).items())
        for shape, (_, updated) in sorted(stamped, key=_update_number):
            result.update(dict.fromkeys(shape, updated))
        return result


def merge_py(rows: dict[Any, MarketRow], conid: Any, named: dict[str, Any], make_row: Callable[[], MarketRow],
             max_shapes: int) -> bool:
    """Merge one unwrapped message into `rows[conid]`; False (nothing changed) when it repeats the previous one."""
    row = rows.get(conid)
    updated = named.get("_updated")
    if row is None:
        row = rows[conid] = make_row()
    elif row.updates < 2 and row.values.get("_updated") == updated and named.items() <= row.values.items():
        return False  # IBKR repeats the first message of a stream (same `_updated`, other key order)
    row.updates = number = row.updates + 1
    values = row.values
    values.update(named)
    shapes = row.history[1]
    shapes[tuple(named)] = (number, updated)
    if len(shapes) > max_shapes:
        row.fold()
    return True


_merge: Callable[[dict[Any, MarketRow], Any, dict[str, Any], Callable[[], MarketRow], int], bool] = (
    merge_py if speedups.module is None else speedups.module.merge)


def _update_number(item: tuple[tuple[str, ...], tuple[int, Any]]) -> int:
    return item[1][0]


class MarketRows:
    """Every conid's `MarketRow`; IBKR's repeated first message is recognised and not counted."""

    def __init__(self) -> None:
        self.rows: dict[Any, MarketRow] = {}
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
