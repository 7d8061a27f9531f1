"""Incident bundles: a stretch of the journal, exported with everything a replay needs.

A bundle holds the recorded ticks between two times (snapshots, forecasts and the
forecaster that made them, the LLM's requests and responses — tool calls and tool
results included, proposals, verdicts with their policy version, approvals, results),
plus a preamble: the load history and the executed actions the daemon had in memory at
the first tick, and a few warm-up ticks for planners with memory. The policy text and
the scenario travel with it, so a replay needs nothing but the file.

Secrets are redacted on export (`redact`): API keys, bearer and Slack tokens, passwords
in URLs, and any exact value the caller names. Building a bundle is pure; `write_bundle`
and `read_bundle` are the only file I/O here (one gzip-compressed JSON document).
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, Field, ValidationError

from gpusteward.core.actions import Action
from gpusteward.core.errors import InputError
from gpusteward.core.load import LoadHistory, LoadSeries
from gpusteward.core.model import Frozen
from gpusteward.core.stages import observe_load
from gpusteward.core.tick import TickRecord
from gpusteward.core.verdicts import ExecutedAction, ResultStatus

BUNDLE_FORMAT: Literal["gpusteward.incident/1"] = "gpusteward.incident/1"
REDACTED = "[REDACTED]"


class Preamble(Frozen):
    """What the daemon remembered when the bundle's first tick began."""

    load: tuple[LoadSeries, ...] = ()
    recent: tuple[ExecutedAction, ...] = ()
    warmup: tuple[TickRecord, ...] = Field(
        default=(), description="Ticks just before the first one (no LLM trace): planner memory."
    )


class IncidentBundle(Frozen):
    format: Literal["gpusteward.incident/1"] = BUNDLE_FORMAT
    journal: str = Field(description="Where the ticks were recorded.")
    scenario_id: str | None = None
    start: AwareDatetime
    end: AwareDatetime
    interval_seconds: float = Field(gt=0)
    history_points: int = Field(ge=1)
    recent_actions_seconds: float = Field(gt=0)
    scenario: str | None = Field(
        default=None, description="The scenario document (JSON), read by the composition root."
    )
    policy: str | None = Field(
        default=None, description="The policy YAML the ticks were judged by."
    )
    policy_source: str | None = None
    ticks: tuple[TickRecord, ...]
    preamble: Preamble = Preamble()
    redactions: int = Field(default=0, ge=0, description="Secrets replaced by [REDACTED].")

    @property
    def policy_versions(self) -> set[str]:
        return {v.policy_version for t in self.ticks for v in t.verdicts}


def executed(record: TickRecord, known: dict[str, Action]) -> list[ExecutedAction]:
    """The actions this tick applied, as the daemon adds them to its recent-actions memory.

    `known` maps every action id proposed so far (this tick included) to its action: an
    approved action runs on a later tick than the one that proposed it."""
    for p in record.proposals:
        known[p.action.id] = p.action
    for a in record.approvals:
        known.setdefault(a.proposal.action.id, a.proposal.action)
    return [
        ExecutedAction(action=known[r.action_id], at=r.at)
        for r in record.results
        if r.status == ResultStatus.APPLIED and r.action_id in known
    ]


def build_bundle(
    records: Iterable[TickRecord],
    *,
    start: datetime | None,
    end: datetime | None,
    journal: str,
    interval_seconds: float,
    history_points: int,
    recent_actions_seconds: float,
    warmup_ticks: int = 60,
    scenario_id: str | None = None,
    scenario: str | None = None,
    policy: str | None = None,
    policy_source: str | None = None,
    secrets: Sequence[str] = (),
) -> IncidentBundle:
    """The ticks with `start <= at <= end` (either open), their preamble, redacted."""
    history = LoadHistory(interval_seconds, history_points)
    recent: list[ExecutedAction] = []
    known: dict[str, Action] = {}
    before: list[TickRecord] = []
    ticks: list[TickRecord] = []
    for record in records:
        if end is not None and record.at > end:
            break
        if start is None or record.at >= start:
            ticks.append(record)
            continue
        if record.snapshot is not None:
            observe_load(history, record.snapshot)
        recent.extend(executed(record, known))
        before.append(record.model_copy(update={"llm": None, "approvals": ()}))
        del before[: -warmup_ticks or len(before)]
    if not ticks:
        raise InputError(
            f"{journal}: no tick recorded between {start or 'the start'} and "
            f"{end or 'the end'}. Fix: widen --from / --to (see `gpusteward journal`)."
        )
    first = ticks[0].at
    horizon = first - timedelta(seconds=recent_actions_seconds)
    bundle = IncidentBundle(
        journal=journal,
        scenario_id=scenario_id,
        start=first,
        end=ticks[-1].at,
        interval_seconds=interval_seconds,
        history_points=history_points,
        recent_actions_seconds=recent_actions_seconds,
        scenario=scenario,
        policy=policy,
        policy_source=policy_source,
        ticks=tuple(ticks),
        preamble=Preamble(
            load=tuple(history.series(k) for k in history.tracked()),
            recent=tuple(a for a in recent if a.at >= horizon),
            warmup=tuple(before[-warmup_ticks:]) if warmup_ticks else (),
        ),
    )
    return redact(bundle, secrets)


# -- redaction ---------------------------------------------------------------------------

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"), REDACTED),  # OpenAI-style API keys
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{8,}"), REDACTED),  # Slack bot / user tokens
    (re.compile(r"\bxapp-[A-Za-z0-9\-]{8,}"), REDACTED),  # Slack app tokens
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/\-]{8,}=*"), r"\1" + REDACTED),
    (re.compile(r"(https?://)[^/\s:@\"\\]+:[^/\s@\"\\]+@"), r"\1" + REDACTED + "@"),
    (
        re.compile(
            r"(?i)([?&](?:api[_-]?key|access[_-]?token|token|secret|password|sig)=)[^&\"\\\s]+"
        ),
        r"\1" + REDACTED,
    ),
)


def redact_text(text: str, secrets: Sequence[str] = ()) -> tuple[str, int]:
    """`text` with secrets replaced, and how many were replaced."""
    count = 0
    for value in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        count += text.count(value)
        text = text.replace(value, REDACTED)
    for pattern, replacement in _PATTERNS:
        text, n = pattern.subn(replacement, text)
        count += n
    return text, count


def redact(bundle: IncidentBundle, secrets: Sequence[str] = ()) -> IncidentBundle:
    """The bundle with every secret-looking string replaced by `[REDACTED]`."""
    text, count = redact_text(bundle.model_dump_json(exclude={"redactions"}), secrets)
    if count == 0:
        return bundle
    body = IncidentBundle.model_validate_json(text)
    return body.model_copy(update={"redactions": bundle.redactions + count})


# -- files ---------------------------------------------------------------------------------


def write_bundle(bundle: IncidentBundle, path: Path) -> Path:
    """Write the bundle as gzip-compressed JSON; returns the path written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb", compresslevel=6) as f:
        f.write(bundle.model_dump_json().encode())
    return path


def is_bundle(path: Path) -> bool:
    """True for a file that starts like a gzip stream (bundles are; scenarios are YAML)."""
    try:
        with path.open("rb") as f:
            return f.read(2) == b"\x1f\x8b"
    except OSError:
        return False


def read_bundle(path: Path) -> IncidentBundle:
    """Read a bundle written by `write_bundle`; problems name the file and the fix."""
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise InputError(
            f"{path}: cannot read as an incident bundle ({e}). Fix: pass a file written by "
            "`gpusteward export`."
        ) from None
    try:
        return IncidentBundle.model_validate_json(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(
            f"{path}: not a {BUNDLE_FORMAT} bundle ({where}: {first['msg']}). Fix: re-export it "
            "with this version's `gpusteward export`."
        ) from None
