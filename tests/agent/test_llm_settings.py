"""The LLM settings (temperature, tool_choice, tool-result form, circuit breaker), how `run`
passes them on, and `eval` taking the same defaults as `run` with its flags on top."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from typer.testing import CliRunner

from gpusteward.app.settings import Settings, load_settings
from gpusteward.app.wiring_llm import llm_client, llm_limits
from gpusteward.cli.main import app
from gpusteward.core.errors import InputError, SettingsError
from gpusteward.testing.llm import ScriptedLlmServer, reply


@pytest.fixture(autouse=True)
def _no_llm_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The developer's own GPUSTEWARD_LLM_* must not decide these tests."""
    for name in [n for n in os.environ if n.startswith("GPUSTEWARD_LLM_")]:
        monkeypatch.delenv(name)
    yield


def test_defaults_are_deterministic_standard_and_documented() -> None:
    s = Settings()
    assert (s.llm_temperature, s.llm_tool_choice, s.llm_tool_results) == (0.0, "auto", "tool")
    assert (s.llm_breaker_failures, s.llm_breaker_backoff_seconds) == (2, 300.0)
    for name in ("llm_temperature", "llm_tool_choice", "llm_tool_results", "llm_breaker_failures"):
        assert Settings.model_fields[name].description


@pytest.mark.parametrize("value", ["none", "", "None"])
def test_a_temperature_of_none_means_the_server_default(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("GPUSTEWARD_LLM_TEMPERATURE", value)
    assert Settings().llm_temperature is None


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("GPUSTEWARD_LLM_TEMPERATURE", "2.5"),
        ("GPUSTEWARD_LLM_TOOL_CHOICE", "sometimes"),
        ("GPUSTEWARD_LLM_TOOL_RESULTS", "assistant"),
        ("GPUSTEWARD_LLM_BREAKER_FAILURES", "0"),
        ("GPUSTEWARD_LLM_BREAKER_BACKOFF_SECONDS", "0"),
    ],
)
def test_an_out_of_range_llm_setting_is_refused_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(SettingsError, match=env):
        load_settings()


def test_run_passes_the_request_and_breaker_settings_to_the_planner() -> None:
    s = Settings(
        llm_temperature=0.3,
        llm_tool_choice="required",
        llm_tool_results="user",
        llm_breaker_failures=4,
        llm_breaker_backoff_seconds=60.0,
    )
    limits = llm_limits(s.llm)
    assert (limits.temperature, limits.tool_choice) == (0.3, "required")
    assert (limits.breaker_failures, limits.breaker_backoff_seconds) == (4, 60.0)
    assert llm_client(s.llm, "http://127.0.0.1:9/v1").tool_results == "user"


def _first_request(server: ScriptedLlmServer, *flags: str) -> dict[str, object]:
    args = ["eval", "--endpoint", server.base_url, "--json", "--limit", "1", *flags]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return server.requests[0]


def test_eval_sends_what_run_would_send_by_default(
    serve: Callable[..., ScriptedLlmServer],
) -> None:
    server = serve(responder=lambda body: reply("nothing to do"))
    sent = _first_request(server)
    run = llm_limits(Settings().llm)
    assert sent["model"] == Settings().llm_model
    assert (sent["temperature"], sent["tool_choice"], sent["max_tokens"]) == (
        run.temperature,
        run.tool_choice,
        run.max_tokens,
    )


def test_eval_reads_the_environment_and_its_flags_win(
    serve: Callable[..., ScriptedLlmServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GPUSTEWARD_LLM_MAX_TOKENS", "77")
    monkeypatch.setenv("GPUSTEWARD_LLM_TEMPERATURE", "0.7")
    monkeypatch.setenv("GPUSTEWARD_LLM_MODEL", "from-env")
    server = serve(responder=lambda body: reply("nothing to do"))
    sent = _first_request(server, "--temperature", "0.2", "--model", "from-flag")
    assert (sent["max_tokens"], sent["temperature"], sent["model"]) == (77, 0.2, "from-flag")


def test_eval_without_an_endpoint_says_how_to_give_one() -> None:
    result = CliRunner().invoke(app, ["eval", "--json"])
    assert isinstance(result.exception, InputError)
    assert "GPUSTEWARD_LLM_BASE_URL" in str(result.exception)
