"""When the LLM planner may call its model: the circuit breaker, and the gate replay uses.

A model endpoint that hangs or fails costs the whole per-call timeout on every tick. After
`failures` consecutive ticks whose model call failed or timed out, the breaker *opens*: the
planner stops calling, plans deterministically and says so, for a back-off that starts at
`backoff_seconds` and doubles after each failed probe (up to `max_backoff_seconds`). When
the back-off is over, one tick *probes* the model; a success closes the breaker. An
endpoint that does not answer at all (the planner's readiness check before its first call
and before each probe) *trips* the breaker at once: a hung server costs seconds, once.

Back-off is measured on the injected monotonic clock (real time: an endpoint recovers in
real time, whatever the simulator's clock says). Replay must not depend on that clock, so
it uses `RecordedGate`, which opens exactly on the ticks the record shows it open.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from gpusteward.core.llm import BREAKER_OPEN, LlmTrace

BreakerState = Literal["closed", "open", "probing"]


class CallGate(Protocol):
    """Says whether this tick may call the model, and hears how the call went."""

    def refuse(self) -> str | None:
        """None: call the model this tick; else why not (journaled as the tick's reason)."""
        ...

    def record(self, *, ok: bool, reason: str = "", trip: bool = False) -> None:
        """The outcome of this tick's model call (ok: the model answered; trip: the
        endpoint did not answer at all, so open now rather than after more failures)."""
        ...

    @property
    def state(self) -> BreakerState: ...


@dataclass
class CircuitBreaker:
    """A `CallGate` that opens after repeated failures and probes with a growing back-off."""

    failures: int = 2
    backoff_seconds: float = 300.0
    max_backoff_seconds: float = 3600.0
    monotonic: Callable[[], float] = lambda: 0.0
    consecutive: int = 0
    opened_at: float | None = None
    backoff: float = 0.0
    last_reason: str = ""
    probing: bool = False

    @property
    def state(self) -> BreakerState:
        if self.opened_at is None:
            return "closed"
        return "probing" if self.probing else "open"

    def refuse(self) -> str | None:
        if self.opened_at is None:
            return None
        waited = self.monotonic() - self.opened_at
        if waited >= self.backoff:
            self.probing = True
            return None
        return (
            f"{BREAKER_OPEN} after {self.consecutive} failed tick(s) (last: "
            f"{self.last_reason[:200]}); planning deterministically, next probe in "
            f"{self.backoff - waited:.0f} s"
        )

    def record(self, *, ok: bool, reason: str = "", trip: bool = False) -> None:
        if ok:
            self.consecutive, self.opened_at, self.backoff, self.probing = 0, None, 0.0, False
            return
        self.consecutive += 1
        self.last_reason = reason
        if self.probing:  # the probe failed: wait twice as long
            self.backoff = min(self.max_backoff_seconds, self.backoff * 2)
            self.opened_at, self.probing = self.monotonic(), False
        elif self.opened_at is None and (trip or self.consecutive >= self.failures):
            self.backoff = self.backoff_seconds
            self.opened_at = self.monotonic()


class RecordedGate:
    """Replay's `CallGate`: refuses on the ticks whose recorded trace says the breaker was
    open (load each tick's trace before it runs), so replay needs no clock."""

    def __init__(self) -> None:
        self._refusal: str | None = None

    def load(self, trace: LlmTrace | None) -> None:
        reason = trace.fallback_reason if trace is not None and not trace.rounds else None
        opened = reason is not None and reason.startswith(BREAKER_OPEN)
        self._refusal = reason if opened else None

    def refuse(self) -> str | None:
        return self._refusal

    def record(self, *, ok: bool, reason: str = "", trip: bool = False) -> None:
        return None

    @property
    def state(self) -> BreakerState:
        return "open" if self._refusal is not None else "closed"
