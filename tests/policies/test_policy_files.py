"""Policy files: the shipped pack and its suites pass; broken files name file, line and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpusteward.core.errors import InputError
from policies.document import PACKS_DIR
from policies.engine import load_policy
from policies.suites import load_suite, run_suite

SUITES = sorted((PACKS_DIR / "tests").glob("*.yaml"))


def _pack(name: str = "default") -> str:
    return (PACKS_DIR / f"{name}.yaml").read_text()


@pytest.mark.parametrize("suite_path", SUITES, ids=lambda p: p.stem)
def test_every_case_of_the_shipped_suites_passes(suite_path: Path) -> None:
    suite = load_suite(suite_path.read_text(), str(suite_path))
    policy_path = suite_path.parent / (suite.policy or "../default.yaml")
    policy = load_policy(policy_path.read_text(), str(policy_path))
    failed = [f"{r.case}: {r.detail}" for r in run_suite(suite, policy) if not r.passed]
    assert not failed, "\n".join(failed)


def test_the_default_pack_enforces_hard_limits_and_shadows_new_rules() -> None:
    policy = load_policy(_pack(), "default.yaml")
    modes = {r.spec.id: r.spec.mode for r in policy.rules}
    kinds = {r.spec.kind for r in policy.rules}
    assert modes["replica-bounds"] == modes["gpu-budget"] == "enforce"
    assert "warn" in modes.values() and "audit" in modes.values()
    assert "cel" in kinds and policy.document.defaults.unmatched == "needs_approval"


def test_the_version_is_a_content_hash() -> None:
    one = load_policy(_pack(), "a.yaml").version
    assert one == load_policy(_pack(), "b.yaml").version
    changed = _pack().replace("per_action: 16", "per_action: 15")
    assert load_policy(changed, "a.yaml").version != one


BROKEN = {
    "bad parameter": (
        "name: p\nrules:\n  - id: step\n    kind: max-step\n    per_action: 0\n",
        r"p.yaml:5: rules\[0\].per_action = 0: Input should be greater than or equal to 1",
    ),
    "misspelt parameter": (
        "name: p\nrules:\n  - id: b\n    kind: gpu-budget\n    max_gpu: 3\n",
        r"p.yaml:5: rules\[0\].max_gpu = 3: unknown field.*Allowed here:.*max_gpus",
    ),
    "unknown kind": (
        "name: p\nrules:\n  - id: b\n    kind: frobnicate\n",
        r"p.yaml:3: rules\[0\].*'frobnicate'.*expected tags",
    ),
    "bad CEL": (
        'name: p\nrules:\n  - id: c\n    kind: cel\n    expression: "action.kind =="\n',
        r"p.yaml:5: rules\[0\].expression = 'action.kind ==': .*does not compile.*column 15",
    ),
    "CEL typo caught at load": (
        "name: p\nrules:\n  - id: c\n    kind: cel\n    expression: \"acton.kind == 'scale'\"\n",
        r"p.yaml:5: rules\[0\].expression.*acton",
    ),
    "unknown placeholder": (
        'name: p\nrules:\n  - id: r\n    kind: replica-bounds\n    message: "{target} {nope}"\n',
        r"p.yaml:5: rules\[0\].message uses \{nope\}.*Fix: use one of.*\{replicas_after\}",
    ),
    "duplicate ids": (
        "name: p\nrules:\n  - id: a\n    kind: allow\n  - id: b\n    kind: allow\n"
        "  - id: a\n    kind: allow\n",
        r"^p.yaml:7: rules\[2\]\.id = 'a': this rule id appears twice \(first at line 3, "
        r"rules\[0\]\)\. Fix: give each rule its own id\.$",
    ),
    "bad freeze window": (
        "name: p\nrules:\n  - id: f\n    kind: change-freeze\n    windows:\n"
        "      - {days: [fri], start: '25:00', end: '08:00'}\n",
        r"p.yaml:6: rules\[0\].windows\[0\]",
    ),
    "bad time zone": (
        "name: p\nrules:\n  - id: f\n    kind: change-freeze\n    windows:\n"
        "      - {days: [fri], start: '18:00', end: '08:00', timezone: Mars/Olympus}\n",
        r"unknown time zone 'Mars/Olympus'; use an IANA name",
    ),
    "bad duration": (
        "name: p\nrules:\n  - id: c\n    kind: cooldown\n    seconds: soon\n",
        r"p.yaml:5: rules\[0\].seconds = 'soon'.*unit s, m, h, d or w",
    ),
}


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_a_broken_policy_file_names_file_line_field_and_fix(case: str) -> None:
    text, pattern = BROKEN[case]
    with pytest.raises(InputError, match=pattern) as e:
        load_policy(text, "p.yaml")
    assert "Traceback" not in str(e.value)
