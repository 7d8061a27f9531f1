"""The policy engine: loads a policy set and judges proposals, failing closed.

Per proposal: project the action onto the cluster (`policies.context`), run every
matching rule, then combine: any enforced `deny` -> Deny; else any `needs_approval` ->
NeedsApproval (the strictest rule names the approver group and expiry); else any
`allow` -> Allow; else the policy's `defaults.unmatched`. A rule that raises, an unknown
action kind or an unknown target denies. `warn` / `audit` rules are recorded in the
verdict's `shadow` and never change it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from gpusteward.core.actions import (
    ACTION_KINDS,
    CordonNode,
    MoveReplica,
    Proposal,
    RoutingAction,
    SourcedAction,
)
from gpusteward.core.cluster import ClusterSnapshot
from gpusteward.core.documents import LineMap, load_document
from gpusteward.core.errors import InputError
from gpusteward.core.ports import GuardInputs
from gpusteward.core.verdicts import (
    Allow,
    Deny,
    ExecutedAction,
    NeedsApproval,
    RuleHit,
    Severity,
    Verdict,
)
from policies.cel import CelError, CelExpression
from policies.cel_fields import unknown_fields
from policies.context import (
    ACTIVATION_VARIABLES,
    ActionContext,
    build_context,
    referenced_variables,
)
from policies.document import CelRule, Match, PolicyDocument, RuleSpec
from policies.facts import BatchState, ClusterFacts
from policies.fired import Check, Fired
from policies.recent import RecentIndex
from policies.rules import CHECKS, COMMON_VALUES, VALUES

_SEVERITY_ORDER = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2}


@dataclass(frozen=True)
class CompiledRule:
    spec: RuleSpec
    check: Check | None
    cel: CelExpression | None
    variables: tuple[str, ...] = ()  # what the policy's CEL rules read, built once per proposal

    def run(self, ctx: ActionContext) -> Fired | None:
        if self.cel is not None:
            assert isinstance(self.spec, CelRule)
            if not self.cel.evaluate_bool(ctx.prepared(self.variables)):
                return None
            return Fired(
                {"expression": self.spec.expression}, f"condition holds: {self.spec.expression}"
            )
        assert self.check is not None
        return self.check(self.spec, ctx)


@dataclass(frozen=True)
class PolicySet:
    document: PolicyDocument
    version: str
    rules: tuple[CompiledRule, ...]
    source: str


@dataclass(frozen=True)
class RuleResult:
    """One rule's outcome on one proposal, for `explain`."""

    rule: str
    kind: str
    mode: str
    effect: str
    matched: bool
    fired: bool
    message: str = ""
    error: str | None = None


def load_policy(text: str, source: str) -> PolicySet:
    """Parse, validate and compile a policy file's text; errors name file, line and fix."""
    document, lines = load_document(text, source, PolicyDocument)
    _check_unique_ids(document, lines, source)
    compiled = []
    for i, rule in enumerate(document.rules):
        unknown = rule.placeholders() - VALUES[rule.kind] - COMMON_VALUES
        if unknown:
            raise InputError(
                f"{source}:{lines.line(('rules', i, 'message'))}: rules[{i}].message uses "
                f"{', '.join('{' + u + '}' for u in sorted(unknown))}, which rule kind "
                f"'{rule.kind}' does not report. Fix: use one of "
                f"{', '.join('{' + v + '}' for v in sorted(VALUES[rule.kind] | COMMON_VALUES))}."
            )
        cel = None
        if isinstance(rule, CelRule):
            where = f"{source}:{lines.line(('rules', i, 'expression'))}: rules[{i}].expression"
            cel = _compile_cel(rule.expression, where)
        compiled.append(CompiledRule(rule, CHECKS.get(rule.kind), cel))
    used = referenced_variables(r.expression for r in document.rules if isinstance(r, CelRule))
    compiled = [replace(c, variables=used) if c.cel is not None else c for c in compiled]
    digest = hashlib.sha256(document.model_dump_json().encode()).hexdigest()[:12]
    return PolicySet(document, f"{document.name}@{digest}", tuple(compiled), source)


def _check_unique_ids(document: PolicyDocument, lines: LineMap, source: str) -> None:
    first: dict[str, int] = {}
    for i, rule in enumerate(document.rules):
        if rule.id in first:
            j = first[rule.id]
            raise InputError(
                f"{source}:{lines.line(('rules', i, 'id'))}: rules[{i}].id = {rule.id!r}: this "
                f"rule id appears twice (first at line {lines.line(('rules', j, 'id'))}, "
                f"rules[{j}]). Fix: give each rule its own id."
            )
        first[rule.id] = i


def _compile_cel(expression: str, where: str) -> CelExpression:
    """Compile a rule's condition, and refuse a field the context does not build (it
    would fail, and deny, at every evaluation)."""
    try:
        cel = CelExpression.compile(expression, ACTIVATION_VARIABLES)
    except CelError as e:
        raise InputError(f"{where} = {expression!r}: {e}") from None
    problems = unknown_fields(expression)
    if problems:
        raise InputError(
            f"{where} = {expression!r}:\n"
            + "".join(f"  {p.describe()}\n" for p in problems)
            + "Fix: correct the field name; a field that may be absent (load.*, "
            "forecast.*) is guarded with has(section.field)."
        )
    return cel


class RulePolicyEngine:
    """The `PolicyEngine` port over a loaded `PolicySet`."""

    def __init__(self, policy: PolicySet) -> None:
        self.policy = policy
        self.version = policy.version

    def evaluate(
        self,
        proposals: Sequence[Proposal],
        snapshot: ClusterSnapshot,
        inputs: GuardInputs | None = None,
    ) -> list[Verdict]:
        return list(self.iter_verdicts(proposals, snapshot, inputs))

    def iter_verdicts(
        self,
        proposals: Sequence[Proposal],
        snapshot: ClusterSnapshot,
        inputs: GuardInputs | None = None,
    ) -> Iterator[Verdict]:
        """`evaluate`, one verdict at a time (lets a benchmark time each verdict)."""
        for verdict, _ in self._judge_all(proposals, snapshot, inputs, explain=False):
            yield verdict

    def explain(
        self, proposal: Proposal, snapshot: ClusterSnapshot, inputs: GuardInputs | None = None
    ) -> tuple[Verdict, list[RuleResult]]:
        ((verdict, results),) = list(self._judge_all([proposal], snapshot, inputs, explain=True))
        return verdict, results

    def _judge_all(
        self,
        proposals: Sequence[Proposal],
        snapshot: ClusterSnapshot,
        inputs: GuardInputs | None,
        *,
        explain: bool,
    ) -> Iterator[tuple[Verdict, list[RuleResult]]]:
        facts = ClusterFacts.from_snapshot(snapshot)
        known_nodes = {n.name for n in snapshot.nodes}
        given = inputs or GuardInputs()
        batch = BatchState(recent=RecentIndex(given.recent))
        for proposal in proposals:
            verdict: Verdict
            try:
                ctx = build_context(proposal.action, facts, given, batch, snapshot.metrics)
                verdict, results = self._judge(proposal, ctx, known_nodes, explain)
                if isinstance(verdict, Allow):
                    _commit(batch, ctx)
            except Exception as e:  # fail closed, whatever went wrong
                hit = RuleHit(
                    rule="evaluation-error", reason=f"cannot evaluate: {e!r}", effect="deny"
                )
                verdict = Deny(
                    action_id=proposal.action.id, policy_version=self.version, rules=(hit,)
                )
                results = []
            yield verdict, results

    def _judge(
        self, proposal: Proposal, ctx: ActionContext, nodes: set[str], explain: bool
    ) -> tuple[Verdict, list[RuleResult]]:
        action = proposal.action
        problem = _unknown(ctx, nodes)
        if problem is not None:
            hit = RuleHit(rule=problem[0], reason=problem[1], effect="deny")
            return Deny(action_id=action.id, policy_version=self.version, rules=(hit,)), []
        enforced: dict[str, list[tuple[RuleSpec, RuleHit]]] = {
            "deny": [],
            "needs_approval": [],
            "allow": [],
        }
        shadow: list[RuleHit] = []
        results: list[RuleResult] = []
        for rule in self.policy.rules:
            spec = rule.spec
            matched = _matches(spec.match, ctx)
            if not matched:
                if explain:
                    results.append(
                        RuleResult(spec.id, spec.kind, spec.mode, spec.effect, False, False)
                    )
                continue
            try:
                fired = rule.run(ctx)
            except Exception as e:
                reason = f"rule failed ({type(e).__name__}: {e}); denying, fail closed"
                hit = RuleHit(rule=spec.id, reason=reason, effect="deny", mode=spec.mode)
                if spec.mode == "enforce":
                    enforced["deny"].append((spec, hit))
                else:
                    shadow.append(hit)
                if explain:
                    results.append(
                        RuleResult(
                            spec.id, spec.kind, spec.mode, "deny", True, True, reason, error=str(e)
                        )
                    )
                continue
            if fired is None:
                if explain:
                    results.append(
                        RuleResult(spec.id, spec.kind, spec.mode, spec.effect, True, False)
                    )
                continue
            hit = RuleHit(
                rule=spec.id,
                reason=_render(spec, fired, ctx),
                values=fired.values,
                effect=spec.effect,
                mode=spec.mode,
            )
            if spec.mode == "enforce":
                enforced[spec.effect].append((spec, hit))
            else:
                shadow.append(hit)
            if explain:
                results.append(
                    RuleResult(spec.id, spec.kind, spec.mode, spec.effect, True, True, hit.reason)
                )
        return self._combine(action.id, action.kind, enforced, tuple(shadow)), results

    def _combine(
        self,
        action_id: str,
        kind: str,
        enforced: dict[str, list[tuple[RuleSpec, RuleHit]]],
        shadow: tuple[RuleHit, ...],
    ) -> Verdict:
        common = {"action_id": action_id, "policy_version": self.version, "shadow": shadow}
        defaults = self.policy.document.defaults
        if enforced["deny"]:
            return Deny(rules=tuple(h for _, h in enforced["deny"]), **common)
        if enforced["needs_approval"]:
            pairs = enforced["needs_approval"]
            strictest = max(pairs, key=lambda p: _SEVERITY_ORDER[p[0].severity])[0]
            expiries = [s.expires_seconds for s, _ in pairs if s.expires_seconds is not None]
            return NeedsApproval(
                rules=tuple(h for _, h in pairs),
                approver_group=strictest.approver_group or defaults.approver_group,
                expires_in_seconds=min(expiries) if expiries else defaults.expires_seconds,
                severity=strictest.severity,
                **common,
            )
        if enforced["allow"]:
            return Allow(rules=tuple(h for _, h in enforced["allow"]), **common)
        hit = RuleHit(
            rule="default",
            reason=f"no rule allows a {kind} action; the policy's default is {defaults.unmatched}",
            effect=defaults.unmatched,
        )
        if defaults.unmatched == "allow":
            return Allow(rules=(hit,), **common)
        if defaults.unmatched == "deny":
            return Deny(rules=(hit,), **common)
        return NeedsApproval(
            rules=(hit,),
            approver_group=defaults.approver_group,
            expires_in_seconds=defaults.expires_seconds,
            severity=defaults.severity,
            **common,
        )


def _unknown(ctx: ActionContext, nodes: set[str]) -> tuple[str, str] | None:
    action = ctx.action
    if action.kind not in ACTION_KINDS:
        return "unknown-action", f"no rule knows action kind {action.kind!r}"
    if isinstance(action, CordonNode):
        if action.node not in nodes:
            return "unknown-target", f"no node {action.node!r} in the snapshot"
        return None
    if isinstance(action, MoveReplica) and action.to_node not in nodes:
        return "unknown-target", f"no node {action.to_node!r} in the snapshot"
    targets = [action.target]
    if isinstance(action, SourcedAction):
        targets += list(action.sources)
    missing = [t for t in targets if t not in ctx.facts.deployments]
    if missing:
        return "unknown-target", f"no deployment {', '.join(missing)} in the snapshot"
    if isinstance(action, MoveReplica):
        d = ctx.facts.deployments[action.deployment]
        if all(r.id != action.replica for r in d.replica_states):
            return "unknown-target", f"no replica {action.replica!r} of {d.key} in the snapshot"
    return None


def _matches(match: Match, ctx: ActionContext) -> bool:
    if match.actions and ctx.action.kind not in match.actions:
        return False
    d = ctx.deployment
    if match.namespaces and not set(ctx.tenants) & set(match.namespaces):
        return False
    if match.deployments and ctx.action.target not in match.deployments:
        return False
    if match.models and (d is None or d.model not in match.models):
        return False
    if match.workloads and (d is None or d.workload not in match.workloads):
        return False
    return not match.labels or (
        d is not None and all(d.labels.get(k) == v for k, v in match.labels.items())
    )


class _Values(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _render(spec: RuleSpec, fired: Fired, ctx: ActionContext) -> str:
    if spec.message is None:
        return fired.message
    values = _Values(fired.values)
    values.update(target=ctx.action.target, kind=ctx.action.kind, rule=spec.id)
    return spec.message.format_map(values)


def _commit(batch: BatchState, ctx: ActionContext) -> None:
    """An allowed proposal counts against the budgets and limits of the later ones."""
    action = ctx.action
    if ctx.deployment is not None:
        batch.replicas[ctx.deployment.key] = ctx.replicas_after
    if isinstance(action, RoutingAction):
        for source in action.sources:
            batch.replicas[source] = 0
    batch.gpus_delta += ctx.gpus_delta
    batch.cost_delta += ctx.cost_delta
    if ctx.namespace is not None:
        batch.namespace_gpus_delta[ctx.namespace] += ctx.gpus_delta
        batch.namespace_cost_delta[ctx.namespace] += ctx.cost_delta
    batch.touched_gpus += ctx.touched_gpus
    batch.recent.add(ExecutedAction(action=action, at=ctx.now))
