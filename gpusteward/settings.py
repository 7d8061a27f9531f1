"""The one Settings object: built once at the edge (CLI) from flags and environment.

Environment variables use the `GPUSTEWARD_` prefix, e.g. `GPUSTEWARD_JOURNAL=/var/lib/x.db`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from gpusteward.core.errors import SettingsError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GPUSTEWARD_", extra="forbid", frozen=True)

    backend: Literal["sim", "kubernetes"] = Field(
        default="sim", description="Cluster backend: the embedded simulator or Kubernetes."
    )
    scenario: str = Field(default="quickstart", description="Shipped scenario name or YAML path.")
    journal: Path | None = Field(
        default=None,
        description="SQLite journal file; default .gpusteward/<scenario>.db for simulated runs.",
    )
    speed: float | None = Field(
        default=None, gt=0, description="Virtual seconds per real second; None = fast-forward."
    )
    dry_run: bool = Field(default=False, description="Plan and judge, but change nothing.")
    interval_seconds: float | None = Field(
        default=None, gt=0, le=3600, description="Tick interval (s); default: the scenario's."
    )
    forecast_horizon_seconds: float = Field(default=900.0, gt=0, description="Seconds ahead.")
    log_level: Literal["debug", "info", "warning", "error"] = "warning"
    log_format: Literal["auto", "console", "json"] = "auto"


def load_settings(**overrides: object) -> Settings:
    """Environment first, then explicit overrides (CLI flags); errors name the variable."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)  # type: ignore[arg-type]
    except ValidationError as e:
        lines = []
        for err in e.errors():
            name = str(err["loc"][0]) if err["loc"] else "?"
            source = (
                "flag --" + name.replace("_", "-")
                if name in given
                else ("GPUSTEWARD_" + name.upper())
            )
            lines.append(
                f"{source} = {err.get('input')!r}: {err['msg']}. Fix: correct or unset it."
            )
        raise SettingsError("\n".join(lines)) from None
