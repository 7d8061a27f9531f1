"""deploy/kubernetes/optional/alerts.yaml: every alert reads a metric the daemon exports,
by the labels it has, and says where to ask why."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import yaml

from gpusteward.app.scenario import load_scenario
from gpusteward.app.settings import Settings
from gpusteward.app.wiring_sim import build_sim_run
from tests.deploy.kustomize import DEPLOY

ALERTS = DEPLOY / "optional" / "alerts.yaml"


def _rules() -> list[dict[str, object]]:
    doc = yaml.safe_load(ALERTS.read_text())
    assert doc["kind"] == "PrometheusRule"
    return [r for g in doc["spec"]["groups"] for r in g["rules"]]


def test_every_alert_reads_exported_metrics_by_their_labels(tmp_path: Path) -> None:
    scenario = load_scenario("redflag-spot-wave")
    run = build_sim_run(scenario, Settings(journal=tmp_path / "j.db"), fresh=True, max_ticks=185)
    asyncio.run(run.daemon.run())
    assert run.exposition is not None
    exported = run.exposition.render().decode()
    run.journal.close()
    for rule in _rules():
        expr = str(rule["expr"])
        for metric in set(re.findall(r"gpusteward_[a-z_]+", expr)):
            assert f"\n{metric}" in exported, f"{rule['alert']}: {metric} is not exported"
        for label in re.findall(r"by \(([^)]*)\)", expr):
            for name in (n.strip() for n in label.split(",")):
                assert f'{name}="' in exported, f"{rule['alert']}: no label {name}"


def test_every_red_flag_alert_says_where_to_ask_why() -> None:
    flagged = [r for r in _rules() if "flag" in str(r["expr"])]
    assert len(flagged) == 3
    for rule in flagged:
        annotations = rule["annotations"]
        assert isinstance(annotations, dict)
        assert "/why" in annotations["description"] or "diagnose" in annotations["description"]
