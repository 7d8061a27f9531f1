"""The one Settings object: built once at the edge (CLI) from flags and environment.

Environment variables use the `GPUSTEWARD_` prefix, e.g. `GPUSTEWARD_JOURNAL=/var/lib/x.db`.
Consumers take a group (`settings.run`, `.llm`, `.kube`, `.lease`, `.chat`, `.slack`,
`.metrics`: `gpusteward.app.settings_groups`), not the whole object.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gpusteward.app.settings_groups import (
    ChatSettings,
    KubeSettings,
    LeaseSettings,
    LlmSettings,
    MetricsSettings,
    RunSettings,
    SlackSettings,
)
from gpusteward.core.errors import SettingsError
from gpusteward.core.model import Frozen

_G = TypeVar("_G", bound=Frozen)


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
    forecast_horizon_seconds: float = Field(
        default=900.0, gt=0, le=7 * 86400.0, allow_inf_nan=False, description="Seconds ahead."
    )
    approvals: Path | None = Field(
        default=None,
        description="Approval store (SQLite); default: <journal>.approvals.sqlite.",
    )
    approval_cooloff_seconds: float = Field(
        default=1800.0,
        ge=0,
        description="After a rejection or expiry, the same change is auto-rejected this long (s).",
    )
    chat_people: Path | None = Field(
        default=None,
        description="People file (YAML: login tokens, Slack ids, approver groups); when set, "
        "`run` serves the web chat on chat_host:chat_port.",
    )
    chat_host: str = Field(default="127.0.0.1", description="Chat address; loopback by default.")
    chat_port: int = Field(default=8787, ge=0, le=65535, description="Chat TCP port.")
    slack_mode: Literal["off", "http", "socket"] = Field(
        default="off",
        description="Slack app: off, http (requests to /slack/events on the chat port), or "
        "socket (Socket Mode, needs slack_app_token).",
    )
    slack_bot_token: SecretStr | None = Field(default=None, description="xoxb-... bot token.")
    slack_signing_secret: SecretStr | None = Field(
        default=None, description="Verifies that requests come from Slack (HTTP mode)."
    )
    slack_app_token: SecretStr | None = Field(default=None, description="xapp-... (Socket Mode).")
    slack_channel: str | None = Field(default=None, description="Channel id the cards go to.")
    slack_api_url: str = Field(
        default="https://slack.com/api/",
        description="Slack Web API base URL (tests point it at a local stand-in).",
    )
    # -- the LLM planner (issue 5); no base URL = the deterministic planner -----------------
    llm_base_url: str | None = Field(
        default=None,
        description="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 (vLLM), "
        "http://localhost:11434/v1 (Ollama), https://api.openai.com/v1. Unset: no LLM.",
    )
    llm_model: str = Field(default="gpt-4o-mini", min_length=1, description="Model name.")
    llm_api_key_env: str = Field(
        default="OPENAI_API_KEY",
        description="Name of the environment variable holding the API key (the key itself "
        "is never a setting); local servers need none.",
    )
    llm_timeout_seconds: float = Field(
        default=30.0, gt=0, le=600, description="One model call, retries included (s)."
    )
    llm_retries: int = Field(default=1, ge=0, le=5, description="Retries of a failed call.")
    llm_max_tool_rounds: int = Field(default=8, ge=1, le=64, description="Model calls per tick.")
    llm_max_tokens: int = Field(
        default=1024, ge=16, le=32_768, description="Completion tokens per model call."
    )
    llm_max_tick_tokens: int = Field(
        default=100_000, ge=1_000, description="Prompt + completion tokens per tick."
    )
    llm_wall_seconds: float = Field(
        default=60.0, gt=0, le=3600, description="Wall time of the whole tool loop per tick (s)."
    )
    llm_prompt_budget_tokens: int = Field(
        default=8_000, ge=1_000, description="Cap on the first prompt (system, state, tools)."
    )
    # 0.0, not the servers' own 0.8-1.0: the same cluster state should give the same plan,
    # so evals compare models rather than dice, a replay reproduces a tick, and tool-call
    # JSON is at its most reliable. Models that take only their default (OpenAI's reasoning
    # models answer HTTP 400 to temperature=0) need "none".
    llm_temperature: float | None = Field(
        default=0.0,
        ge=0,
        le=2,
        description="Sampling temperature sent with each call; 'none' (or empty): not sent, "
        "the server's default applies.",
    )
    llm_tool_choice: Literal["auto", "required", "none"] = Field(
        default="auto",
        description="auto: the model calls tools or answers; required: a tool call every round "
        "(llama-cpp-python's chatml-function-calling answers HTTP 500 to it); none: no tool "
        "calls, so the LLM planner cannot propose.",
    )
    llm_tool_results: Literal["tool", "user"] = Field(
        default="tool",
        description="How tool results are sent: tool (role 'tool', the standard: OpenAI, vLLM, "
        "Ollama) or user (a user message naming the call; for servers whose chat template "
        "drops role 'tool', e.g. llama-cpp-python --chat_format chatml-function-calling).",
    )
    llm_breaker_failures: int = Field(
        default=2,
        ge=1,
        description="Consecutive failed or timed-out LLM calls that open the circuit breaker.",
    )
    llm_breaker_backoff_seconds: float = Field(
        default=300.0,
        gt=0,
        allow_inf_nan=False,
        description="First back-off after the breaker opens (s); doubles on each failed "
        "probe, up to 1 h.",
    )
    llm_ready_timeout_seconds: float = Field(
        default=1.0,
        gt=0,
        allow_inf_nan=False,
        description="Before the first LLM call and each probe: seconds the endpoint may take "
        "to answer GET /models at all; no answer opens the circuit breaker at once (a hung "
        "server costs this once, not the call timeout every tick).",
    )

    @field_validator("llm_temperature", mode="before")
    @classmethod
    def _no_temperature(cls, value: object) -> object:
        """'none' or an empty value (env or flag) means: send no temperature."""
        if isinstance(value, str) and value.strip().lower() in ("", "none", "null"):
            return None
        return value

    # -- Kubernetes backend (gpusteward.adapters; see README "Kubernetes backend") --
    kubeconfig: Path | None = Field(
        default=None, description="kubeconfig file; default $KUBECONFIG, then in-cluster."
    )
    kube_context: str | None = Field(default=None, description="kubeconfig context to use.")
    kube_namespaces: tuple[str, ...] = Field(
        default=(),
        description='Namespaces to manage (env: JSON list, ["a","b"]); empty = all (ClusterRole).',
    )
    kube_allow_delete: bool = Field(
        default=False, description="Let `retire` with delete=true delete the Deployment."
    )
    kube_adapter_router: bool = Field(
        default=False,
        description="A request router sends a merged fine-tune's requests to the runtime its "
        "gpusteward.io/routed-to annotation names: lets `merge-adapters` run.",
    )
    kube_timeout_seconds: float = Field(
        default=15.0, gt=0, le=300, description="Read timeout per API call (s); connect: 5 s."
    )
    lease_namespace: str = Field(
        default="default", description="Namespace of the leader Lease (the daemon's own)."
    )
    lease_name: str = Field(default="gpusteward-leader", description="Leader Lease name.")
    lease_seconds: float = Field(
        default=15.0, ge=3, le=600, description="Leader lease duration (s); renewed each 1/7."
    )
    identity: str | None = Field(
        default=None, description="This replica's lease identity; default: the host name."
    )
    prometheus_url: str | None = Field(
        default=None,
        description="Prometheus HTTP API base URL (vLLM + DCGM metrics), e.g. http://prom:9090.",
    )
    metrics_port: int | None = Field(
        default=None, ge=0, le=65535, description="Serve the daemon's /metrics on this port."
    )
    metrics_host: str = Field(default="127.0.0.1", description="Address of /metrics.")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="warning", description="Log lines at this level and above, to stderr."
    )
    log_format: Literal["auto", "console", "json"] = Field(
        default="auto",
        description="auto: readable lines on a terminal, JSON otherwise (a simulated run's "
        "logs stay text); console or json: always that.",
    )

    # -- the groups, each the object its consumer takes -------------------------------------

    @property
    def run(self) -> RunSettings:
        return self._group(RunSettings, "")

    @property
    def llm(self) -> LlmSettings:
        return self._group(LlmSettings, "llm_")

    @property
    def kube(self) -> KubeSettings:
        return self._group(
            KubeSettings, "kube_", kubeconfig="kubeconfig", prometheus_url="prometheus_url"
        )

    @property
    def lease(self) -> LeaseSettings:
        return self._group(LeaseSettings, "lease_", identity="identity")

    @property
    def chat(self) -> ChatSettings:
        return self._group(
            ChatSettings,
            "chat_",
            approvals="approvals",
            approval_cooloff_seconds="approval_cooloff_seconds",
        )

    @property
    def slack(self) -> SlackSettings:
        return self._group(SlackSettings, "slack_")

    @property
    def metrics(self) -> MetricsSettings:
        return self._group(MetricsSettings, "metrics_")

    def _group(self, group: type[_G], prefix: str, **named: str) -> _G:
        """`group` from the fields `prefix` + its field names, and those `named` as is."""
        values = {
            name: getattr(self, named.get(name, prefix + name)) for name in group.model_fields
        }
        return group(**values)


def environment_variables() -> list[tuple[str, str]]:
    """Every setting's environment variable and what it is, with its default, from the
    model itself (for `--help`: a hand-written list would drift)."""
    found = []
    for name, field in Settings.model_fields.items():
        default = field.get_default()
        shown = default if not isinstance(default, tuple) else list(default)
        what = field.description or ""
        if default is not None and default != ():
            what += f" Default: {shown}."
        found.append((f"GPUSTEWARD_{name.upper()}", what.strip()))
    return found


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


def default_settings() -> Settings:
    """Every setting at its default, nothing read from the environment: the settings of
    in-memory runs (replay, diagnostics, what-if), which must not pick up an operator's
    LLM endpoint, journal or tick interval from the shell they run in."""
    return Settings.model_construct()
