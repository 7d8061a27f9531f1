"""The likely cause a warning names, from what the cluster shows, and the remedy to propose.

A cause is read off the snapshot in order of how specific the sign is: replicas pending
where GPUs are free but scattered (fragmentation), replicas loading far from their
artifacts, replicas loading while the load waits (scaled up late), busy-but-cold GPUs
(batch size or GPU type), and otherwise too few replicas.
"""

from __future__ import annotations

import math
from datetime import datetime

from gpusteward.core.actions import Evidence as ProposalEvidence
from gpusteward.core.actions import PrewarmReplicas, Proposal, ScaleDeployment
from gpusteward.core.cluster import ClusterSnapshot, ModelDeployment, Node
from gpusteward.core.diagnosis import Cause
from redflags.window import DeploymentWindow

PLANNER = "diagnostics"
HEADROOM = 1.25  # a remedy sizes for the recent load plus a quarter (bursts within a tick)


def fits(d: ModelDeployment, node: Node) -> bool:
    """Whether a node may take this deployment's replicas at all (type, pool)."""
    if d.gpu_types and node.gpu_type not in d.gpu_types:
        return False
    return not d.pools or node.pool in d.pools


def attribute(
    snapshot: ClusterSnapshot, d: ModelDeployment, window: DeploymentWindow
) -> tuple[Cause, str]:
    s = window.now
    if s.pending:
        free = [n.free_gpus() for n in snapshot.nodes if fits(d, n)]
        need = d.gpus_per_replica
        if sum(free) >= need and max(free, default=0) < need:
            return Cause.FRAGMENTATION, (
                f"{s.pending} replica(s) pending: {sum(free)} GPUs are free but no node has "
                f"the {need} one replica needs together"
            )
        return Cause.TOO_FEW_REPLICAS, (
            f"{s.pending} replica(s) pending: no free GPUs of the kinds it may use"
        )
    if s.remote_loading:
        return Cause.DATA_FAR_FROM_COMPUTE, (
            f"{s.remote_loading} replica(s) loading outside the artifacts' region "
            f"({d.labels.get('gpusteward.io/artifact-region')}): the weights cross regions"
        )
    if s.loading:
        return Cause.SCALE_UP_LATE, (
            f"{s.loading} replica(s) still loading (cold start {d.cold_start_seconds:.0f} s) "
            "while the load is already here: capacity was asked for too late"
        )
    if s.ready and s.queue and s.util < 0.5:
        return Cause.BATCH_OR_GPU_MISFIT, (
            f"GPUs {s.util:.0%} busy while {s.queue} requests wait: each replica serves far "
            "fewer requests than its GPUs could (batch size / max concurrency too small, "
            "or the wrong GPU type for the load)"
        )
    if d.replicas >= d.max_replicas:
        return Cause.TOO_FEW_REPLICAS, (
            f"at max_replicas ({d.max_replicas}): the bound, not the planner, holds it back"
        )
    return Cause.TOO_FEW_REPLICAS, f"{s.ready} ready replica(s) serve {s.capacity:.1f} req/s"


def needed_replicas(d: ModelDeployment, window: DeploymentWindow, load_rps: float) -> int | None:
    """Replicas that serve `load_rps` with headroom, within the deployment's bounds (None:
    no replica's capacity was measured yet)."""
    per = window.per_replica_rps
    if per <= 0:
        return None
    want = math.ceil(load_rps * HEADROOM / per)
    return max(d.min_replicas, min(d.max_replicas, want))


def scale_remedy(
    d: ModelDeployment,
    window: DeploymentWindow,
    load_rps: float,
    at: datetime,
    why: str,
    *,
    up: bool = True,
) -> Proposal | None:
    """Scale to what `load_rps` needs, when that is more replicas than the spec (`up`),
    or fewer (not `up`: a cost remedy)."""
    want = needed_replicas(d, window, load_rps)
    if want is None or (want <= d.replicas if up else want >= d.replicas):
        return None
    return Proposal(
        action=ScaleDeployment(
            deployment=d.key, replicas=want, from_replicas=d.replicas, issued_at=at
        ),
        reason=f"{why}: {load_rps:.2f} req/s needs {want} replica(s) at "
        f"{window.per_replica_rps:.2f} req/s each with {HEADROOM - 1:.0%} headroom",
        evidence=(
            ProposalEvidence(name="load", value=round(load_rps, 3), unit="req/s"),
            ProposalEvidence(name="per_replica", value=round(window.per_replica_rps, 3)),
        ),
        planner=PLANNER,
    )


def prewarm_remedy(d: ModelDeployment, count: int, at: datetime, why: str) -> Proposal:
    return Proposal(
        action=PrewarmReplicas(deployment=d.key, count=count, issued_at=at),
        reason=why,
        planner=PLANNER,
    )
