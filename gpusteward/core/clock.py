"""Clocks: the real one, and a virtual one that fast-forwards (optionally paced)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta


class RealClock:
    """Wall-clock time and real sleeps."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class VirtualClock:
    """Time that moves only when slept through.

    `speed=None` jumps instantly (fast-forward); `speed=60` lets one real second pass
    for every virtual minute, so a person can watch a simulation.
    """

    def __init__(self, start: datetime, speed: float | None = None) -> None:
        if start.tzinfo is None:
            raise ValueError("VirtualClock start must be tz-aware")
        if speed is not None and speed <= 0:
            raise ValueError(f"speed={speed}: expected a positive factor or None (no pacing)")
        self._now = start
        self._speed = speed
        self._mono = 0.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"cannot advance a clock by {seconds} s")
        self._now += timedelta(seconds=seconds)
        self._mono += seconds

    def set(self, when: datetime) -> None:
        """Move to `when` (not backwards); used when resuming from a checkpoint."""
        delta = (when - self._now).total_seconds()
        self.advance(max(0.0, delta))

    async def sleep(self, seconds: float) -> None:
        if self._speed is not None and seconds > 0:
            await asyncio.sleep(seconds / self._speed)
        else:
            await asyncio.sleep(0)  # let signal handlers and other tasks run
        self.advance(max(0.0, seconds))
