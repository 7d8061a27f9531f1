"""The wake-on-request proxy over real HTTP on loopback: the real `openai` client in front,
uvicorn servers behind (`gpusteward.testing.model_server` here; the real
llama-cpp-python server in tests/agent/test_real_model_activator.py), a real Prometheus
scraping its /metrics.

A request for a model whose upstream is not listening (a Service with no ready pod) is
held, counted as the model's waiting requests, and sent when the upstream serves; every
refusal says what was wrong and what to do."""

from __future__ import annotations

import socket
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI

from gpusteward.adapters.activator import Activator
from gpusteward.adapters.activator_config import ActivatorConfig, load_routes
from gpusteward.core.errors import InputError
from gpusteward.testing.model_server import ModelServerStandIn, free_port, serving
from tests.waiting import PATIENCE, REQUEST_PATIENCE, wait_for


def _config(upstream_port: int, **overrides: Any) -> ActivatorConfig:
    routes = [
        {
            "model": "m-large",
            "namespace": "serving",
            "upstream": f"http://127.0.0.1:{upstream_port}",
        },
        {"model": "other", "namespace": "serving", "upstream": "http://127.0.0.1:9"},
    ]
    return ActivatorConfig.model_validate({"routes": routes, "probe_seconds": 0.05, **overrides})


def _metric(url: str, name: str, model: str = "m-large") -> float | None:
    text = httpx.get(f"{url}/metrics", timeout=REQUEST_PATIENCE).text
    want = f'{name}{{model_name="{model}",namespace="serving"}} '
    for line in text.splitlines():
        if line.startswith(want):
            return float(line.removeprefix(want))
    return None


def _ask(url: str, **body: Any) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": "m-large", "messages": [{"role": "user", "content": "hi"}], **body},
        headers={"x-client": "test"},
        timeout=PATIENCE,
    )


def _held(url: str, n: float) -> bool:
    return _metric(url, "vllm:num_requests_waiting") == n


def test_a_serving_model_is_passed_through_to_the_real_openai_client_streams_included() -> None:
    stand_in, port = ModelServerStandIn(), free_port()
    with serving(stand_in.app, port), serving(Activator(_config(port)).app, free_port()) as url:
        client = OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        extra = {"extra_headers": {"x-client": "openai"}}
        messages: Any = [{"role": "user", "content": "hi"}]
        whole = client.chat.completions.create(model="m-large", messages=messages, **extra)
        assert whole.choices[0].message.content == "m-large via openai"
        parts = client.chat.completions.create(
            model="m-large", messages=messages, stream=True, **extra
        )
        assert "".join(c.choices[0].delta.content or "" for c in parts) == "m-large via openai "
        assert len(stand_in.requests) == 2
        assert _metric(url, "gpusteward_activator_held_requests_total") == 0


def test_a_request_for_a_model_at_zero_is_held_counted_and_sent_when_it_serves() -> None:
    stand_in, port = ModelServerStandIn(), free_port()  # nothing listens on `port` yet: at zero
    with serving(Activator(_config(port)).app, free_port()) as url, ThreadPoolExecutor() as pool:
        asked: Future[httpx.Response] = pool.submit(_ask, url)
        wait_for(lambda: _held(url, 1.0), "the request held and counted as waiting")
        assert _metric(url, "vllm:num_requests_waiting", "other") == 0  # every model reported
        assert not asked.done() and not stand_in.requests
        with serving(stand_in.app, port):  # a replica is ready
            answer = asked.result(timeout=PATIENCE)
            assert answer.status_code == 200, answer.text
            assert answer.json()["choices"][0]["message"]["content"] == "m-large via test"
            assert len(stand_in.requests) == 1  # sent once
            assert _held(url, 0.0)
            assert _metric(url, "gpusteward_activator_held_requests_total") == 1
            assert _ask(url).status_code == 200  # and passed straight through now


def test_a_held_request_gets_a_503_with_retry_after_when_the_model_never_serves() -> None:
    activator = Activator(_config(free_port(), hold_seconds=1))
    with serving(activator.app, free_port()) as url:
        answer = _ask(url)
    assert answer.status_code == 503 and answer.headers["retry-after"] == "60"
    error = answer.json()["error"]
    assert error["type"] == "model_waking"
    assert "'m-large' did not start serving within 1 s" in error["message"]
    assert "never sent" in error["message"] and "fix:" in error["message"]
    assert activator.held_counts()[0].timed_out == 1 and activator.held_counts()[0].held == 0


def test_past_max_held_a_request_is_refused_at_once_and_the_held_one_still_served() -> None:
    stand_in, port = ModelServerStandIn(), free_port()
    with (
        serving(Activator(_config(port, max_held=1)).app, free_port()) as url,
        ThreadPoolExecutor() as pool,
    ):
        first = pool.submit(_ask, url)
        wait_for(lambda: _held(url, 1.0), "the first request held")
        second = _ask(url)
        assert second.status_code == 503 and second.headers["retry-after"] == "30"
        assert "already holds 1 requests" in second.json()["error"]["message"]
        assert _metric(url, "gpusteward_activator_refused_full_total") == 1
        with serving(stand_in.app, port):
            assert first.result(timeout=PATIENCE).status_code == 200


def test_an_error_from_the_upstream_after_sending_is_the_clients_and_is_not_retried() -> None:
    stand_in, port = ModelServerStandIn(fail_with=500), free_port()
    with serving(stand_in.app, port), serving(Activator(_config(port)).app, free_port()) as url:
        answer = _ask(url)
    assert answer.status_code == 500 and answer.json() == {"error": {"message": "boom"}}
    assert len(stand_in.requests) == 1


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b"{not json", 400, "the body is not JSON"),
        (b'{"messages": []}', 400, "no `model` string; fix: name one of m-large, other"),
        (b'{"model": "gpt-5"}', 404, "'gpt-5' has no route here; known: m-large, other"),
        (b'{"model": "m-large", "pad": "' + b"x" * 5000 + b'"}', 413, "over 4,096 bytes"),
    ],
)
def test_a_request_it_cannot_route_gets_a_clear_openai_shaped_error(
    body: bytes, status: int, says: str
) -> None:
    activator = Activator(_config(free_port(), max_body_bytes=4096))
    with serving(activator.app, free_port()) as url:
        answer = httpx.post(
            f"{url}/v1/chat/completions",
            content=body,
            headers={"content-type": "application/json"},
            timeout=REQUEST_PATIENCE,
        )
        models = httpx.get(f"{url}/v1/models", timeout=REQUEST_PATIENCE).json()
    assert answer.status_code == status
    assert says in answer.json()["error"]["message"]
    assert [m["id"] for m in models["data"]] == ["m-large", "other"]
    assert all(c.held_total == 0 for c in activator.held_counts())


def test_the_routes_file_is_checked_with_the_line_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(
        "routes:\n"
        "  - {model: a, namespace: s, upstream: 'http://a:8000'}\n"
        "  - {model: a, namespace: s, upstream: 'http://b:8000', ready_path: health}\n"
    )
    with pytest.raises(InputError) as caught:
        load_routes(path)
    said = str(caught.value)
    assert "routes.yaml:3" in said and "must start with '/'" in said
    path.write_text(
        "routes:\n"
        "  - {model: a, namespace: s, upstream: 'http://a:8000'}\n"
        "  - {model: a, namespace: s, upstream: 'http://b:8000'}\n"
    )
    with pytest.raises(InputError, match="model 'a' has two routes; fix: one route per model"):
        load_routes(path)
    path.write_text("routes:\n  - {model: a, namespace: s, upstream: 'http://a:8000/'}\n")
    assert load_routes(path).routes[0].upstream == "http://a:8000"


def test_the_daemons_prometheus_source_reads_a_held_request_as_the_models_queue(
    tmp_path: Path,
) -> None:
    """What wakes a model at zero on Kubernetes: a real Prometheus scrapes the proxy, and
    the daemon's source reports the held request as the deployment's queue."""
    from gpusteward.adapters.prometheus import PrometheusSource
    from gpusteward.testing import make_deployment
    from tests.adapters.prometheus_server import running_prometheus

    stand_in, port, proxy_port = ModelServerStandIn(), free_port(), free_port()
    at_zero = make_deployment(
        "m-large", namespace="serving", model="m-large", replicas=0, min_replicas=0
    )
    with (
        serving(Activator(_config(port)).app, proxy_port) as url,
        ThreadPoolExecutor() as pool,
        running_prometheus(tmp_path / "tsdb", tmp_path, scrape=f"127.0.0.1:{proxy_port}") as prom,
    ):
        source = PrometheusSource(prom)
        asked = pool.submit(_ask, url)
        metrics = wait_for(
            lambda: (
                (m := source.serving_metrics([at_zero]).get(at_zero.key))
                and m.queue_depth == 1
                and m
            ),
            "Prometheus showing the held request as the deployment's queue",
            every=0.2,
        )
        assert metrics.queue_depth == 1
        with serving(stand_in.app, port):
            assert asked.result(timeout=PATIENCE).status_code == 200


def test_a_client_that_hangs_up_while_held_is_uncounted_and_its_request_never_sent() -> None:
    stand_in, port = ModelServerStandIn(), free_port()
    with serving(Activator(_config(port)).app, free_port()) as url:
        body = b'{"model": "m-large", "messages": []}'
        client = socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])))
        client.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
            b"content-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
        )
        wait_for(lambda: _held(url, 1.0), "the request held")
        client.close()  # the client gives up while its request is held
        wait_for(
            lambda: _metric(url, "gpusteward_activator_abandoned_total") == 1.0,
            "the hung-up request counted as abandoned",
        )
        assert _held(url, 0.0)
        with serving(stand_in.app, port):
            assert _ask(url).status_code == 200
        assert len(stand_in.requests) == 1  # only the later request reached the model
