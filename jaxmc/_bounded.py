"""A dict that holds at most ``limit`` entries, dropping the oldest first.

The in-process tables that remember per-signature results (compiled
programs found on disk, checks that passed, flat sizes of parameter trees)
grow with every new shape a long-lived process sees; each is one of these.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BoundedDict"]


class BoundedDict(dict):
    """``dict`` whose item assignment drops the oldest key once ``limit`` are held.

    Order is insertion order (assigning to a held key keeps its place). Only
    ``d[key] = value`` is bounded; ``update`` and ``setdefault`` are not used
    on these tables.
    """

    def __init__(self, limit: int):
        if int(limit) < 1:
            msg = (
                f"jaxmc._bounded.BoundedDict: `limit` must be at least 1; got {limit}."
            )
            raise ValueError(msg)
        super().__init__()
        self.limit = int(limit)

    def __setitem__(self, key: Any, value: Any) -> None:
        if key not in self and len(self) >= self.limit:
            del self[next(iter(self))]
        super().__setitem__(key, value)
