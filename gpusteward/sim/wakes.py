"""Wakes from zero, as the simulator records them: when a model scaled to zero was asked
for replicas again, when its first request came, and when that request was served.

A wake is `prewarmed` when its replicas were asked for before any request came (a
planner saw it coming), else a reactive wake (a request came to a model at zero and was
held while a replica started). A pre-warm may say from when it expects the first request
(`expected_from`): a first request before then came earlier than it foresaw. Its latency
is first request to first served: 0 when a replica was already Ready. A pre-warm that no
request came to before the model went back to zero is counted as unused. A wake under
way when the model's requests are routed to another deployment (a merge, a
consolidation) ends there, uncounted: the requests it held are served by that
deployment, and their wait counts in its SLO accounting.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Wake:
    """One wake from zero; times are seconds since the start of the run."""

    asked: float | None = None  # replicas asked for (desired 0 -> more)
    first_request: float | None = None  # the first request's arrival (estimated in its step)
    served: float | None = None  # the first request served
    prewarmed: bool = False  # asked for before any request came
    expected_from: float | None = None  # a pre-warm's first request expected from then

    @property
    def early(self) -> bool:
        """A pre-warmed wake whose first request came before the pre-warm expected one."""
        return (
            self.prewarmed
            and self.expected_from is not None
            and self.first_request is not None
            and self.first_request < self.expected_from
        )

    @property
    def latency_seconds(self) -> float | None:
        if self.first_request is None or self.served is None:
            return None
        return max(0.0, self.served - self.first_request)


@dataclass
class WakeLog:
    """The wakes of one deployment: the one under way, those done, unused pre-warms."""

    open: Wake | None = None
    done: list[Wake] = field(default_factory=list)
    unused_prewarms: int = 0

    def scaled(self, now: float, before: int, after: int, parked: bool) -> None:
        """Desired replicas went from `before` to `after` at `now`."""
        if after == 0 and self.open is not None and self.open.first_request is None:
            self.unused_prewarms += 1  # back to zero before any request came
            self.open = None
        if not parked or before > 0 or after == 0:
            return
        if self.open is None:
            self.open = Wake(asked=now, prewarmed=True)
        elif self.open.asked is None:
            self.open.asked = now  # a request was held first: a reactive wake

    def expecting(self, expected_from: float) -> None:
        """The pre-warm that opened the wake under way expects its first request from
        `expected_from` (seconds since the start)."""
        if self.open is not None and self.open.prewarmed and self.open.first_request is None:
            self.open.expected_from = expected_from

    def arrived(self, t: float, dt: float, count: int) -> None:
        """`count` requests arrived in [t, t + dt) to a model that is parked or waking."""
        if count <= 0:
            return
        if self.open is None:
            self.open = Wake()
        if self.open.first_request is None:
            self.open.first_request = t + dt / (count + 1)  # the first of `count` uniform

    def rerouted(self) -> None:
        """The model's requests now go to another deployment (merged or consolidated), its
        held ones with them: the wake under way, if any, is no longer waited for."""
        self.open = None

    def served(self, ready_since: float) -> None:
        """The held request was served; a replica has been Ready since `ready_since`."""
        wake = self.open
        if wake is None or wake.first_request is None:
            return
        wake.served = max(wake.first_request, ready_since)
        self.done.append(wake)
        self.open = None
