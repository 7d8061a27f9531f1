"""What the adapter puts on the wire, and the scripted server refusing what
llama-cpp-python's server refuses (tests/agent/test_real_model_adapter.py checks the two
answer alike)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from gpusteward.adapters.openai_llm import OpenAiChatClient, wire_messages
from gpusteward.core.llm import LlmMessage, LlmRequest, LlmToolCall, ToolSpec
from gpusteward.testing.llm import ScriptedLlmServer, reply

SUMMARY = ToolSpec(
    name="cluster_summary",
    description="The cluster's deployments and GPUs.",
    parameters={"type": "object", "properties": {}, "additionalProperties": False},
)
CALL = LlmToolCall(id="call_7", name="cluster_summary", arguments="{}")
CONVERSATION = (
    LlmMessage(role="system", content="You size GPU deployments."),
    LlmMessage(role="user", content="How busy is the cluster?"),
    LlmMessage(role="assistant", content=None, tool_calls=(CALL,)),
    LlmMessage(role="tool", tool_call_id="call_7", content="12 of 16 GPUs busy"),
)


def _client(server: ScriptedLlmServer, tool_results: str = "tool") -> OpenAiChatClient:
    return OpenAiChatClient(
        base_url=server.base_url,
        model="scripted",
        api_key=None,
        retries=0,
        tool_results=tool_results,  # type: ignore[arg-type]
    )


def _request(**fields: object) -> LlmRequest:
    return LlmRequest(model="scripted", messages=CONVERSATION, tools=(SUMMARY,), **fields)  # type: ignore[arg-type]


def test_an_assistant_tool_call_without_text_goes_out_with_empty_content(
    serve: Callable[..., ScriptedLlmServer],
) -> None:
    """The bug of issue #21: null content here is an HTTP 500 from llama-cpp-python (and
    now from the scripted server); the adapter must send ""."""
    server = serve([reply("ok")])
    response = _client(server).complete(_request(), timeout_seconds=5.0)
    assert response.message.content == "ok" and not server.rejected
    (sent,) = server.requests
    assert [m["content"] for m in sent["messages"]] == [
        "You size GPU deployments.",
        "How busy is the cluster?",
        "",
        "12 of 16 GPUs busy",
    ]


def test_the_scripted_server_refuses_null_assistant_content_as_llama_cpp_does(
    serve: Callable[..., ScriptedLlmServer],
) -> None:
    server = serve([reply("played")])
    body = {
        "model": "scripted",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": []},
        ],
    }
    refused = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=5)
    assert refused.status_code == 500
    error = refused.json()["error"]
    assert error["type"] == "internal_server_error"
    assert "Input should be a valid string" in error["message"]
    body["messages"][1]["content"] = ""
    taken = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=5)
    assert taken.status_code == 200  # the refusal did not use up the script's step
    assert taken.json()["choices"][0]["message"]["content"] == "played"
    assert len(server.rejected) == 1 and len(server.requests) == 2


def test_tool_results_go_as_role_tool_by_default() -> None:
    sent = wire_messages(CONVERSATION)
    assert sent[3] == {"role": "tool", "content": "12 of 16 GPUs busy", "tool_call_id": "call_7"}


def test_user_form_tool_results_name_the_call_and_the_tool() -> None:
    """For templates that drop role 'tool': the result becomes a user message the model
    reads, saying which call and tool it answers; the assistant's call itself stays."""
    sent = wire_messages(CONVERSATION, "user")
    assert sent[2]["tool_calls"][0]["id"] == "call_7"
    assert sent[3] == {
        "role": "user",
        "content": "Result of tool call call_7 (cluster_summary):\n12 of 16 GPUs busy",
    }
    assert all(m["role"] != "tool" for m in sent)


def test_temperature_is_sent_only_when_the_request_sets_one(
    serve: Callable[..., ScriptedLlmServer],
) -> None:
    server = serve([reply(), reply()])
    client = _client(server)
    client.complete(_request(temperature=0.0), timeout_seconds=5.0)
    client.complete(_request(), timeout_seconds=5.0)
    assert server.requests[0]["temperature"] == 0.0
    assert "temperature" not in server.requests[1]  # the server's own default applies


def test_tool_choice_and_max_tokens_are_sent_as_requested(
    serve: Callable[..., ScriptedLlmServer],
) -> None:
    server = serve([reply()])
    _client(server).complete(_request(tool_choice="required", max_tokens=33), timeout_seconds=5.0)
    (sent,) = server.requests
    assert (sent["tool_choice"], sent["max_tokens"]) == ("required", 33)
