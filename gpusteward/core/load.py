"""Load series and forecasts: the currency between observation, forecasting and planning."""

from __future__ import annotations

from datetime import timedelta

from pydantic import AwareDatetime, Field, model_validator

from gpusteward.core.model import Frozen


class LoadSeries(Frozen):
    """Request rate of one deployment at a fixed step; `None` marks a gap (not zero load)."""

    key: str
    start: AwareDatetime
    step_seconds: float = Field(gt=0)
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
            raise ValueError(f"quantiles out of order: p10={self.p10} p50={self.p50} p90={self.p90}")
        return self


class Forecast(Frozen):
    key: str
    forecaster: str
    version: str = "1"
    made_at: AwareDatetime
    step_seconds: float = Field(gt=0)
    points: tuple[ForecastPoint, ...]
    notes: tuple[str, ...] = Field(default=(), description="e.g. why a baseline was used.")

    def at_or_after(self, seconds_ahead: float) -> ForecastPoint | None:
        """The first point at least `seconds_ahead` past `made_at` (the last one if none)."""
        if not self.points:
            return None
        for p in self.points:
            if (p.at - self.made_at).total_seconds() >= seconds_ahead:
                return p
        return self.points[-1]
