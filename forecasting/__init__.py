"""Load forecasting: series, forecasters (Prophet-based and baselines), backtests.

Pure: forecasters take a `LoadSeries` and return a `Forecast`. No I/O, no clock. Prophet
is imported only by `forecasting.prophet_model`, and only when a fit is asked for.
"""

from forecasting.auto import AutoForecaster, AutoForecasterConfig, LastValueConfig
from forecasting.baselines import LastValueForecaster
from forecasting.group import GroupSettings, forecast_group
from forecasting.series import ForecastInputError, prepare, series_from_points
from gpusteward.core.load import Forecast, ForecastPoint, LoadSeries

__all__ = [
    "AutoForecaster",
    "AutoForecasterConfig",
    "Forecast",
    "ForecastInputError",
    "ForecastPoint",
    "GroupSettings",
    "LastValueConfig",
    "LastValueForecaster",
    "LoadSeries",
    "forecast_group",
    "prepare",
    "series_from_points",
]
