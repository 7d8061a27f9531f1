"""`gpusteward policy check | test | explain` through the real CLI."""

from pathlib import Path

from tests.cli.conftest import ROOT, gpusteward

PACK = ROOT / "policies" / "packs" / "default.yaml"
SUITES = ROOT / "policies" / "packs" / "tests"


def _cases() -> int:
    return (SUITES / "default_test.yaml").read_text().count("\n  - name: ")


def test_policy_test_runs_the_shipped_suites_and_exits_0(workdir: Path) -> None:
    proc = gpusteward("policy", "test", str(SUITES), cwd=workdir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{_cases()} passed, 0 failed" in proc.stdout


def test_policy_test_exits_1_when_a_case_fails(workdir: Path) -> None:
    suite = (SUITES / "default_test.yaml").read_text()
    broken = suite.replace(
        "expect: {effect: allow, rules: [allow-scaling]}",
        "expect: {effect: deny, rules: [allow-scaling]}",
        1,
    )
    (workdir / "suite.yaml").write_text(
        broken.replace("policy: ../default.yaml", f"policy: {PACK}")
    )
    proc = gpusteward("policy", "test", "suite.yaml", cwd=workdir)
    assert proc.returncode == 1
    assert "FAIL" in proc.stdout and f"{_cases() - 1} passed, 1 failed" in proc.stdout


def test_policy_check_reports_version_and_modes(workdir: Path) -> None:
    proc = gpusteward("policy", "check", str(PACK), cwd=workdir)
    assert proc.returncode == 0 and "1 warn, 1 audit" in proc.stdout


def test_policy_check_of_a_broken_file_exits_2_with_line_and_fix(workdir: Path) -> None:
    (workdir / "p.yaml").write_text(
        "name: p\nrules:\n  - id: s\n    kind: max-step\n    per_action: 0\n"
    )
    proc = gpusteward("policy", "check", "p.yaml", cwd=workdir)
    assert proc.returncode == 2 and "p.yaml:5: rules[0].per_action = 0" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_policy_explain_prints_every_rule_against_a_fixture(workdir: Path) -> None:
    (workdir / "a.json").write_text(
        '{"kind": "move", "deployment": "serving/chat", "to_pool": "spot"}'
    )
    proc = gpusteward(
        "policy",
        "explain",
        "a.json",
        "--fixture",
        f"{SUITES / 'default_test.yaml'}:base",
        cwd=workdir,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("DENY move serving/chat to spot — [critical-off-spot]")
    assert "allow-scaling" in proc.stdout and "weekend-freeze" in proc.stdout


def test_policy_explain_rejects_an_invalid_action_with_an_example(workdir: Path) -> None:
    (workdir / "a.json").write_text('{"kind": "scale", "deployment": "serving/chat"}')
    proc = gpusteward(
        "policy",
        "explain",
        "a.json",
        "--fixture",
        f"{SUITES / 'default_test.yaml'}:base",
        cwd=workdir,
    )
    assert proc.returncode == 2 and "replicas: Field required" in proc.stderr
