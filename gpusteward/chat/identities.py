"""Who may use the chat and who may decide: people, login tokens, Slack ids, groups.

A people file (YAML) lists each person with a login token (its SHA-256, or the token
itself for a demo), an optional Slack user id and the approver groups they belong to.
Anyone listed may see the cards; only members of a request's approver group may decide
it; only members of `pause_group` may pause the daemon. Parsing text is not I/O: the
caller reads the file.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path

from pydantic import Field, model_validator

from gpusteward.core.documents import load_document
from gpusteward.core.errors import SettingsError
from gpusteward.core.model import Frozen
from gpusteward.core.user_files import read_user_file

_NAME = r"^[A-Za-z0-9_.@-]+$"


class Person(Frozen):
    name: str = Field(pattern=_NAME, description="Shown on cards and in the audit log.")
    token_sha256: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$", description="sha256 hex of the login token."
    )
    token: str | None = Field(
        default=None, min_length=16, description="The login token itself (demos only)."
    )
    slack_user: str | None = Field(default=None, pattern=r"^[UW][A-Z0-9]+$")
    groups: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one_token(self) -> Person:
        if (self.token is None) == (self.token_sha256 is None):
            raise ValueError(
                "give exactly one of token_sha256 (sha256 hex of the login token) or token"
            )
        return self

    def in_group(self, group: str) -> bool:
        return group in self.groups

    def _digest(self) -> str:
        if self.token_sha256 is not None:
            return self.token_sha256
        assert self.token is not None
        return token_digest(self.token)


class PeopleFile(Frozen):
    people: tuple[Person, ...] = Field(min_length=1)
    pause_group: str = Field(default="oncall", description="Who may /pause and /resume.")

    @model_validator(mode="after")
    def _unique(self) -> PeopleFile:
        for attr in ("name", "slack_user"):
            values = [getattr(p, attr) for p in self.people if getattr(p, attr) is not None]
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                raise ValueError(f"{attr} {', '.join(dupes)} listed twice; each must be unique")
        return self


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Identities:
    """Look people up by login token (constant-time) or Slack user id."""

    def __init__(self, people: PeopleFile) -> None:
        self.file = people
        self._digests = [(p._digest(), p) for p in people.people]
        self._slack = {p.slack_user: p for p in people.people if p.slack_user}

    @classmethod
    def parse(cls, text: str, source: str) -> Identities:
        people, _ = load_document(text, source, PeopleFile)
        return cls(people)

    @classmethod
    def load(cls, path: Path) -> Identities:
        text = read_user_file(
            path,
            "chat people file",
            error=SettingsError,
            missing="check GPUSTEWARD_CHAT_PEOPLE",
        )
        return cls.parse(text, str(path))

    def by_token(self, token: str | None) -> Person | None:
        if not token:
            return None
        digest = token_digest(token)
        found = None
        for known, person in self._digests:  # compare all: no timing hint of which matched
            if hmac.compare_digest(known, digest):
                found = person
        return found

    def by_slack(self, user_id: str) -> Person | None:
        return self._slack.get(user_id)

    def can_pause(self, person: Person) -> bool:
        return person.in_group(self.file.pause_group)


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header."""
    if not header:
        return None
    m = re.match(r"^\s*Bearer\s+(\S+)\s*$", header)
    return m.group(1) if m else None
