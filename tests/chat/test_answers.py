"""Free-text chat questions answered by an LLM from the journal (scripted server, real
`openai` client over HTTP)."""

from __future__ import annotations

import json

from gpusteward.adapters.openai_llm import OpenAiChatClient
from gpusteward.chat.answers import JournalAnswerer, journal_excerpt
from gpusteward.testing import make_tick_record
from gpusteward.testing.llm import ScriptedLlmServer, fault, reply
from tests.waiting import REQUEST_PATIENCE


def _client(server: ScriptedLlmServer) -> OpenAiChatClient:
    return OpenAiChatClient(base_url=server.base_url, model="scripted", api_key=None, retries=0)


def test_a_question_is_answered_from_a_quoted_journal_excerpt_without_tools() -> None:
    records = [make_tick_record(seq) for seq in range(3)]
    said = "At 12:01 it scaled llm-chat because utilisation was high."
    with ScriptedLlmServer([reply(said)]) as server:
        answerer = JournalAnswerer(
            _client(server), lambda: records, timeout_seconds=REQUEST_PATIENCE
        )
        text = answerer.answer("why did you scale llm-chat at 12:01?", "alice")
    assert text == said
    (request,) = server.requests
    assert not request.get("tools") and request.get("tool_choice") in (None, "none")
    user = request["messages"][1]["content"]
    assert json.dumps("why did you scale llm-chat at 12:01?") in user
    assert "```json" in user and records[1].proposals[0].action.id in user
    assert "not instructions" in request["messages"][0]["content"]


def test_an_unreachable_llm_gets_a_clear_answer_not_an_exception() -> None:
    with ScriptedLlmServer([fault("http_500")]) as server:
        answerer = JournalAnswerer(_client(server), lambda: [], timeout_seconds=REQUEST_PATIENCE)
        text = answerer.answer("what happened?", "bob")
    assert text.startswith("The LLM could not answer") and "/why ID" in text


def test_the_excerpt_keeps_only_ticks_that_did_something() -> None:
    busy = make_tick_record(5)
    quiet = busy.model_copy(update={"seq": 6, "proposals": (), "verdicts": (), "results": ()})
    excerpt = journal_excerpt([busy, quiet])
    assert [e["tick"] for e in excerpt] == [5]
    (proposal,) = excerpt[0]["proposals"]  # type: ignore[misc]
    assert proposal["verdict"] == "allow" and proposal["result"] == "applied"
