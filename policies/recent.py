"""An index of recently executed actions, so window queries are a bisect, not a scan.

Built once per `evaluate()` call from the daemon's recent actions; proposals allowed
earlier in the same batch are added as they are allowed (at the snapshot time).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from datetime import datetime

from gpusteward.core.verdicts import ExecutedAction


class RecentIndex:
    def __init__(self, actions: Iterable[ExecutedAction]) -> None:
        ordered = sorted(actions, key=lambda a: a.at)  # near-linear: already in time order
        self._times: list[float] = [a.at.timestamp() for a in ordered]
        self._actions: list[ExecutedAction] = ordered

    def add(self, action: ExecutedAction) -> None:
        """Append an action allowed now (never earlier than what is indexed)."""
        at = action.at.timestamp()
        if self._times and at < self._times[-1]:
            raise ValueError("RecentIndex.add: actions must arrive in time order")
        self._times.append(at)
        self._actions.append(action)

    def within(
        self, now: datetime, seconds: float, target: str | None = None
    ) -> list[ExecutedAction]:
        """Actions at or after `now - seconds` (all targets, or one). Rule windows are
        minutes to an hour, so filtering the window's slice by target is cheap."""
        window = self._actions[bisect_left(self._times, now.timestamp() - seconds) :]
        if target is None:
            return window
        return [a for a in window if a.action.target == target]
