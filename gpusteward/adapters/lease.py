"""Leader election with a `coordination.k8s.io/v1` Lease, so that one daemon acts at a time.

The algorithm of client-go's leader election: read the Lease; create it if missing; renew
it if we hold it; take it over only when its holder has not renewed it for a whole lease
duration *as measured on our own monotonic clock* since we last saw it change (no trust
in other machines' clocks). Every write carries the resourceVersion read: two candidates
racing for an expired lease cannot both win (one gets 409).

A leader stops calling itself leader `renew_deadline` seconds after its last successful
renewal (less than the lease duration), so it has stopped acting before anyone else may
take over. `is_leader()` is local and cheap; the daemon asks it at the start of a tick and
before each action. `step()` talks to the API; `start()` runs it on a background thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import structlog

from gpusteward.adapters.kube_api import ApiConflict, KubeApi
from gpusteward.adapters.kube_objects import KubeLease, LeaseSpec, ObjectMeta
from gpusteward.core.errors import Retryable
from gpusteward.core.ports import Clock

log = structlog.get_logger("gpusteward.adapters.lease")


@dataclass(frozen=True)
class LeaseConfig:
    namespace: str
    name: str = "gpusteward-leader"
    identity: str = "gpusteward"
    lease_seconds: float = 15.0  # how long others wait after the last renewal they saw
    renew_deadline_seconds: float = 10.0  # a leader that could not renew for this long stops
    retry_period_seconds: float = 2.0  # how often `start()` renews or retries

    def __post_init__(self) -> None:
        if not 0 < self.renew_deadline_seconds < self.lease_seconds:
            raise ValueError(
                f"lease renew_deadline_seconds={self.renew_deadline_seconds} must be > 0 and "
                f"< lease_seconds={self.lease_seconds}, so a leader stops before others start"
            )


class LeaseElector:
    """Campaigns for, holds and renews one Lease for one identity."""

    def __init__(self, api: KubeApi, clock: Clock, config: LeaseConfig) -> None:
        self.api, self.clock, self.config = api, clock, config
        self._renewed_at: float | None = None  # monotonic time of our last successful write
        self._seen: tuple[str | None, str | None, str | None] | None = None
        self._seen_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def identity(self) -> str:
        return self.config.identity

    def is_leader(self) -> bool:
        """Whether this process may act now: it renewed within the renew deadline."""
        if self._renewed_at is None:
            return False
        return self.clock.monotonic() - self._renewed_at < self.config.renew_deadline_seconds

    def step(self) -> bool:
        """One attempt to acquire or renew; returns `is_leader()` afterwards."""
        cfg = self.config
        try:
            lease = self.api.get_lease(cfg.namespace, cfg.name)
            if lease is None:
                self._write(None)
            elif self._may_take(lease):
                self._write(lease)
            else:
                self._lose(f"held by {lease.spec.holder_identity}")
        except ApiConflict:
            self._lose("another candidate wrote the lease first")
        except Retryable as e:
            log.warning("lease not renewed this time", lease=cfg.name, error=str(e))
        return self.is_leader()

    def release(self) -> None:
        """Give the lease up (holder cleared), so a standby takes over without waiting."""
        if not self.is_leader():
            return
        try:
            lease = self.api.get_lease(self.config.namespace, self.config.name)
            if lease is not None and lease.spec.holder_identity == self.identity:
                spec = lease.spec.model_copy(update={"holder_identity": None})
                self.api.replace_lease(
                    self.config.namespace, lease.model_copy(update={"spec": spec})
                )
        except Retryable as e:
            log.warning("lease not released; it will expire", error=str(e))
        self._renewed_at = None

    def start(self) -> None:
        """Renew every `retry_period_seconds` on a daemon thread until `stop()`."""
        if self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.is_set():
                was = self.is_leader()
                now = self.step()
                if now != was:
                    log.info("leadership changed", identity=self.identity, leader=now)
                self._stop.wait(self.config.retry_period_seconds)

        self._thread = threading.Thread(target=loop, name="gpusteward-lease", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.release()

    # -- internals --------------------------------------------------------------------

    def _may_take(self, lease: KubeLease) -> bool:
        spec = lease.spec
        record = (spec.holder_identity, spec.renew_time, lease.metadata.resource_version)
        now = self.clock.monotonic()
        if record != self._seen:
            self._seen, self._seen_at = record, now
        if not spec.holder_identity or spec.holder_identity == self.identity:
            return True
        duration = spec.lease_duration_seconds or self.config.lease_seconds
        return now - self._seen_at >= duration

    def _write(self, lease: KubeLease | None) -> None:
        cfg = self.config
        started = self.clock.monotonic()
        stamp = self.clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        ours = lease is not None and lease.spec.holder_identity == self.identity
        transitions = lease.spec.lease_transitions or 0 if lease is not None else 0
        spec = LeaseSpec(
            holder_identity=self.identity,
            lease_duration_seconds=int(cfg.lease_seconds),
            acquire_time=lease.spec.acquire_time if ours and lease is not None else stamp,
            renew_time=stamp,
            lease_transitions=transitions if ours or lease is None else transitions + 1,
        )
        meta = ObjectMeta(
            name=cfg.name,
            namespace=cfg.namespace,
            resource_version=lease.metadata.resource_version if lease is not None else None,
        )
        body = KubeLease(metadata=meta, spec=spec)
        if lease is None:
            written = self.api.create_lease(cfg.namespace, body)
        else:
            written = self.api.replace_lease(cfg.namespace, body)
        if not self.is_leader():
            log.info("became leader", identity=self.identity, lease=cfg.name)
        self._renewed_at = started  # measured from before the write: conservative
        s = written.spec
        self._seen = (s.holder_identity, s.renew_time, written.metadata.resource_version)
        self._seen_at = started

    def _lose(self, why: str) -> None:
        if self._renewed_at is not None:
            log.warning("lost leadership", identity=self.identity, reason=why)
        self._renewed_at = None
