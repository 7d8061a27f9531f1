"""Base class for domain types: frozen, strict about unknown fields."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """Immutable value object; unknown fields are an error, never silently dropped."""

    model_config = ConfigDict(frozen=True, extra="forbid")
