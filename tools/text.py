"""Cluster text made inert before a model reads it."""

from __future__ import annotations

MAX_NAME = 120


def clean(text: str, limit: int = MAX_NAME) -> str:
    """Untrusted cluster text made inert for display: no control characters, capped."""
    out = "".join(c if c.isprintable() else " " for c in text)
    return out if len(out) <= limit else out[: limit - 1] + "…"
