"""Typed views of the Kubernetes objects the adapter reads, parsed from the API's JSON.

Only the fields gpusteward uses; the rest of each object is ignored (the API server owns
its schema). No I/O and no SDK here: the `kubernetes` module fills these from responses.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class _View(BaseModel):
    model_config = ConfigDict(
        extra="ignore", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class ObjectMeta(_View):
    name: str = ""  # empty only in pod templates
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    resource_version: str | None = None
    creation_timestamp: str | None = None  # RFC 3339
    deletion_timestamp: str | None = None  # RFC 3339: terminating, killed by then at the latest


class Taint(_View):
    key: str
    value: str | None = None
    effect: str


class NodeSpec(_View):
    unschedulable: bool = False
    taints: tuple[Taint, ...] = ()


class NodeCondition(_View):
    type: str
    status: str


class NodeStatus(_View):
    allocatable: dict[str, str] = Field(default_factory=dict)
    capacity: dict[str, str] = Field(default_factory=dict)
    conditions: tuple[NodeCondition, ...] = ()


class KubeNode(_View):
    metadata: ObjectMeta
    spec: NodeSpec = NodeSpec()
    status: NodeStatus = NodeStatus()


class Resources(_View):
    limits: dict[str, str] = Field(default_factory=dict)
    requests: dict[str, str] = Field(default_factory=dict)


class Container(_View):
    name: str
    resources: Resources = Resources()


class PodSpec(_View):
    node_name: str | None = None
    node_selector: dict[str, str] = Field(default_factory=dict)
    containers: tuple[Container, ...] = ()

    def gpus(self) -> int:
        total = 0
        for c in self.containers:
            raw = c.resources.limits.get("nvidia.com/gpu") or c.resources.requests.get(
                "nvidia.com/gpu", "0"
            )
            total += int(raw)
        return total


class PodTemplate(_View):
    metadata: ObjectMeta | None = None
    spec: PodSpec = PodSpec()


class LabelSelector(_View):
    match_labels: dict[str, str] = Field(default_factory=dict)


class DeploymentSpec(_View):
    replicas: int = 1
    selector: LabelSelector = LabelSelector()
    template: PodTemplate = PodTemplate()


class KubeDeployment(_View):
    metadata: ObjectMeta
    spec: DeploymentSpec = DeploymentSpec()

    @property
    def key(self) -> str:
        return f"{self.metadata.namespace}/{self.metadata.name}"


class ContainerStatus(_View):
    ready: bool = False


class PodCondition(_View):
    type: str
    status: str


class PodStatus(_View):
    phase: str = "Pending"
    start_time: str | None = None  # RFC 3339: when the kubelet took the pod on
    conditions: tuple[PodCondition, ...] = ()
    container_statuses: tuple[ContainerStatus, ...] = ()

    @property
    def ready(self) -> bool:
        return any(c.type == "Ready" and c.status == "True" for c in self.conditions)


class KubePod(_View):
    metadata: ObjectMeta
    spec: PodSpec = PodSpec()
    status: PodStatus = PodStatus()


class ScaleSpec(_View):
    replicas: int = 0


class KubeScale(_View):
    metadata: ObjectMeta
    spec: ScaleSpec = ScaleSpec()


class LeaseSpec(_View):
    holder_identity: str | None = None
    lease_duration_seconds: int | None = None
    acquire_time: str | None = None
    renew_time: str | None = None
    lease_transitions: int | None = None


class KubeLease(_View):
    metadata: ObjectMeta
    spec: LeaseSpec = LeaseSpec()
