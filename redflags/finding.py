"""What one detector reports at one tick, and the interface every detector has."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gpusteward.core.actions import Proposal
from gpusteward.core.cluster import ClusterSnapshot, ModelDeployment
from gpusteward.core.diagnosis import Cause, Evidence, RedFlag, Severity
from redflags.window import DeploymentWindow


@dataclass(frozen=True)
class Finding:
    """A detector's condition holds on a deployment now (the engine makes it a warning)."""

    flag: RedFlag
    severity: Severity
    summary: str
    evidence: tuple[Evidence, ...]
    cause: Cause
    cause_detail: str
    remedy: Proposal | None = None
    runbook: str | None = None


class Detector(Protocol):
    """One red flag. `check` reads the deployment's window (its newest sample is this
    tick's) and the snapshot; it returns a finding while the condition holds, else None."""

    @property
    def flag(self) -> RedFlag: ...

    @property
    def troubled_only(self) -> bool:
        """True: it can only fire on a troubled sample (`window.calm` is False), so the
        engine skips it on calm ones."""

    @property
    def every_seconds(self) -> float:
        """How often it is run (0: every tick); a slow red flag need not be checked every
        tick."""

    def check(
        self, snapshot: ClusterSnapshot, d: ModelDeployment, window: DeploymentWindow
    ) -> Finding | None: ...
