"""Settings in groups: each consumer takes its group (`settings.llm`, `.kube`, `.lease`,
`.chat`, `.slack`, `.metrics`); the environment variables keep their names."""

from __future__ import annotations

import pytest

from gpusteward.app.settings import Settings
from gpusteward.app.settings_groups import (
    ChatSettings,
    KubeSettings,
    LeaseSettings,
    LlmSettings,
    MetricsSettings,
    SlackSettings,
)

GROUPS = ("llm", "kube", "lease", "chat", "slack", "metrics")
# what the daemon and the CLI read directly: the run itself, not one consumer's
TOP_LEVEL = {
    "backend", "scenario", "journal", "speed", "dry_run", "interval_seconds",
    "forecast_horizon_seconds", "log_level", "log_format",
}  # fmt: skip


def test_environment_variables_keep_their_names_and_reach_the_groups(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GPUSTEWARD_LLM_MODEL", "gemma")
    monkeypatch.setenv("GPUSTEWARD_LLM_TIMEOUT_SECONDS", "12")
    monkeypatch.setenv("GPUSTEWARD_KUBE_NAMESPACES", '["serving", "batch"]')
    monkeypatch.setenv("GPUSTEWARD_PROMETHEUS_URL", "http://prom:9090")
    monkeypatch.setenv("GPUSTEWARD_LEASE_SECONDS", "30")
    monkeypatch.setenv("GPUSTEWARD_IDENTITY", "pod-a")
    monkeypatch.setenv("GPUSTEWARD_CHAT_PORT", "9000")
    monkeypatch.setenv("GPUSTEWARD_APPROVAL_COOLOFF_SECONDS", "60")
    monkeypatch.setenv("GPUSTEWARD_SLACK_MODE", "socket")
    monkeypatch.setenv("GPUSTEWARD_METRICS_PORT", "9100")
    s = Settings()
    assert (s.llm.model, s.llm.timeout_seconds) == ("gemma", 12.0)
    assert s.kube.namespaces == ("serving", "batch")
    assert s.kube.prometheus_url == "http://prom:9090"
    assert (s.lease.seconds, s.lease.identity) == (30.0, "pod-a")
    assert (s.chat.port, s.chat.approval_cooloff_seconds) == (9000, 60.0)
    assert s.slack.mode == "socket"
    assert s.metrics.port == 9100


def test_every_setting_is_in_one_group_or_read_by_the_run_itself() -> None:
    s = Settings()
    grouped: dict[str, str] = {}
    for group in GROUPS:
        model = type(getattr(s, group))
        for name in model.model_fields:
            for flat in (f"{group}_{name}", name):
                if flat in Settings.model_fields and getattr(s, flat) == getattr(
                    getattr(s, group), name
                ):
                    assert flat not in grouped, (flat, grouped.get(flat), group)
                    grouped[flat] = group
                    break
            else:
                raise AssertionError(f"{group}.{name}: no setting feeds it")
    assert set(Settings.model_fields) == set(grouped) | TOP_LEVEL


def test_groups_are_their_consumers_types() -> None:
    s = Settings()
    assert isinstance(s.llm, LlmSettings)
    assert isinstance(s.kube, KubeSettings)
    assert isinstance(s.lease, LeaseSettings)
    assert isinstance(s.chat, ChatSettings)
    assert isinstance(s.slack, SlackSettings)
    assert isinstance(s.metrics, MetricsSettings)
