"""The approval chat: the durable approval store and the views over it.

- `store` — `SqliteApprovalStore`, the `ApprovalGate` on one SQLite file (WAL): the one
  source of truth for every channel. Exactly-once decisions, expiry, de-duplication,
  supersede, cool-off after a rejection, an append-only audit log.
- `identities` — who may decide: people, their login tokens, Slack ids and groups.
- `service` — the one decision path every channel uses (authorise, decide, audit).
- `commands` — `/status`, `/pending`, `/approve`, `/reject`, `/why`, `/pause`, `/resume`.
- `cards` — what a card shows (action, why, projected effect, rules, expiry); pure.
- `web` — the built-in web chat (FastAPI + WebSocket, one page).
- `slack_app` — the Slack app (`slack_bolt`); the only module importing a Slack SDK.

Known only to the composition root (`gpusteward.app.wiring`); imports only `gpusteward.core`.
It never decides what the cluster should do: it records what people decided.
"""
