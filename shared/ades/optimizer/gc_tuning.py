"""Garbage-collector tuning from `performance.gc_target_percentage`.

CPython runs a young-generation collection every 700 net allocations by default, which a
web worker building many short-lived rows and dicts per request pays for again and again.
The setting moves the thresholds towards fewer collections: 0 leaves the interpreter alone,
100 collects the young generation every 50,000 allocations and the older ones half as often
as the default. When tuning is on, objects alive after start-up (modules, the app, config)
are frozen out of collection, so each pass only looks at request garbage.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass

from ..config import Config

_DEFAULT = (700, 10, 10)
_MOST = (50_000, 20, 20)


@dataclass(frozen=True)
class GcSettings:
    """The thresholds before and after tuning, and how many objects were frozen."""

    percentage: int
    before: tuple[int, int, int]
    after: tuple[int, int, int]
    frozen: int


def thresholds_for(percentage: int) -> tuple[int, int, int]:
    """The GC thresholds `percentage` (0-100) of the way from the default to the most."""
    if not 0 <= percentage <= 100:
        raise ValueError("percentage must be between 0 and 100")
    return tuple(round(low + (high - low) * percentage / 100)  # type: ignore[return-value]
                 for low, high in zip(_DEFAULT, _MOST, strict=True))


def apply_gc_settings(config: Config, *, freeze: bool = True) -> GcSettings:
    """Apply `performance.gc_target_percentage` to this process; returns what changed.

    With `freeze`, objects alive now are moved to the permanent generation (only when
    tuning is on); call it at the end of start-up.
    """
    percentage = config.performance.gc_target_percentage
    before = gc.get_threshold()
    if percentage == 0:
        return GcSettings(0, before, before, gc.get_freeze_count())
    after = thresholds_for(percentage)
    gc.set_threshold(*after)
    if freeze:
        gc.freeze()
    return GcSettings(percentage, before, after, gc.get_freeze_count())
