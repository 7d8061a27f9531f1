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
        ordered = sorted(actions, key=lambda a: a.at)
        self._times: list[float] = [a.at.timestamp() for a in ordered]
        self._actions: list[ExecutedAction] = ordered
        self._by_target: dict[str, tuple[list[float], list[ExecutedAction]]] = {}
        for a in ordered:
            self._add_to_target(a)

    def _add_to_target(self, a: ExecutedAction) -> None:
        times, actions = self._by_target.setdefault(a.action.target, ([], []))
        times.append(a.at.timestamp())
        actions.append(a)

    def add(self, action: ExecutedAction) -> None:
        """Append an action allowed now (never earlier than what is indexed)."""
        at = action.at.timestamp()
        if self._times and at < self._times[-1]:
            raise ValueError("RecentIndex.add: actions must arrive in time order")
        self._times.append(at)
        self._actions.append(action)
        self._add_to_target(action)

    def within(
        self, now: datetime, seconds: float, target: str | None = None
    ) -> list[ExecutedAction]:
        """Actions at or after `now - seconds` (all targets, or one)."""
        if target is None:
            times, actions = self._times, self._actions
        else:
            found = self._by_target.get(target)
            if found is None:
                return []
            times, actions = found
        return actions[bisect_left(times, now.timestamp() - seconds) :]
