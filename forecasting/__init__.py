"""Load forecasting: series, forecasters (baselines now, Prophet later), backtests.

Pure: forecasters take a `LoadSeries` and return a `Forecast`. No I/O, no clock.
"""
