"""deploy/kubernetes/optional/activator.yaml: the proxy's routes file is one the proxy
reads, routes to the example model's Service and readiness path, holds a request longer
than that model takes to wake, and its metrics are scraped keeping the model's
namespace label (what the daemon matches the held requests to the model by)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gpusteward.adapters.activator_config import ActivatorConfig
from gpusteward.core.documents import load_document

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"


def _objects() -> dict[str, dict[str, Any]]:
    docs = yaml.safe_load_all((DEPLOY / "optional" / "activator.yaml").read_text())
    return {d["kind"]: d for d in docs if d}


def test_the_routes_reach_the_example_model_and_outlast_its_wake() -> None:
    objects = _objects()
    text = objects["ConfigMap"]["data"]["routes.yaml"]
    config, _ = load_document(text, "activator.yaml routes.yaml", ActivatorConfig)
    model = yaml.safe_load((DEPLOY / "examples" / "model-deployment.yaml").read_text())
    (route,) = config.routes
    meta = model["metadata"]
    assert (route.model, route.namespace) == (
        meta["labels"]["gpusteward.io/model"],
        meta["namespace"],
    )
    assert route.upstream.startswith(f"http://{meta['name']}.{meta['namespace']}.svc:")
    (container,) = model["spec"]["template"]["spec"]["containers"]
    assert route.ready_path == container["readinessProbe"]["httpGet"]["path"]
    cold_start = float(meta["annotations"]["gpusteward.io/cold-start-seconds"])
    assert config.hold_seconds > cold_start + 60 + 15  # + a daemon tick + a scrape


def test_the_proxy_reads_the_mounted_routes_and_is_scraped_with_honor_labels() -> None:
    objects = _objects()
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    args = container["args"]
    assert args[0] == "activator"
    routes = Path(args[args.index("--routes") + 1])
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == str(routes.parent)]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["configMap"]["name"] == objects["ConfigMap"]["metadata"]["name"]
    assert routes.name in objects["ConfigMap"]["data"]
    (endpoint,) = objects["PodMonitor"]["spec"]["podMetricsEndpoints"]
    assert endpoint["honorLabels"] is True and endpoint["path"] == "/metrics"
    port = int(args[args.index("--port") + 1])
    assert {p["containerPort"] for p in container["ports"]} == {port}
