"""`--help` tells a new user what each command reads: every GPUSTEWARD_ variable of the
settings where a command reads them, and only the sub-commands that exist."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from gpusteward.app.settings import Settings
from gpusteward.cli.main import app

SETTINGS_READERS = ["run", "export", "replay", "why", "eval", "approvals"]
VARIABLES = [f"GPUSTEWARD_{name.upper()}" for name in Settings.model_fields]


def _help(*command: str) -> str:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    return result.output


def _missing(text: str) -> list[str]:
    return [v for v in VARIABLES if not re.search(rf"\b{v}\b", text)]


def test_run_help_lists_every_settings_variable() -> None:
    assert _missing(_help("run")) == []


def test_run_help_says_how_to_serve_the_approval_chat() -> None:
    text = " ".join(_help("run").split())
    assert "approval chat" in text and "GPUSTEWARD_CHAT_PEOPLE" in text


@pytest.mark.parametrize("command", ["", *SETTINGS_READERS[1:]])
def test_the_top_help_and_each_settings_reader_list_every_settings_variable(
    command: str,
) -> None:
    assert _missing(_help(*([command] if command else []))) == []


def test_runbook_help_names_only_sub_commands_it_has() -> None:
    text = _help("runbook")
    summary = re.search(r"runbooks: ([a-z, ]+)", text)
    assert summary is not None, text
    named = [name.strip() for name in summary.group(1).split(",")]
    for name in named:
        assert CliRunner().invoke(app, ["runbook", name, "--help"]).exit_code == 0, name
