"""`Diagnostics`: every detector on every deployment, each tick; a warning's life cycle.

A warning opens once its detector's condition has held for `open_ticks` ticks in a row
(one noisy minute is not a red flag) and resolves once it has been clear for
`resolve_seconds`; in between it keeps its id, so the chat posts it once. When it
opens, the guard judges its remedy (the verdict rides on the warning; nothing runs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from gpusteward.core import stages
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.diagnosis import DiagnosticWarning, RedFlag
from gpusteward.core.ports import GuardInputs, PolicyEngine
from redflags.detectors_capacity import ColdStartDelay, CostOutpacingUsage, RemoteData
from redflags.detectors_load import BurstLatency, LowUtilisation, QueueGrowth
from redflags.finding import Detector, Finding
from redflags.window import DeploymentWindow, NodeIndex, calm, sample_of

KEEP_SECONDS = 6.5 * 3600  # the longest window a detector reads (cost: 1 h + 5 h before)


def default_detectors() -> tuple[Detector, ...]:
    return (
        BurstLatency(),
        LowUtilisation(),
        QueueGrowth(),
        ColdStartDelay(),
        RemoteData(),
        CostOutpacingUsage(),
    )


@dataclass
class _Open:
    warning: DiagnosticWarning
    clear_since: datetime | None = None


@dataclass
class _Track:
    """Per deployment: its window, and per detector the checks in a row its condition
    held, when it is next due (a detector with `every_seconds`), and its last finding."""

    window: DeploymentWindow
    streak: list[int]
    next_check: list[float]
    last: list[Finding | None]


@dataclass(frozen=True)
class DiagnosticsConfig:
    open_ticks: int = 2  # ticks in a row a condition holds before its warning opens
    resolve_seconds: float = 600.0  # clear this long before it resolves
    refresh_seconds: float = 300.0  # an open warning's evidence is renewed this often


class Diagnostics:
    """Stateful across ticks (windows, streaks, open warnings); picklable."""

    def __init__(
        self,
        policy: PolicyEngine | None = None,
        detectors: Sequence[Detector] | None = None,
        config: DiagnosticsConfig | None = None,
    ) -> None:
        self.policy = policy
        self.detectors = tuple(detectors) if detectors is not None else default_detectors()
        self.config = config or DiagnosticsConfig()
        self._tracks: dict[str, _Track] = {}
        self._open: dict[tuple[RedFlag, str], _Open] = {}
        self._clock: tuple[datetime, float] | None = None  # a snapshot time, its epoch s

    def _seconds(self, at: datetime) -> float:
        """`at` in epoch seconds, as a difference from the last snapshot's time: with the
        same tzinfo object (a backend's clock) that skips the time-zone lookups
        `timestamp()` makes, most of this stage's time on a cheap tick."""
        last = self._clock
        t = at.timestamp() if last is None else last[1] + (at - last[0]).total_seconds()
        self._clock = (at, t)
        return t

    def observe(
        self, snapshot: ClusterSnapshot, inputs: GuardInputs | None = None
    ) -> tuple[DiagnosticWarning, ...]:
        """This tick's warnings: every open one (as of now), and those resolved now."""
        nodes = NodeIndex(snapshot.nodes)
        t = self._seconds(snapshot.at)
        found: dict[tuple[RedFlag, str], Finding] = {}
        for d in snapshot.deployments:
            if d.retired or d.routed_to is not None:
                continue
            track = self._tracks.get(d.key)
            if track is None:
                window = DeploymentWindow(KEEP_SECONDS)
                n = len(self.detectors)
                track = self._tracks[d.key] = _Track(window, [0] * n, [0.0] * n, [None] * n)
            sample = sample_of(snapshot, d, nodes, track.window, t)
            if sample is None:
                continue
            track.window.add(sample)
            quiet = calm(track.window, d.slo.queue_delay_seconds)
            streak = track.streak
            for i, detector in enumerate(self.detectors):
                if quiet and detector.troubled_only:
                    streak[i] = 0
                    continue
                every = detector.every_seconds
                if every and t < track.next_check[i]:
                    held = track.last[i]  # still holds as last checked
                    if held is not None and streak[i] >= self.config.open_ticks:
                        found[(detector.flag, d.key)] = held
                    continue
                if every:
                    track.next_check[i] = t + every
                finding = detector.check(snapshot, d, track.window)
                if finding is None:
                    streak[i] = 0
                    continue
                streak[i] += 1
                track.last[i] = finding
                if streak[i] >= self.config.open_ticks:
                    found[(detector.flag, d.key)] = finding
        if not found and not self._open:
            return ()
        return self._update(snapshot, inputs, found)

    def active(self) -> tuple[DiagnosticWarning, ...]:
        return tuple(o.warning for o in self._open.values())

    def _update(
        self,
        snapshot: ClusterSnapshot,
        inputs: GuardInputs | None,
        found: dict[tuple[RedFlag, str], Finding],
    ) -> tuple[DiagnosticWarning, ...]:
        at = snapshot.at
        out: list[DiagnosticWarning] = []
        for key, finding in found.items():
            current = self._open.get(key)
            if current is None:
                warning = self._new(key, finding, snapshot, inputs)
            else:
                warning = current.warning
                stale = (at - warning.at).total_seconds() >= self.config.refresh_seconds
                if stale or finding.severity != warning.severity:
                    warning = warning.model_copy(update=_refresh(finding, at))
            self._open[key] = _Open(warning)
            out.append(warning)
        for key in [k for k in self._open if k not in found]:
            entry = self._open[key]
            entry.clear_since = entry.clear_since or at
            if (at - entry.clear_since).total_seconds() >= self.config.resolve_seconds:
                del self._open[key]
                out.append(entry.warning.model_copy(update={"resolved": True, "at": at}))
            else:
                out.append(entry.warning)
        return tuple(out)

    def _new(
        self,
        key: tuple[RedFlag, str],
        finding: Finding,
        snapshot: ClusterSnapshot,
        inputs: GuardInputs | None,
    ) -> DiagnosticWarning:
        flag, deployment = key
        at = snapshot.at
        verdict = None
        if finding.remedy is not None and self.policy is not None:
            judged = stages.judge(
                self.policy, [finding.remedy], snapshot, inputs or GuardInputs(forecasts={})
            )
            verdict = judged.verdicts[0]
        return DiagnosticWarning(
            id=f"{flag.value}:{deployment}:{int(at.timestamp())}",
            flag=flag,
            deployment=deployment,
            opened_at=at,
            remedy=finding.remedy,
            remedy_verdict=verdict,
            **_refresh(finding, at),
        )


def _refresh(finding: Finding, at: datetime) -> dict[str, object]:
    """What a warning takes from its latest finding (the remedy stays the one judged
    when it opened)."""
    return {
        "severity": finding.severity,
        "at": at,
        "summary": finding.summary,
        "evidence": finding.evidence,
        "cause": finding.cause,
        "cause_detail": finding.cause_detail,
        "runbook": finding.runbook,
    }
