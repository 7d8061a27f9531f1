"""Binding a runbook to a situation: resolving `{param}` templates and simple `a + b`
expressions, and checking a precondition or verification against a snapshot. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping

from gpusteward.core.cluster import ClusterSnapshot, Health, Pool, ReplicaPhase
from gpusteward.core.errors import InputError
from runbooks.model import (
    ArrivalRate,
    Check,
    DeploymentExists,
    NodeCordoned,
    NodeUnhealthy,
    PoolUtilisation,
    Replicas,
    Retired,
    Runbook,
    Template,
)

_TEMPLATE = re.compile(r"\{([^{}]*)\}")
_EXPR = re.compile(r"^\s*([a-z_][a-z0-9_]*|\d+)\s*(?:([+-])\s*([a-z_][a-z0-9_]*|\d+)\s*)?$")


def resolve(value: object, values: Mapping[str, object]) -> object:
    """Fill `{name}` / `{a + b}` templates; a whole-string template keeps its value's type."""
    if isinstance(value, dict):
        return {k: resolve(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, values) for v in value]
    if not isinstance(value, str):
        return value
    whole = _TEMPLATE.fullmatch(value)
    if whole:
        return _evaluate(whole.group(1), values)
    return _TEMPLATE.sub(lambda m: str(_evaluate(m.group(1), values)), value)


def _evaluate(expr: str, values: Mapping[str, object]) -> object:
    m = _EXPR.match(expr)
    if m is None:
        raise InputError(f"template {{{expr}}}: expected NAME, or NAME + / - NAME-or-integer")

    def term(t: str) -> object:
        if t.isdigit():
            return int(t)
        if t not in values:
            raise InputError(f"template {{{expr}}}: no value named {t!r}")
        return values[t]

    left = term(m.group(1))
    if m.group(2) is None:
        return left
    right = term(m.group(3))
    if not isinstance(left, int) or not isinstance(right, int):
        raise InputError(f"template {{{expr}}}: arithmetic needs integers, got {left!r}, {right!r}")
    return left + right if m.group(2) == "+" else left - right


def check(c: Check, snapshot: ClusterSnapshot, values: Mapping[str, object]) -> tuple[bool, str]:
    """Whether check `c` holds on `snapshot`, and what it saw."""

    def v(x: Template | None) -> object:
        return None if x is None else resolve(x, values)

    def bounds(seen: float, lo: object, hi: object, what: str) -> tuple[bool, str]:
        ok = (lo is None or seen >= float(lo)) and (hi is None or seen <= float(hi))  # type: ignore[arg-type]
        want = " and ".join(
            s
            for s in (f">= {lo}" if lo is not None else "", f"<= {hi}" if hi is not None else "")
            if s
        )
        return ok, f"{what} = {seen:g} (want {want})"

    if isinstance(c, DeploymentExists | Replicas | ArrivalRate | Retired):
        key = str(v(c.deployment))
        d = snapshot.deployment(key)
        if d is None:
            return False, f"no deployment {key}"
        if isinstance(c, DeploymentExists):
            return True, f"{key} exists"
        if isinstance(c, Retired):
            return d.retired == c.retired, f"{key} retired = {d.retired}"
        if isinstance(c, ArrivalRate):
            m = snapshot.metrics.get(key)
            return bounds(
                m.arrival_rate_rps if m else 0.0, v(c.at_least), v(c.at_most), f"{key} req/s"
            )
        seen = float(d.replicas)
        pool = None if c.pool is None else Pool(str(v(c.pool)))
        if c.ready or pool is not None:
            pools = {n.name: n.pool for n in snapshot.nodes}
            seen = float(
                sum(
                    1
                    for r in d.replica_states
                    if (not c.ready or r.phase == ReplicaPhase.READY)
                    and (pool is None or pools.get(r.node or "") == pool)
                )
            )
        what = f"{key} {'ready ' if c.ready else ''}replicas" + (f" on {pool}" if pool else "")
        return bounds(seen, v(c.at_least), v(c.at_most), what)
    if isinstance(c, NodeCordoned | NodeUnhealthy):
        name = str(v(c.node))
        node = snapshot.node(name)
        if node is None:
            return False, f"no node {name}"
        if isinstance(c, NodeCordoned):
            return node.cordoned == c.cordoned, f"{name} cordoned = {node.cordoned}"
        bad = sum(1 for g in node.gpus if g.health != Health.HEALTHY)
        return bounds(float(bad), v(c.at_least), None, f"{name} unhealthy GPUs")
    assert isinstance(c, PoolUtilisation)
    pool = Pool(str(v(c.pool)))
    gpus = [g for n in snapshot.nodes if n.pool == pool for g in n.gpus]
    held = sum(1 for g in gpus if g.allocated_to is not None)
    share = held / len(gpus) if gpus else 0.0
    return bounds(share, None, c.at_most, f"{pool} GPUs held share")


def bind(
    runbook: Runbook, params: Mapping[str, str], snapshot: ClusterSnapshot
) -> dict[str, object]:
    """Parameters (typed, defaults filled) plus captured values, from `snapshot`."""
    values: dict[str, object] = {}
    unknown = set(params) - set(runbook.parameters)
    if unknown:
        raise InputError(
            f"runbook {runbook.name}: unknown parameter(s) {', '.join(sorted(unknown))}. "
            f"Fix: use {', '.join(sorted(runbook.parameters)) or 'none'}."
        )
    for name, p in runbook.parameters.items():
        raw = params.get(name, p.default)
        if raw is None:
            raise InputError(
                f"runbook {runbook.name}: parameter {name} ({p.type}) is required: "
                f"{p.description}. Fix: pass --param {name}=VALUE."
            )
        if p.type == "number":
            try:
                values[name] = float(raw)
            except (TypeError, ValueError):
                raise InputError(
                    f"runbook {runbook.name}: {name} = {raw!r}; expected a number"
                ) from None
        elif p.type == "int":
            try:
                number = int(raw)
            except (TypeError, ValueError):
                raise InputError(
                    f"runbook {runbook.name}: {name} = {raw!r}; expected an integer"
                ) from None
            if p.minimum is not None and number < p.minimum:
                raise InputError(
                    f"runbook {runbook.name}: {name} = {number}; expected >= {p.minimum}"
                )
            values[name] = number
        else:
            values[name] = str(raw)
        if p.type == "deployment" and snapshot.deployment(str(values[name])) is None:
            raise InputError(
                f"runbook {runbook.name}: {name} = {values[name]!r}: no such deployment. Fix: one "
                f"of {', '.join(d.key for d in snapshot.deployments)}."
            )
        if p.type == "node" and snapshot.node(str(values[name])) is None:
            raise InputError(f"runbook {runbook.name}: {name} = {values[name]!r}: no such node")
    for name, c in runbook.capture.items():
        key = str(resolve(c.replicas_of or c.ready_replicas_of, values))
        d = snapshot.deployment(key)
        if d is None:
            raise InputError(f"runbook {runbook.name}: capture {name}: no deployment {key}")
        values[name] = d.replicas if c.replicas_of is not None else d.count(ReplicaPhase.READY)
    return values


# -- records --------------------------------------------------------------------------
