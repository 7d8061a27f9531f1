"""Load series and forecasts: the currency between observation, forecasting and planning."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

from pydantic import AwareDatetime, Field, model_validator

from gpusteward.core.model import Frozen


class LoadSeries(Frozen):
    """Request rate of one deployment at a fixed step; `None` marks a gap (not zero load)."""

    key: str
    start: AwareDatetime
    step_seconds: float = Field(gt=0, le=7 * 86400.0, allow_inf_nan=False)
    values: tuple[float | None, ...]

    @property
    def end(self) -> AwareDatetime:
        return self.start + timedelta(seconds=self.step_seconds * len(self.values))

    def last_observed(self) -> float | None:
        for v in reversed(self.values):
            if v is not None:
                return v
        return None


class ForecastPoint(Frozen):
    at: AwareDatetime
    point: float = Field(ge=0)
    p10: float = Field(ge=0)
    p50: float = Field(ge=0)
    p90: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> ForecastPoint:
        if not self.p10 <= self.p50 <= self.p90:
            raise ValueError(
                f"quantiles out of order: p10={self.p10} p50={self.p50} p90={self.p90}"
            )
        return self


class Forecast(Frozen):
    key: str
    forecaster: str
    version: str = "1"
    made_at: AwareDatetime
    step_seconds: float = Field(gt=0)
    points: tuple[ForecastPoint, ...]
    notes: tuple[str, ...] = Field(default=(), description="e.g. why a baseline was used.")
    fallback: bool = Field(
        default=False,
        description="True when a baseline stood in because the history was short, degenerate "
        "or the chosen forecaster failed; `notes` say why.",
    )

    def at_or_after(self, seconds_ahead: float) -> ForecastPoint | None:
        """The first point at least `seconds_ahead` past `made_at` (the last one if none)."""
        if not self.points:
            return None
        for p in self.points:
            if (p.at - self.made_at).total_seconds() >= seconds_ahead:
                return p
        return self.points[-1]


class LoadHistory:
    """Rolling request-rate history per deployment, one value per tick (None = not observed).

    Mutable by design (the daemon's memory between ticks), pure otherwise.
    """

    def __init__(self, step_seconds: float, max_points: int) -> None:
        if step_seconds <= 0 or max_points < 1:
            raise ValueError("LoadHistory needs step_seconds > 0 and max_points >= 1")
        self.step_seconds = step_seconds
        self.max_points = max_points
        self._start: dict[str, datetime] = {}
        self._values: dict[str, deque[float | None]] = {}

    def record(self, key: str, at: datetime, rate: float | None) -> None:
        values = self._values.get(key)
        if values is None:
            self._values[key] = deque([rate], maxlen=self.max_points)
            self._start[key] = at
            return
        expected = self._start[key] + timedelta(seconds=self.step_seconds * len(values))
        missed = round((at - expected).total_seconds() / self.step_seconds)
        for _ in range(max(0, missed)):  # ticks we did not observe are gaps, not zeros
            self._append(key, None)
        self._append(key, rate)

    def _append(self, key: str, rate: float | None) -> None:
        values = self._values[key]
        if len(values) == values.maxlen:
            self._start[key] += timedelta(seconds=self.step_seconds)
        values.append(rate)

    def tracked(self) -> list[str]:
        return list(self._values)

    def series(self, key: str) -> LoadSeries:
        # Trusted, already-typed values: skip re-validating thousands of floats per tick.
        return LoadSeries.model_construct(
            key=key,
            start=self._start[key],
            step_seconds=self.step_seconds,
            values=tuple(self._values[key]),
        )
