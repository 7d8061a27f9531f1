"""Chat commands, the same in the web chat and Slack (`/gpusteward <command>` there).

`/status`, `/pending`, `/approve ID [comment]`, `/reject ID reason`, `/why ID`, `/pause`,
`/resume`, `/intent [DEPLOYMENT TEXT | DEPLOYMENT clear]` (an operator's note on expected
load, for the planner: `gpusteward.chat.notes`), `/warnings` (the diagnostics' open
warnings; `/why WARNING-ID` explains one), `/help`. Anything else is a free-text
question, answered from the journal when an answerer (the LLM) is configured.
"""

from __future__ import annotations

import shlex

from gpusteward.chat.cards import short_time
from gpusteward.chat.history import action_history, history_lines
from gpusteward.chat.identities import Person
from gpusteward.chat.service import ApprovalService, Outcome
from gpusteward.chat.store import DecisionRefused
from gpusteward.chat.warnings import warning_lines
from gpusteward.core.diagnosis import RedFlag
from gpusteward.core.errors import InputError

HELP = (
    "commands: /status · /pending · /approve ID [comment] · /reject ID reason · /why ID · "
    "/pause · /resume · /intent DEPLOYMENT TEXT · /warnings — ID may be a unique prefix "
    "(of an approval or a warning)"
)


def run_command(
    service: ApprovalService, person: Person | None, text: str, channel: str
) -> Outcome:
    text = text.strip()
    if not text.startswith("/"):
        return _question(service, person, text)
    try:
        parts = shlex.split(text)
    except ValueError:
        parts = text.split()
    name, args = parts[0].lower(), parts[1:]
    if name in ("/approve", "/reject"):
        return _decide(service, person, name == "/approve", args, channel)
    if name == "/pending":
        return _pending(service)
    if name == "/why":
        return _why(service, args)
    if name == "/status":
        return _status(service)
    if name in ("/pause", "/resume"):
        return service.set_paused(person, name == "/pause", channel=channel)
    if name == "/intent":
        return _intent(service, person, text, channel)
    if name == "/warnings":
        board = service.warnings
        if board is None:
            return Outcome(ok=False, text="warnings need the daemon's diagnostics; none here")
        return Outcome(ok=True, text="\n".join(warning_lines(board)))
    if name == "/help":
        return Outcome(ok=True, text=HELP)
    return Outcome(ok=False, text=f"unknown command {name!r}; {HELP}")


def _decide(
    service: ApprovalService, person: Person | None, approve: bool, args: list[str], channel: str
) -> Outcome:
    verb = "/approve" if approve else "/reject"
    if not args:
        return Outcome(ok=False, text=f"{verb} needs an id. Fix: {verb} ID; see /pending")
    comment = " ".join(args[1:]) or None
    if not approve and comment is None:
        return Outcome(ok=False, text="/reject needs a reason. Fix: /reject ID reason")
    return service.decide(person, args[0], approve=approve, channel=channel, comment=comment)


def _pending(service: ApprovalService) -> Outcome:
    pending = service.store.pending(service.now())
    if not pending:
        return Outcome(ok=True, text="nothing is waiting for approval")
    lines = [f"{len(pending)} waiting for approval:"]
    for r in pending:
        lines.append(
            f"• {r.id} — {r.proposal.action.describe()} — group {r.approver_group}, "
            f"expires {r.expires_at:%H:%M} UTC"
        )
    return Outcome(ok=True, text="\n".join(lines))


def _why(service: ApprovalService, args: list[str]) -> Outcome:
    if not args:
        return Outcome(ok=False, text="/why needs an id. Fix: /why ID; see /pending")
    warning_ref = any(args[0].startswith(f"{flag.value}:") for flag in RedFlag)
    if service.warnings is not None and warning_ref:  # flag:deployment:time, or a prefix
        try:
            warning = service.warnings.find(args[0])
        except InputError as e:
            return Outcome(ok=False, text=str(e))
        if warning is not None:
            return Outcome(ok=True, text="\n".join(warning.why_lines()))
    try:
        request = service.store.resolve(args[0])
    except DecisionRefused as e:
        return Outcome(ok=False, text=str(e))
    card = service.card(request)  # keeps the projection made when it was asked, if due
    history = action_history(request.id, (), service.store)  # the chat reads no journal
    lines = history_lines(history) if history is not None else []
    now = card.impact_now
    if now is not None and now.at is not None:
        lines.append(f"projected on the latest snapshot ({short_time(now.at)}): {now.summary()}")
    return Outcome(ok=True, text="\n".join(lines), request_id=request.id)


def _intent(service: ApprovalService, person: Person | None, text: str, channel: str) -> Outcome:
    """Leave (or end, or list) an operator's note on a deployment's expected load."""
    notes = service.notes
    if notes is None:
        return Outcome(ok=False, text="operator notes need the daemon's approval store; none here")
    parts = text.split(None, 2)
    now = service.now()
    if len(parts) == 1:
        current = notes.in_force(now)
        if not current:
            return Outcome(ok=True, text="no notes in force. Leave one: /intent DEPLOYMENT TEXT")
        return Outcome(
            ok=True, text="\n".join(f"• {k}: {n.stamped()}" for k, n in sorted(current.items()))
        )
    if person is None:
        return Outcome(ok=False, text="sign in to leave a note (who wrote it goes with it)")
    snapshot = service.snapshot()
    if snapshot is None:
        return Outcome(
            ok=False,
            text="/intent: the daemon has not observed the cluster yet, so no deployment is "
            "known. Fix: try again after its first tick (/status shows it).",
        )
    keys = [d.key for d in snapshot.deployments]
    key = _deployment(parts[1], keys)
    if key is None:
        return Outcome(
            ok=False,
            text=f"/intent: no deployment {parts[1]!r}; deployments: {', '.join(keys) or 'none'}. "
            "Fix: /intent NAMESPACE/NAME TEXT",
        )
    if len(parts) < 3:
        return Outcome(
            ok=False,
            text=f"/intent {key} needs the note (when, how much, how long), or 'clear'",
        )
    body = "" if parts[2].strip().lower() == "clear" else parts[2]
    try:
        note = notes.write(key, body, by=person.name, channel=channel, now=now)
    except InputError as e:
        return Outcome(ok=False, text=str(e))
    if not note.text:
        return Outcome(ok=True, text=f"the note on {key} is cleared")
    return Outcome(
        ok=True,
        text=f"noted on {key}: {note.stamped()}. The planner reads it from the next tick; "
        "what it proposes from it waits for an approver.",
    )


def _deployment(ref: str, keys: list[str]) -> str | None:
    """`ref` as a deployment key: the key itself, or a name unique across namespaces."""
    if ref in keys:
        return ref
    by_name = [k for k in keys if k.split("/", 1)[-1] == ref]
    return by_name[0] if len(by_name) == 1 else None


def _status(service: ApprovalService) -> Outcome:
    lines = list(service.daemon.status_lines()) if service.daemon else ["no daemon attached"]
    pending = service.store.pending(service.now())
    lines.append(f"paused: {'yes' if service.store.paused else 'no'}; {len(pending)} pending")
    return Outcome(ok=True, text="\n".join(lines))


def _question(service: ApprovalService, person: Person | None, text: str) -> Outcome:
    if not text:
        return Outcome(ok=False, text=HELP)
    if service.answerer is None:
        return Outcome(
            ok=False,
            text=f"free-text questions are answered by the LLM, and none is configured; {HELP}",
        )
    return Outcome(ok=True, text=service.answerer.answer(text, person.name if person else "?"))
