"""The chat's HTTP API as README documents it: the OpenAPI description where README says,
the curl example run as written against a live server, and a body of the wrong shape
answered with what the body must be."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gpusteward.chat.service import ApprovalService
from gpusteward.chat.web import create_web_app
from gpusteward.core.approvals import ApprovalRequest, ApprovalState
from tests.chat.conftest import T0, TOKENS, LiveServer, needs, scale

README = Path(__file__).resolve().parents[2] / "README.md"
REQUEST_PATIENCE = 60.0  # s: one request to a local server on a loaded machine


@pytest.fixture
def live(service: ApprovalService) -> Iterator[LiveServer]:
    with LiveServer(create_web_app(service)) as server:
        yield server


@pytest.fixture
def pending(service: ApprovalService) -> ApprovalRequest:
    return service.store.submit(scale(6), needs(scale(6)), T0)


def _readme_curl() -> list[str]:
    """The README's curl example for a decision, as the words a shell would pass to curl."""
    text = README.read_text(encoding="utf-8")
    found = re.search(r"^curl .*?/decision \\\n(?:.*\\\n)*.*$", text, re.MULTILINE)
    assert found is not None, "README has no `curl … /decision` example"
    return shlex.split(found.group(0).replace("\\\n", " "))


def test_a_decision_body_of_another_shape_is_told_what_the_body_must_be(
    live: LiveServer, pending: ApprovalRequest
) -> None:
    answer = httpx.post(
        f"{live.url}/api/approvals/{pending.id}/decision",
        json={"decision": "approve"},
        headers={"Authorization": f"Bearer {TOKENS['alice']}"},
        timeout=REQUEST_PATIENCE,
    )
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert '{"decision": "approve"}' in detail  # the value seen
    assert "'decision' is not a field" in detail and "'approve' is missing" in detail
    assert 'Fix: send {"approve": true} to approve' in detail
    assert '{"approve": false, "comment": "why"} to reject' in detail


def test_the_openapi_description_readme_links_describes_the_decision_body(
    live: LiveServer,
) -> None:
    assert "`/openapi.json`" in README.read_text(encoding="utf-8")
    spec = httpx.get(f"{live.url}/openapi.json", timeout=REQUEST_PATIENCE).json()
    body = spec["components"]["schemas"]["DecisionBody"]
    assert body["required"] == ["approve"] and set(body["properties"]) == {"approve", "comment"}
    assert body["examples"][0] == {"approve": True}


def test_the_readme_curl_example_approves_a_request_on_a_live_server(
    live: LiveServer, service: ApprovalService, pending: ApprovalRequest
) -> None:
    """The example's words as curl would send them: method, URL, headers and body; only the
    server's address, the token and the id are this test's."""
    words = _readme_curl()
    method = words[words.index("-X") + 1]
    url = next(w for w in words if w.startswith("http://"))
    headers = dict(words[i + 1].split(": ", 1) for i, w in enumerate(words) if w == "-H")
    body = words[words.index("-d") + 1]
    assert url.startswith("http://127.0.0.1:8787/api/approvals/")  # the chat's default port
    url = url.replace("http://127.0.0.1:8787", live.url)
    url = re.sub(r"/approvals/[^/]+/", f"/approvals/{pending.id[:14]}/", url)
    headers["Authorization"] = f"Bearer {TOKENS['alice']}"
    answer = httpx.request(method, url, headers=headers, content=body, timeout=REQUEST_PATIENCE)
    assert answer.status_code == 200, answer.text
    assert answer.json()["ok"] and json.loads(body)["approve"] is True
    decided = service.store.get(pending.id)
    assert decided is not None and decided.state == ApprovalState.APPROVED
    assert decided.comment == json.loads(body)["comment"]
