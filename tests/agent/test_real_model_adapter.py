"""The adapter against a real OpenAI-compatible server: llama-cpp-python's, serving Gemma 3
270M on the CPU (tests/agent/real_model.py). And the scripted server answering the bodies
that server refuses the way it does, so the fast tests catch what only it would.

Few and small: each completion takes seconds on a busy CPU."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gpusteward.adapters.openai_llm import OpenAiChatClient, ToolResults
from gpusteward.core.llm import LlmMessage, LlmRequest, LlmToolCall, ToolSpec
from gpusteward.testing.llm import ScriptedLlmServer, reply
from tests.agent.real_model import RealLlm, real_llm_fixture  # noqa: F401

pytestmark = pytest.mark.slow

SUMMARY = ToolSpec(  # no string arguments: the server's JSON grammar cannot run on for long
    name="cluster_summary",
    description="The cluster's deployments and GPUs.",
    parameters={"type": "object", "properties": {}, "additionalProperties": False},
)


def _conversation(result: str) -> tuple[LlmMessage, ...]:
    return (
        LlmMessage(role="system", content="You size GPU deployments. Answer in one word."),
        LlmMessage(role="user", content="How busy is the cluster?"),
        LlmMessage(
            role="assistant",
            content=None,
            tool_calls=(LlmToolCall(id="call_1", name="cluster_summary", arguments="{}"),),
        ),
        LlmMessage(role="tool", tool_call_id="call_1", content=result),
    )


def _client(llm: RealLlm, tool_results: ToolResults) -> OpenAiChatClient:
    return OpenAiChatClient(
        base_url=llm.base_url, model=llm.model, api_key=None, retries=0, tool_results=tool_results
    )


@pytest.mark.parametrize("tool_results", ["tool", "user"])
def test_a_conversation_with_a_tool_call_and_its_result_round_trips(
    real_llm: RealLlm, tool_results: ToolResults
) -> None:
    """The server takes what the adapter sends (HTTP 200: no null content) with tools on
    offer, and its answer parses: words, or calls to a tool it was offered."""
    request = LlmRequest(
        model=real_llm.model,
        messages=_conversation("3 deployments; 12 of 16 GPUs busy"),
        tools=(SUMMARY,),
        max_tokens=8,
        temperature=0.0,
    )
    response = _client(real_llm, tool_results).complete(request, timeout_seconds=180.0)
    assert response.message.role == "assistant"
    assert response.finish_reason in ("stop", "length", "tool_calls")
    assert {c.name for c in response.message.tool_calls} <= {"cluster_summary"}
    assert response.usage.prompt_tokens > 0


@pytest.mark.parametrize(("tool_results", "seen"), [("tool", False), ("user", True)])
def test_only_user_form_tool_results_reach_this_templates_model(
    real_llm: RealLlm, tool_results: ToolResults, seen: bool
) -> None:
    """chatml-function-calling prints role 'tool' without its content: a longer result
    costs no prompt token there. As a user message it is in the prompt."""

    def prompt_tokens(result: str) -> int:
        request = LlmRequest(
            model=real_llm.model, messages=_conversation(result), max_tokens=1, temperature=0.0
        )
        response = _client(real_llm, tool_results).complete(request, timeout_seconds=180.0)
        return response.usage.prompt_tokens

    short, long = prompt_tokens("ok"), prompt_tokens("GPU node-7 is busy. " * 20)
    assert (long > short) is seen, (short, long)


TOOL_CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "cluster_summary", "arguments": "{}"},
}
TOOLS = [SUMMARY.openai()]


def _body(assistant: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "You size GPU deployments."},
            {"role": "user", "content": "How busy is the cluster?"},
            {"role": "assistant", "tool_calls": [TOOL_CALL], **assistant},
            {"role": "tool", "tool_call_id": "call_1", "content": "12 of 16 GPUs busy"},
        ],
        "max_tokens": 1,
        "temperature": 0.0,
        **extra,
    }


def _without_tool_call_id() -> dict[str, Any]:
    body = _body({"content": ""})
    del body["messages"][3]["tool_call_id"]
    return body


# (case, body, status, words both servers' error messages carry)
BODIES: list[tuple[str, dict[str, Any], int, str]] = [
    ("null assistant content", _body({"content": None}), 500, "Input should be a valid string"),
    ("empty assistant content", _body({"content": ""}), 200, ""),
    ("no assistant content", _body({}), 500, "'dict object' has no attribute 'content'"),
    ("tool result without id", _without_tool_call_id(), 500, "tool_call_id"),
    ("tool_choice required", _body({"content": ""}, tools=TOOLS, tool_choice="required"), 500, ""),
]


@pytest.mark.parametrize(("case", "body", "status", "words"), BODIES, ids=[b[0] for b in BODIES])
def test_the_scripted_server_refuses_what_the_real_server_refuses(
    real_llm: RealLlm, case: str, body: dict[str, Any], status: int, words: str
) -> None:
    real = httpx.post(
        f"{real_llm.base_url}/chat/completions",
        json={"model": real_llm.model, **body},
        timeout=180,
    )
    with ScriptedLlmServer([reply()], rejects_tool_choice={"required"}) as scripted:
        fake = httpx.post(f"{scripted.base_url}/chat/completions", json=body, timeout=5)
    assert (real.status_code, fake.status_code) == (status, status), real.text
    if status != 200:
        real_error, fake_error = real.json()["error"], fake.json()["error"]
        assert real_error["type"] == fake_error["type"] == "internal_server_error"
        assert words in real_error["message"] and words in fake_error["message"]
        if not words:
            assert real_error["message"] == fake_error["message"] == ""
