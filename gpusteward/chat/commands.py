"""Chat commands, the same in the web chat and Slack (`/gpusteward <command>` there).

`/status`, `/pending`, `/approve ID [comment]`, `/reject ID reason`, `/why ID`, `/pause`,
`/resume`, `/help`. Anything else is a free-text question, answered from the journal
when an answerer (the LLM) is configured.
"""

from __future__ import annotations

import shlex

from gpusteward.chat.cards import short_time
from gpusteward.chat.history import action_history, history_lines
from gpusteward.chat.identities import Person
from gpusteward.chat.service import ApprovalService, Outcome
from gpusteward.chat.store import DecisionRefused

HELP = (
    "commands: /status · /pending · /approve ID [comment] · /reject ID reason · /why ID · "
    "/pause · /resume — ID may be a unique prefix"
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
