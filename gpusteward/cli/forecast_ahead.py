"""`gpusteward forecast ahead`: forecast past a trace's end, and size for it.

What a day-ahead capacity plan needs: the chosen forecaster's point and 80 % band for the
next `--horizon` (the daemon's `AutoForecaster`, or with `--clients` the bottom-up group
forecast of `forecasting.group`, which also forecasts the total's largest clients one by
one), summarised per `--every`, and with `--per-replica-rps` the replicas each period
needs at `--quantile`: those needed all through the horizon (candidates for reserved
capacity) and those needed only at the peak (on-demand or spot).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from gpusteward.cli.forecast import (
    DataOption,
    WindowOption,
    horizon_windows,
    png_chart,
    whole_windows,
)
from gpusteward.cli.terminal import err, figures_table, out
from gpusteward.core.errors import InputError
from gpusteward.core.load import Forecast, ForecastPoint, LoadSeries
from gpusteward.core.user_files import option_duration, option_time, png_option

if TYPE_CHECKING:
    import numpy as np

Quantile = Literal["p10", "p50", "p90"]


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime
    p10: float  # means over the period's steps
    p50: float
    p90: float
    peak: float  # the highest `--quantile` value in the period
    replicas: int | None  # replicas that peak needs at --per-replica-rps


def to_series(key: str, rates: np.ndarray, start: datetime, step: float) -> LoadSeries:
    values = tuple(float(v) if math.isfinite(v) else None for v in rates)
    return LoadSeries(key=key, start=start, step_seconds=step, values=values)


def replicas_for(rate: float, per_replica: float) -> int:
    """Replicas that serve `rate` at `per_replica` each: none for no load, at least one for
    any (a rounding error's worth over a whole number does not add one)."""
    if rate <= 0:
        return 0
    share = rate / per_replica
    return max(1, math.ceil(share - 1e-9 * share))


def periods(
    forecast: Forecast, every: float, quantile: Quantile, per_replica: float | None
) -> list[Period]:
    """The forecast's steps in consecutive periods of `every` seconds (the last may be
    shorter), with each period's mean band and its peak at `quantile`."""
    import numpy as np

    per = max(1, round(every / forecast.step_seconds))
    rows: list[Period] = []
    points = forecast.points
    for i in range(0, len(points), per):
        chunk: tuple[ForecastPoint, ...] = points[i : i + per]
        peak = max(getattr(p, quantile) for p in chunk)
        end = chunk[-1].at
        rows.append(
            Period(
                start=chunk[0].at - timedelta(seconds=forecast.step_seconds),
                end=end,
                p10=float(np.mean([p.p10 for p in chunk])),
                p50=float(np.mean([p.p50 for p in chunk])),
                p90=float(np.mean([p.p90 for p in chunk])),
                peak=peak,
                replicas=None if per_replica is None else replicas_for(peak, per_replica),
            )
        )
    return rows


def summary(forecast: Forecast, quantile: Quantile, per_replica: float | None) -> dict[str, Any]:
    import numpy as np

    values = [getattr(p, quantile) for p in forecast.points]
    top = int(np.argmax(values))
    hours = forecast.step_seconds / 3600.0
    s: dict[str, Any] = {
        "quantile": quantile,
        "peak_rps": round(values[top], 4),
        # the window it falls in, by its start (as the table's rows)
        "peak_at": (forecast.points[top].at - timedelta(seconds=forecast.step_seconds)).isoformat(),
        "mean_p50_rps": round(float(np.mean([p.p50 for p in forecast.points])), 4),
    }
    if per_replica is not None:
        need = [replicas_for(v, per_replica) for v in values]
        at_p50 = [replicas_for(p.p50, per_replica) for p in forecast.points]
        s |= {
            "per_replica_rps": per_replica,
            "replicas_all_through": min(need),
            "replicas_at_peak": max(need),
            "replica_hours": round(sum(need) * hours, 2),
            "replica_hours_at_p50": round(sum(at_p50) * hours, 2),
        }
    return s


def _times(first: datetime, step: float, n: int) -> np.ndarray:
    """`n` window starts from `first`, as datetime64 in milliseconds on `first`'s own
    clock (an array, which matplotlib's type stubs take; the table uses that zone too)."""
    import numpy as np

    start = np.datetime64(first.replace(tzinfo=None), "ms")
    return start + np.arange(n) * np.timedelta64(round(step * 1000), "ms")


def _plot(history: LoadSeries, forecast: Forecast, title: str, png: Path) -> None:
    import numpy as np

    step = history.step_seconds
    back = min(len(history.values), round(3 * 86_400 / step))
    zone = history.start.tzinfo
    first = (history.end - timedelta(seconds=step * back)).astimezone(zone)
    seen = _times(first, step, back)
    ahead = _times(forecast.made_at.astimezone(zone), step, len(forecast.points))
    bands = np.array([(p.point, p.p10, p.p90) for p in forecast.points])
    tail = np.array([np.nan if v is None else v for v in history.values[-back:]])
    with png_chart(png) as ax:
        ax.plot(seen, tail, lw=1, color="black", label="history")
        ax.fill_between(ahead, bands[:, 1], bands[:, 2], alpha=0.3, label="p10-p90")
        ax.plot(ahead, bands[:, 0], lw=1, label=forecast.forecaster)
        ax.set_ylabel("req/s")
        ax.set_xlabel(f"time ({history.start.tzname()})")
        ax.set_title(f"{history.key}: the next {title}")


def ahead(
    data: DataOption,
    horizon: Annotated[str, typer.Option(help="How far past the trace's end, e.g. 1h, 1d.")] = "1d",
    clients: Annotated[
        Path | None,
        typer.Option(help="Folder of per-client rate files of this total: bottom-up forecast."),
    ] = None,
    per_replica_rps: Annotated[
        float | None,
        typer.Option(help="Requests/s one replica serves within its SLO: replicas per period."),
    ] = None,
    quantile: Annotated[
        str, typer.Option(help="Size for this quantile of the forecast: p10, p50 or p90.")
    ] = "p90",
    every: Annotated[str, typer.Option(help="One table row per this much time.")] = "1h",
    start: Annotated[
        str | None,
        typer.Option(
            help="When the trace's first window began (ISO 8601; no zone: UTC). Default: a "
            "request log's first TIMESTAMP (UTC unless it names a zone); a rate file's first "
            "window_start_s as Unix time, or, under 10^9 s (relative times), after Monday "
            "2026-01-05 00:00 UTC."
        ),
    ] = None,
    prophet: Annotated[bool, typer.Option(help="Offer Prophet-based forecasters.")] = True,
    window: WindowOption = None,
    png: Annotated[
        Path | None, typer.Option(help="Plot of the history's last 3 days and the band.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Forecast the next --horizon past the trace's end, and the replicas it needs."""
    from forecasting.auto import AutoForecaster, AutoForecasterConfig
    from forecasting.group import GroupSettings, forecast_group
    from gpusteward.sim.trace_rates import (
        load_client_rates,
        load_rates,
        trace_origin,
        trace_start,
    )

    q = _quantile(quantile)
    if per_replica_rps is not None and not (math.isfinite(per_replica_rps) and per_replica_rps > 0):
        raise InputError(
            f"--per-replica-rps {per_replica_rps}: not a positive number. Fix: the requests "
            "per second one replica serves within its SLO, e.g. 1.6."
        )
    seconds = None if window is None else option_duration("--window", window)
    png = png_option(png)
    rates, step = load_rates(data, seconds)
    steps = horizon_windows(horizon, step)
    period = whole_windows("--every", every, step) * step
    if start is None:
        first = trace_start(data, fix=", or give --start")
    else:
        first = option_time("--start", start)
    try:
        series = to_series(data.stem, rates, first, step)
        _ = series.end + timedelta(seconds=steps * step)  # the forecast's last time
    except OverflowError:
        given = f"--start {start}" if start is not None else f"--data {data}"
        raise InputError(
            f"{given}: the trace and the horizon would run past the year 9999. Fix: the time "
            "the trace's first window began (--start)."
        ) from None
    children = None
    if clients is not None:
        origin = trace_origin(data)
        names, by_client = load_client_rates(clients, rates, step, origin, seconds)
        children = [to_series(n, r, first, step) for n, r in zip(names, by_client, strict=True)]
    what = "bottom-up from its clients" if children else "with the online mix"
    with err.status(f"forecasting {data.name} {what} (Prophet fits take seconds)..."):
        if children is not None:
            settings = GroupSettings(prophet=prophet)
            forecast = forecast_group(series, children, steps * step, settings)
        else:
            auto = AutoForecaster(AutoForecasterConfig(prophet=prophet))
            forecast = auto.forecast(series, steps * step)
    if per_replica_rps is not None:
        _check_sizing(forecast, per_replica_rps)
    rows = periods(forecast, period, q, per_replica_rps)
    total = summary(forecast, q, per_replica_rps)
    if as_json:
        print(json.dumps(_as_json(forecast, rows, total)))
    else:
        _print(data, horizon, forecast, rows, total)
    if png is not None:
        _plot(series, forecast, horizon, png)
        if not as_json:
            out.print(f"plot: {png}")


MAX_REPLICAS = 1_000_000


def _check_sizing(forecast: Forecast, per_replica: float) -> None:
    """Refuse a capacity that makes the replica counts absurd (or overflow)."""
    top = max(p.p90 for p in forecast.points)
    if top / per_replica > MAX_REPLICAS:
        raise InputError(
            f"--per-replica-rps {per_replica:g}: the forecast's p90 of {top:.4g} req/s would "
            f"need over {MAX_REPLICAS:,} replicas. Fix: the requests per second ONE replica "
            "serves within its SLO, e.g. 1.6."
        )


def _quantile(value: str) -> Quantile:
    if value not in ("p10", "p50", "p90"):
        raise InputError(
            f"--quantile {value!r}: not one of p10, p50, p90. Fix: e.g. --quantile p90."
        )
    return value  # type: ignore[return-value]


def _print(
    data: Path, horizon: str, forecast: Forecast, rows: list[Period], total: dict[str, Any]
) -> None:
    q = total["quantile"]
    table = figures_table(
        f"{data.name}: the next {horizon}, by {forecast.forecaster}",
        ("from", "to", "p10", "p50", "p90", f"peak {q}"),
        labels=2,
    )
    sizing = "per_replica_rps" in total
    if sizing:
        table.add_column("replicas", justify="right")
    for r in rows:
        cells = [r.start.strftime("%a %m-%d %H:%M"), r.end.strftime("%a %m-%d %H:%M")]
        cells += [f"{v:.2f}" for v in (r.p10, r.p50, r.p90, r.peak)]
        table.add_row(*cells, *([str(r.replicas)] if sizing else []))
    out.print(table)
    if forecast.fallback:
        out.print("[bold]fallback:[/] a baseline stood in; the notes say why")
    for note in forecast.notes:
        out.print(f"note: {note}")
    out.print(f"peak {q}: {total['peak_rps']:.2f} req/s in the window from {total['peak_at']}")
    if sizing:
        out.print(
            f"replicas at {q} ({total['per_replica_rps']:g} req/s each): "
            f"{total['replicas_all_through']} all through (reserved capacity), up to "
            f"{total['replicas_at_peak']} at the peak (on-demand or spot); "
            f"{total['replica_hours']:g} replica-hours ({total['replica_hours_at_p50']:g} at p50)"
        )


def _as_json(forecast: Forecast, rows: list[Period], total: dict[str, Any]) -> dict[str, Any]:
    return {
        "series": forecast.key,
        "forecaster": forecast.forecaster,
        "fallback": forecast.fallback,
        "notes": list(forecast.notes),
        "made_at": forecast.made_at.isoformat(),
        "step_seconds": forecast.step_seconds,
        "points": [
            {"at": p.at.isoformat(), "point": p.point, "p10": p.p10, "p50": p.p50, "p90": p.p90}
            for p in forecast.points
        ],
        "periods": [
            {
                "start": r.start.isoformat(),
                "end": r.end.isoformat(),
                "p10": round(r.p10, 4),
                "p50": round(r.p50, 4),
                "p90": round(r.p90, 4),
                "peak": round(r.peak, 4),
                "replicas": r.replicas,
            }
            for r in rows
        ],
        "summary": total,
    }
