"""Which pods a scale-down removes: the `controller.kubernetes.io/pod-deletion-cost`
annotation (stable since Kubernetes 1.24), set before the Deployment's replicas drop.

The ReplicaSet controller removes unscheduled, pending and not-ready pods first on its
own; among ready ones it removes the lowest deletion cost first. gpusteward marks the
ready pods it wants gone with `REMOVE_FIRST`: pods on a cordoned node first (a
consolidation empties it), then the newest (the controller's own tie-break, made
explicit). A mark left from an earlier scale-down on a pod that stays is cleared. Pure:
the adapter reads the pods and nodes, this decides, the adapter writes.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from gpusteward.adapters.kube_objects import KubePod

DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
REMOVE_FIRST = "-1000"


def _live(pod: KubePod) -> bool:
    return not pod.metadata.deletion_timestamp and pod.status.phase not in ("Succeeded", "Failed")


def removal_marks(
    pods: Sequence[KubePod], target: int, cordoned: Collection[str]
) -> dict[str, str | None]:
    """Pod name -> the deletion-cost value to write (None: remove the annotation), for the
    pods whose annotation must change for a scale-down to `target` replicas."""
    live = [p for p in pods if _live(p)]
    going = max(0, len(live) - target)
    unready = [p for p in live if not (p.status.phase == "Running" and p.status.ready)]
    ready = [p for p in live if p not in unready]
    # newest first (RFC 3339 times from one API server sort as text), then cordoned first
    ranked = sorted(
        ready, key=lambda p: (p.metadata.creation_timestamp or "", p.metadata.name), reverse=True
    )
    ranked.sort(key=lambda p: (p.spec.node_name or "") not in cordoned)
    victims = {p.metadata.name for p in ranked[: max(0, going - len(unready))]}
    out: dict[str, str | None] = {}
    for p in ready:
        have = p.metadata.annotations.get(DELETION_COST)
        if p.metadata.name in victims and have != REMOVE_FIRST:
            out[p.metadata.name] = REMOVE_FIRST
        elif p.metadata.name not in victims and have == REMOVE_FIRST:
            out[p.metadata.name] = None
    return out
