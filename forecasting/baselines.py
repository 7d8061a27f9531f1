"""The last-value forecaster behind the `Forecaster` port (the other baselines are array
methods in `forecasting.methods`, used by `forecasting.auto`)."""

from __future__ import annotations

import math
from datetime import timedelta

from gpusteward.core.load import Forecast, ForecastPoint, LoadSeries


class LastValueForecaster:
    """Predicts the last observed rate for every future step (zero band)."""

    name = "last-value"
    version = "1"

    def forecast(self, series: LoadSeries, horizon_seconds: float) -> Forecast:
        last = next(
            (v for v in reversed(series.values) if v is not None and math.isfinite(v) and v >= 0),
            None,
        )
        notes: tuple[str, ...] = ()
        if last is None:
            last, notes = 0.0, ("no observed history; forecasting 0",)
        steps = max(1, round(horizon_seconds / series.step_seconds))
        end, step = series.end, timedelta(seconds=series.step_seconds)
        # One value repeated: valid by construction, so skip per-point validation.
        points = tuple(
            ForecastPoint.model_construct(
                at=end + step * (i + 1), point=last, p10=last, p50=last, p90=last
            )
            for i in range(steps)
        )
        return Forecast(
            key=series.key,
            forecaster=self.name,
            version=self.version,
            made_at=series.end,
            step_seconds=series.step_seconds,
            points=points,
            notes=notes,
            fallback=bool(notes),
        )
