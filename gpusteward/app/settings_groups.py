"""The settings in groups, each the object its consumer takes: the LLM client and planner
(`LlmSettings`), the Kubernetes adapter (`KubeSettings`) and its leader lease
(`LeaseSettings`), the approval chat (`ChatSettings`) and its Slack app
(`SlackSettings`), the daemon's metrics endpoint (`MetricsSettings`), and the run itself:
its journal, tick interval, forecast horizon, speed and dry run (`RunSettings`).

`Settings` (one flat object: one environment variable per field, `GPUSTEWARD_LLM_MODEL`
and so on, validated once at the edge) hands them out as `settings.llm`,
`settings.kube`, ...; a group's field is its setting's name without the group's prefix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from gpusteward.core.model import Frozen

__all__ = [
    "ChatSettings",
    "KubeSettings",
    "LeaseSettings",
    "LlmSettings",
    "MetricsSettings",
    "RunSettings",
    "SlackSettings",
]


class LlmSettings(Frozen):
    """`GPUSTEWARD_LLM_*`: the endpoint, the model and the per-tick limits."""

    base_url: str | None
    model: str
    api_key_env: str
    timeout_seconds: float
    retries: int
    max_tool_rounds: int
    max_tokens: int
    max_tick_tokens: int
    wall_seconds: float
    prompt_budget_tokens: int
    temperature: float | None
    tool_choice: Literal["auto", "required", "none"]
    tool_results: Literal["tool", "user"]
    breaker_failures: int
    breaker_backoff_seconds: float
    ready_timeout_seconds: float


class KubeSettings(Frozen):
    """`GPUSTEWARD_KUBECONFIG`, `GPUSTEWARD_KUBE_*` and `GPUSTEWARD_PROMETHEUS_URL`."""

    kubeconfig: Path | None
    context: str | None
    namespaces: tuple[str, ...]
    allow_delete: bool
    adapter_router: bool
    timeout_seconds: float
    prometheus_url: str | None


class LeaseSettings(Frozen):
    """`GPUSTEWARD_LEASE_*` and `GPUSTEWARD_IDENTITY`: the leader lease."""

    namespace: str
    name: str
    seconds: float
    identity: str | None


class ChatSettings(Frozen):
    """`GPUSTEWARD_CHAT_*`, `GPUSTEWARD_APPROVALS` and the cool-off after a rejection."""

    people: Path | None
    host: str
    port: int
    approvals: Path | None
    approval_cooloff_seconds: float


class SlackSettings(Frozen):
    """`GPUSTEWARD_SLACK_*`."""

    mode: Literal["off", "http", "socket"]
    bot_token: SecretStr | None
    signing_secret: SecretStr | None
    app_token: SecretStr | None
    channel: str | None
    api_url: str


class MetricsSettings(Frozen):
    """`GPUSTEWARD_METRICS_*`: where the daemon serves /metrics (no port: not served)."""

    port: int | None
    host: str


class RunSettings(Frozen):
    """`GPUSTEWARD_JOURNAL` and the daemon's loop: where a run journals (None: the
    backend's default), how often it ticks (None: the scenario's interval), how far ahead
    it forecasts, how fast a simulated clock runs (None: fast-forward), and dry run."""

    journal: Path | None
    interval_seconds: float | None
    forecast_horizon_seconds: float
    speed: float | None
    dry_run: bool
