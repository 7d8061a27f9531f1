"""What the diagnostics found: a warning per red flag and deployment, with its evidence,
likely cause and remedy; and the ground truth an incident scenario states about itself.

Data only (the detectors live in the `redflags` package): the journal records the
warnings of each tick, the chat posts them, `/metrics` exports them.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, Field

from gpusteward.core.actions import Proposal
from gpusteward.core.model import Frozen
from gpusteward.core.verdicts import Verdict


class RedFlag(StrEnum):
    """The red flags platform engineers name, one detector each."""

    BURST_LATENCY = "burst-latency"  # latency spikes during a traffic burst
    LOW_UTILISATION = "low-utilisation"  # GPUs stuck at 30-40 % under load, queue growing
    QUEUE_GROWTH = "queue-growth"  # requests queueing up
    COST_OUTPACING_USAGE = "cost-outpacing-usage"  # GPU cost rising faster than usage
    COLD_START_DELAY = "cold-start-delay"  # the load waits on cold starts (scaled up late)
    REMOTE_DATA = "remote-data"  # slow cross-region / cross-cloud transfer at start-up


class Severity(StrEnum):
    WARNING = "warning"  # heading for trouble: act before the SLO is missed
    CRITICAL = "critical"  # the SLO is being missed now


class Cause(StrEnum):
    """The likely cause, among the ones the cluster shows."""

    TOO_FEW_REPLICAS = "too-few-replicas"
    BATCH_OR_GPU_MISFIT = "batch-or-gpu-misfit"  # batch size or GPU type wrong for the load
    FRAGMENTATION = "fragmentation"  # enough free GPUs, none where a replica fits
    SCALE_UP_LATE = "scale-up-late"  # capacity asked for after the load arrived
    DATA_FAR_FROM_COMPUTE = "data-far-from-compute"  # artifacts in another region
    IDLE_REPLICAS = "idle-replicas"  # replicas held beyond the load


class Evidence(Frozen):
    """One measurement behind a warning: a metric over a window against its baseline."""

    metric: str
    observed: float = Field(allow_inf_nan=False)
    window_seconds: float = Field(ge=0, allow_inf_nan=False, description="What it summarises.")
    baseline: float | None = Field(
        default=None,
        allow_inf_nan=False,
        description="What it is compared with (a trailing median, the SLO).",
    )
    threshold: float | None = Field(
        default=None, allow_inf_nan=False, description="Where the detector fires."
    )
    unit: str = ""

    def line(self) -> str:
        base = "" if self.baseline is None else f" vs baseline {self.baseline:.3g}"
        limit = "" if self.threshold is None else f" (fires at {self.threshold:.3g})"
        window = f"over {self.window_seconds / 60:.0f} min" if self.window_seconds else "now"
        return f"{self.metric} {self.observed:.3g}{self.unit} {window}{base}{limit}"


class DiagnosticWarning(Frozen):
    """One red flag on one deployment, from when it opened until it resolves.

    `id` is stable while the condition lasts (`flag:deployment:opened-epoch`), so the chat
    posts it once and a resolve message when it clears. The remedy is advice: a typed
    proposal judged by the guard (its verdict is here; nothing runs on its own), or a
    shipped runbook to run, which goes through the guard as every runbook does.
    """

    id: str
    flag: RedFlag
    deployment: str
    severity: Severity
    opened_at: AwareDatetime
    at: AwareDatetime = Field(description="The tick this state of the warning is from.")
    summary: str
    evidence: tuple[Evidence, ...] = ()
    cause: Cause
    cause_detail: str = ""
    remedy: Proposal | None = None
    remedy_verdict: Verdict | None = None
    runbook: str | None = Field(default=None, description="A shipped runbook that fixes it.")
    resolved: bool = False

    def why_lines(self) -> list[str]:
        """What "why?" answers: the finding, its evidence, cause and remedy."""
        state = "resolved" if self.resolved else self.severity.value
        lines = [f"{self.flag.value} on {self.deployment} ({state}): {self.summary}"]
        lines += [f"• {e.line()}" for e in self.evidence]
        lines.append(f"likely cause: {self.cause.value} — {self.cause_detail}")
        if self.remedy is not None:
            verdict = self.remedy_verdict
            judged = f" — guard: {verdict.decision} ({verdict.reason})" if verdict else ""
            lines.append(f"remedy: {self.remedy.action.describe()}{judged}")
        if self.runbook:
            lines.append(f"runbook: gpusteward runbook run {self.runbook}")
        return lines


class IncidentLabel(Frozen):
    """Ground truth an incident scenario states: which red flag it injects on which
    deployment, when the condition begins and when the SLO is first missed (None: the
    incident costs money, not latency), both as offsets from the scenario's start."""

    flag: RedFlag
    deployment: str = Field(description="namespace/name")
    condition_begins_seconds: float = Field(ge=0)
    slo_first_missed_seconds: float | None = Field(default=None, ge=0)
    note: str = ""
