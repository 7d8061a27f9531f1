"""Action cards as Slack Block Kit JSON. Pure: no Slack SDK here, only the JSON it sends.

Buttons carry the request id as their `value`; `action_id` is `approve`, `reject` or
`why`. A decided card keeps its content and replaces the buttons with who decided.
"""

from __future__ import annotations

from typing import Any, Final

from gpusteward.chat.cards import Card

Block = dict[str, Any]  # Block Kit is JSON; this module is where it is built
APPROVE: Final = "approve"
REJECT: Final = "reject"
WHY: Final = "why"
_STATE_EMOJI: Final = {
    "pending": ":hourglass_flowing_sand:",
    "approved": ":white_check_mark:",
    "rejected": ":no_entry:",
    "expired": ":alarm_clock:",
    "superseded": ":arrows_counterclockwise:",
}


def fallback_text(card: Card) -> str:
    """The notification text (and what screen readers read)."""
    return f"[{card.state}] {card.title} — approval {card.id} for {card.approver_group}"


def card_blocks(card: Card) -> list[Block]:
    expires, fallback = int(card.expires_at.timestamp()), f"{card.expires_at:%Y-%m-%d %H:%M}"
    fields = [_md(f"*Projected when asked*\n{_cut(card.impact.summary(), 600)}")]
    if card.impact_now is not None and card.impact_now.at is not None:
        label = f"*Projected on the latest snapshot* ({card.impact_now.at:%H:%M} UTC)"
        fields.append(_md(f"{label}\n{_cut(card.impact_now.summary(), 600)}"))
    fields += [
        _md(f"*Approvers*\n{card.approver_group} · severity {card.severity}"),
        _md(f"*Expires*\n<!date^{expires}^{{date_short_pretty}} {{time}}|{fallback} UTC>"),
        _md(f"*Policy*\n{card.policy_version}"),
    ]
    rules = "\n".join(f"• *{r.rule}*: {r.reason}" for r in card.rules) or "—"
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(card.title, 150)}},
        {
            "type": "section",
            "block_id": "why",
            "text": _md(_cut(f"*Why:* {card.reason}", 3000)),
            "fields": fields,
        },
        {
            "type": "section",
            "block_id": "rules",
            "text": _md(_cut(f"*Asked for approval by*\n{rules}", 3000)),
        },
    ]
    if card.evidence:
        blocks.append({"type": "context", "elements": [_md(_cut(" · ".join(card.evidence), 3000))]})
    status = f"{_STATE_EMOJI.get(card.state, '')} *{card.state}* — {card.status_line}"
    blocks.append({"type": "context", "block_id": "status", "elements": [_md(_cut(status, 3000))]})
    if card.state == "pending":
        blocks.append(
            {
                "type": "actions",
                "block_id": f"decide:{card.id}"[:255],
                "elements": [
                    _button("Approve", APPROVE, card.id, "primary"),
                    _button("Reject", REJECT, card.id, "danger"),
                    _button("Why?", WHY, card.id, None),
                ],
            }
        )
    return blocks


def _button(text: str, action_id: str, value: str, style: str | None) -> Block:
    button: Block = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": text},
        "value": value,
    }
    if style is not None:
        button["style"] = style
    return button


def _md(text: str) -> Block:
    return {"type": "mrkdwn", "text": text}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
