"""`IntentModel`: a scripted stand-in for a capable model that reads operator notes.

It reads only the request it is given, as a real model would: the DATA block's `at:` line
and its `operator_notes` rows. For each note with no scheduled window yet it parses the
announcement ("launch tomorrow (2026-11-04) at 09:00 UTC: expect 3x traffic ... for two
hours") and calls `propose_schedule`; once the tool has answered it ends with a one-line
summary. With nothing to schedule it answers empty (no opinion: the deterministic plan
stands). A note it cannot parse is left alone. Benchmarks and tests use it to show what
the daemon does with a model that understands the note; the parsing is the model's part.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from gpusteward.core.llm import LlmRequest, LlmResponse, LlmToolCall
from gpusteward.testing.models import ScriptedModel, _response

_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "eight": 8}
_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")
_TIME = re.compile(r"\b(\d{1,2}):(\d{2})\s*UTC\b", re.I)
_TIMES = re.compile(r"\b(\d+(?:\.\d+)?)\s*x\b", re.I)
_WRITTEN = re.compile(r"\(written (\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}) UTC[^)]*\)")
_HOURS = re.compile(r"\bfor\s+(\d+(?:\.\d+)?|[a-z]+)\s+hours?\b", re.I)


@dataclass(frozen=True)
class Announcement:
    start: datetime
    hours: float
    multiplier: float


def parse_note(note: str, now: datetime) -> Announcement | None:
    """The event a note announces, or None when it does not say when, how much and how long.
    Relative days ("tomorrow") count from when the note was written when it says so (the
    chat stamps "(written YYYY-MM-DD HH:MM UTC by ...)"), else from `now`."""
    written = _WRITTEN.search(note)
    if written is not None:
        now = datetime.fromisoformat(f"{written.group(1)}T{written.group(2)}+00:00")
        note = note[: written.start()] + note[written.end() :]
    when, times, hours = _TIME.search(note), _TIMES.search(note), _HOURS.search(note)
    if when is None or times is None or hours is None:
        return None
    explicit = _DATE.search(note)
    if explicit is not None:
        day = date.fromisoformat(explicit.group(1))
    elif re.search(r"\btomorrow\b", note, re.I):
        day = (now + timedelta(days=1)).date()
    else:
        day = now.date()
    h = hours.group(1).lower()
    duration = float(_WORDS[h]) if h in _WORDS else float(h) if h[0].isdigit() else None
    if duration is None:
        return None
    start = datetime(
        day.year, day.month, day.day, int(when.group(1)), int(when.group(2)), tzinfo=UTC
    )
    return Announcement(start=start, hours=duration, multiplier=float(times.group(1)))


def _data(text: str) -> tuple[datetime | None, list[list[object]]]:
    """The DATA block's time and its operator_notes rows."""
    at: datetime | None = None
    rows: list[list[object]] = []
    section = ""
    for line in text.splitlines():
        if line.startswith("at: "):
            at = datetime.fromisoformat(json.loads(line[4:]))
        elif line.startswith("["):
            if section == "operator_notes":
                rows.append(json.loads(line))
        else:
            section = line.split(" ", 1)[0]
    return at, rows


def schedule_calls(prompt: str) -> list[dict[str, object]]:
    """The `propose_schedule` arguments for every note in `prompt` (the user message) that
    announces an event not yet scheduled and not yet begun."""
    at, rows = _data(prompt)
    out: list[dict[str, object]] = []
    for row in rows:
        key, note, windows = str(row[0]), str(row[1]), row[2]
        event = parse_note(note, at) if at is not None else None
        if windows or event is None or (at is not None and event.start <= at):
            continue
        out.append(
            {
                "deployment": key,
                "start": event.start.isoformat().replace("+00:00", "Z"),
                "hours": event.hours,
                "load_multiplier": event.multiplier,
                "rationale": (
                    f"operator note: {event.multiplier:g}x traffic from "
                    f"{event.start:%Y-%m-%d %H:%M} UTC for {event.hours:g} h"
                ),
            }
        )
    return out


@dataclass
class IntentModel(ScriptedModel):
    model: str = "intent-reader"
    schedules: int = 0

    def reply(self, request: LlmRequest) -> LlmResponse:
        users = sum(1 for m in request.messages if m.role == "user")
        if users > 1 or any(m.role == "tool" for m in request.messages):  # the tool answered
            return _response("Scheduled capacity for the announced event; a person approves it.")
        prompt = next((m.content or "" for m in request.messages if m.role == "user"), "")
        calls = tuple(
            LlmToolCall(id=f"call-{i}", name="propose_schedule", arguments=json.dumps(args))
            for i, args in enumerate(schedule_calls(prompt))
        )
        self.schedules += len(calls)
        return _response("", calls)
