"""The simulator: advances a trace-driven GPU cluster in whole fixed steps, deterministically.

One step [t, t + dt): repair and draw faults, promote replicas whose cold start is over,
reconcile and place replicas, then per deployment: charge GPU time for Loading and Ready
replicas, draw arrivals from the trace, and serve the queue with the capacity of the
ready part of each replica (draining replicas are charged until they are removed, and
serve nothing new). Every random draw comes from a generator derived from the
spec's seed (one per model for arrivals, one per fault kind), so the same seed gives the
same run, and a checkpoint restores it exactly.
"""

from __future__ import annotations

import hashlib
import pickle
from datetime import datetime, timedelta

import numpy as np

from gpusteward.core.actions import Action
from gpusteward.core.cluster import ClusterSnapshot, ReplicaPhase
from gpusteward.core.errors import ScenarioError
from gpusteward.core.verdicts import ActionResult
from gpusteward.sim import actions
from gpusteward.sim.faults import FaultInjector
from gpusteward.sim.fleet import DeploymentState, Fleet, ReplicaState
from gpusteward.sim.queueing import ModelQueue, served_within
from gpusteward.sim.safe_unpickle import read_sim_checkpoint
from gpusteward.sim.snapshots import SnapshotBuilder
from gpusteward.sim.spec import SimSpec, added_at_default
from gpusteward.sim.state import IntervalTally, SimState, Tally
from gpusteward.sim.tokens import LoggedStep, RequestLog, TokenSampler, TokenTally, tally_step
from gpusteward.sim.traces import ArrivalTrace
from gpusteward.sim.wakes import WakeLog

_CHECKPOINT_FORMAT = "gpusteward-sim/2"  # 2: drains, in-flight requests, held wakes


def _digest(spec: SimSpec) -> str:
    # fields added since checkpoints were first written, at their defaults, are left out:
    # such a spec digests as before they existed (old checkpoints resume)
    text = spec.model_dump_json(exclude=added_at_default(spec))
    return hashlib.sha256(text.encode()).hexdigest()


def _initial_state(spec: SimSpec) -> SimState:
    seeds = np.random.SeedSequence(spec.seed).spawn(2 + len(spec.models))
    keys = [m.key for m in spec.models]
    return SimState(
        spec_digest=_digest(spec),
        fleet=Fleet(spec.cluster.node_groups, spec.models),
        queues={k: ModelQueue() for k in keys},
        traces={m.key: ArrivalTrace(m.trace) for m in spec.models},
        arrival_rngs={k: np.random.default_rng(s) for k, s in zip(keys, seeds[2:], strict=True)},
        faults=FaultInjector(
            spec.faults, np.random.default_rng(seeds[0]), np.random.default_rng(seeds[1])
        ),
        tallies={k: Tally() for k in keys},
        intervals={k: IntervalTally() for k in keys},
        wakes={k: WakeLog() for k in keys},
        token_rngs={
            k: np.random.default_rng(s)
            for k, s in zip(
                keys, np.random.SeedSequence([spec.seed, 26]).spawn(len(keys)), strict=True
            )
        },
    )


def _samplers(spec: SimSpec, state: SimState) -> dict[str, TokenSampler]:
    """The token samplers of the models with token lengths (derived from the spec alone,
    so not part of a checkpoint), each with its tally."""
    out = {}
    for m in spec.models:
        if m.tokens is not None:
            out[m.key] = TokenSampler(m.tokens, m.trace.offset_seconds)
            if state.tallies[m.key].tokens is None:
                state.tallies[m.key].tokens = TokenTally()
    return out


class Simulator:
    """A simulated GPU cluster on its own clock, starting at `spec.start`."""

    def __init__(
        self,
        spec: SimSpec,
        *,
        request_log: RequestLog | None = None,
        _state: SimState | None = None,
    ) -> None:
        self.spec = spec
        self._dt = spec.step_seconds
        self._state = _state if _state is not None else _initial_state(spec)
        self._samplers = _samplers(spec, self._state)
        self.request_log = request_log  # every served request, when attached (not checkpointed)
        self._snapshots = SnapshotBuilder()
        self._models = {m.key: m for m in spec.models}

    # -- time -------------------------------------------------------------------------

    @property
    def elapsed_seconds(self) -> float:
        return self._state.step * self._dt

    @property
    def now(self) -> datetime:
        return self.spec.start + timedelta(seconds=self.elapsed_seconds)

    def advance_to(self, when: datetime) -> int:
        """Run whole steps while now + step <= when; returns how many ran."""
        ahead = (when - self.now).total_seconds()
        steps = int(ahead / self._dt + 1e-9) if ahead > 0 else 0
        for _ in range(steps):
            self.step()
        return steps

    def step(self) -> None:
        """Simulate one step of `spec.step_seconds`."""
        state, dt = self._state, self._dt
        t = state.step * dt
        fleet = state.fleet
        state.faults.step(fleet, t, dt)
        fleet.promote(t)
        fleet.reconcile(t)
        arrivals = self._arrivals(t)
        for key, dep in fleet.deployments.items():
            self._serve(key, dep, t, arrivals.get(key, 0))
        state.step += 1
        fleet.finish_drains(t + dt)
        for key, dep in fleet.deployments.items():
            self._killed(key, dep)
        fleet.promote(t + dt)

    def _arrivals(self, t: float) -> dict[str, int]:
        """Arrivals per receiving deployment (consolidated sources feed their target). A
        merged adapter's requests are also counted as addressed to it: the router picks
        the runtime by the request's model name, so it knows each adapter's rate, and the
        adapter's metrics show it (its SLO accounting stays with the runtime)."""
        state = self._state
        deployments = state.fleet.deployments
        out: dict[str, int] = {}
        for key, trace in state.traces.items():
            n = trace.arrivals(t, self._dt, state.arrival_rngs[key])
            target = state.routes.get(key, key)
            out[target] = out.get(target, 0) + n
            if target != key and key in deployments[target].adapters:
                state.intervals[key].addressed += n
        return out

    def _serve(self, key: str, dep: DeploymentState, t: float, arrived: int) -> None:
        state, dt, spec = self._state, self._dt, dep.spec
        fleet = state.fleet
        tally, iv, queue = state.tallies[key], state.intervals[key], state.queues[key]
        gpu_seconds = cost = capacity = ready_gpu_seconds = 0.0
        sampler = self._samplers.get(key)
        gpu_capacity: dict[str, float] = {}
        throughput = spec.profile.throughput_rps
        factor = (1.0 - spec.adapter_overhead if dep.adapters else 1.0) * spec.batch_efficiency
        end = t + dt
        shares: list[tuple[ReplicaState, float]] = []
        for rep in dep.replicas:
            if rep.node is None:
                continue
            node = fleet.nodes[rep.node]
            gpu_seconds += spec.gpus_per_replica * dt
            cost += spec.gpus_per_replica * dt * node.group.price_per_gpu_hour
            ready_for = end - max(t, rep.ready_at)
            if ready_for > 0:
                share = min(ready_for, dt) * throughput[node.group.gpu_type] * factor
                capacity += share
                shares.append((rep, share))
                ready_gpu_seconds += spec.gpus_per_replica * min(ready_for, dt)
                if sampler is not None:
                    gpu = node.group.gpu_type
                    gpu_capacity[gpu] = gpu_capacity.get(gpu, 0.0) + share
        for rep in dep.draining:  # holds its GPUs until its drain ends
            if rep.node is None:
                continue
            held = min(dt, max(0.0, rep.drain_end - t))
            price = fleet.nodes[rep.node].group.price_per_gpu_hour
            gpu_seconds += spec.gpus_per_replica * held
            cost += spec.gpus_per_replica * held * price
        tally.gpu_hours += gpu_seconds / 3600.0
        tally.cost_usd += cost / 3600.0
        tally.arrived += arrived
        iv.steps += 1
        iv.arrived += arrived
        log = self.request_log
        if dep.retired:
            if log is not None:
                log.add(key, LoggedStep(t, gpu_seconds, 0.0, cost / 3600.0, 0, 0.0), None)
            dropped = queue.drop_all() + arrived
            tally.dropped += dropped
            iv.dropped += dropped
            iv.running = 0
            return
        model, wakes = self._models[key], state.wakes[key]
        if dep.parked or wakes.open is not None:
            wakes.arrived(t, dt, arrived)
        # a request for a model at zero (or waking from it) is held while a replica starts
        timeout = model.wake_timeout_seconds if dep.parked else model.queue_timeout_seconds
        out = queue.step(t, dt, arrived, capacity, timeout)
        if capacity > 0:
            dep.parked = False
            if out.served and wakes.open is not None:
                wakes.served(min(rep.ready_at for rep, _ in shares))
        within = served_within(out.pieces, spec.slo.queue_delay_seconds) if out.served else 0
        tally.served += out.served
        tally.dropped += out.dropped
        tally.served_within_slo += within
        tally.delays.add(out.pieces)
        iv.served += out.served
        iv.dropped += out.dropped
        iv.within_slo += within
        iv.capacity += capacity
        iv.running = min(queue.depth, out.capacity)
        tokens = None
        if sampler is not None and out.served:
            utilisation = min(1.0, out.served / capacity)
            tokens = sampler.draw(
                state.token_rngs[key], t, out.pieces, out.served, gpu_capacity, utilisation
            )
            token_tally = tally.tokens
            assert token_tally is not None
            tally_step(token_tally, tokens, ready_gpu_seconds * utilisation)
            iv.ttft.append(tokens.ttft)
            iv.tpot.extend(tokens.tpot_levels)
        if log is not None:
            row = LoggedStep(t, gpu_seconds, ready_gpu_seconds, cost / 3600.0, out.served, capacity)
            log.add(key, row, tokens)
        if spec.request_seconds > 0 and capacity > 0:  # Little's law, per replica
            per_second = out.served / dt * spec.request_seconds / capacity
            for rep, share in shares:
                rep.in_flight = per_second * share
        for piece in out.pieces:
            if piece[2] <= 0.0:
                iv.zero_delay += piece[0]
            else:
                iv.pieces.append(piece)

    def _killed(self, key: str, dep: DeploymentState) -> None:
        """Tally the whole in-flight requests that removals and faults killed: they were
        counted served when they started, and are dropped now."""
        tally, iv = self._state.tallies[key], self._state.intervals[key]
        removal, failure = int(dep.killed), int(dep.lost)
        if not removal and not failure:
            return
        dep.killed -= removal
        dep.lost -= failure
        n = min(removal + failure, tally.served)
        within = round(tally.served_within_slo * n / tally.served) if tally.served else 0
        tally.served -= n
        tally.served_within_slo -= within
        tally.dropped += n
        tally.dropped_on_removal += min(removal, n)
        tally.dropped_on_failure += n - min(removal, n)
        iv.dropped += n

    # -- observe and act --------------------------------------------------------------

    def snapshot(self) -> ClusterSnapshot:
        """The cluster now, with metrics over the steps since the previous snapshot."""
        return self._snapshots.build(self._state, self.now, self.elapsed_seconds, self._dt)

    def execute(self, action: Action, *, dry_run: bool = False) -> ActionResult:
        """Apply one action now; FAILED (not an exception) for an unknown target."""
        status, message = actions.apply(
            self._state, action, dry_run=dry_run, now=self.elapsed_seconds, at=self.now
        )
        return ActionResult(action_id=action.id, status=status, message=message, at=self.now)

    def fail_gpus(self, node: str, count: int | None, outage_seconds: float) -> int:
        """Fail the first `count` GPUs of `node` now (None: all of them, as a spot
        preemption does) for `outage_seconds`; returns how many failed. Their replicas are
        lost and re-placed elsewhere, as with a drawn fault."""
        fleet = self._state.fleet
        index = fleet.node_index.get(node)
        if index is None:
            raise ScenarioError(f"unknown node {node!r}; nodes: {', '.join(fleet.node_index)}")
        total = len(fleet.nodes[index].allocated)
        gpus = set(range(total if count is None else min(count, total)))
        self._state.faults.fail_now(fleet, index, gpus, self.elapsed_seconds, outage_seconds)
        return len(gpus)

    # -- inspection for tests and reports ---------------------------------------------

    def phase_counts(self, key: str) -> dict[ReplicaPhase, int]:
        """How many replicas of deployment `key` are in each phase."""
        dep = self._state.fleet.deployments[key]
        return {p: sum(1 for r in dep.replicas if r.phase is p) for p in ReplicaPhase}

    def tally(self, key: str) -> Tally:
        """Cumulative counters of deployment `key` (live object; do not mutate)."""
        return self._state.tallies[key]

    def queued(self, key: str) -> int:
        return self._state.queues[key].depth

    def wakes(self, key: str) -> WakeLog:
        """Wakes from zero of deployment `key` (live object; do not mutate)."""
        return self._state.wakes[key]

    # -- checkpoints ------------------------------------------------------------------

    def checkpoint(self) -> bytes:
        """The whole run state (RNG states and executed action ids included)."""
        return pickle.dumps((_CHECKPOINT_FORMAT, self._state), protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def restore(cls, spec: SimSpec, data: bytes) -> Simulator:
        """A simulator that continues exactly where `checkpoint()` left off."""
        try:
            fmt, state = read_sim_checkpoint(data)  # never runs what the bytes name
        except ScenarioError:
            raise
        except Exception as e:
            raise ScenarioError(
                f"simulator checkpoint ({len(data)} bytes) cannot be read ({e}). "
                "Fix: resume from a checkpoint written by Simulator.checkpoint(), or start fresh."
            ) from None
        if fmt != _CHECKPOINT_FORMAT or not isinstance(state, SimState):
            raise ScenarioError(
                f"simulator checkpoint has format {fmt!r}, expected {_CHECKPOINT_FORMAT!r}. "
                "Fix: start a fresh run; this checkpoint is from another version."
            )
        if state.spec_digest != _digest(spec):
            raise ScenarioError(
                "simulator checkpoint was written for a different SimSpec (cluster, models, "
                "seed or step changed). Fix: resume with the same scenario, or start fresh."
            )
        return cls(spec, _state=state)

    def detach_request_log(self) -> RequestLog | None:
        """Stop logging requests; returns the log kept so far."""
        log, self.request_log = self.request_log, None
        return log
