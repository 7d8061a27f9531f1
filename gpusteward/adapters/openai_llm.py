"""The only module that imports the `openai` SDK: the `LlmClient` port over any
OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, llama.cpp server).

Uses only what such servers share: `messages`, `tools`, `tool_choice`, `max_tokens`,
`temperature` (sent only when the request sets one). SDK errors become `LlmUnavailable`
(timeout, connection, HTTP status) or `LlmProtocolError` (a body that is not a chat
completion); the SDK's own retries are bounded by `retries`, and each attempt gets an equal
share of the caller's timeout.

What goes on the wire is what every server accepts, not only OpenAI:

- `content` is always a string: "" for a message without text. llama-cpp-python's server
  answers HTTP 500 to `"content": null` in an assistant message (its request schema wants a
  string) and also to an assistant message without `content` (its chat template reads the
  key); a null user or system content reaches its model as the text "None".
- Tool results go as `role: tool` (`tool_results="tool"`, the standard that OpenAI, vLLM
  and Ollama render), or as a `user` message that names the call and the tool
  (`tool_results="user"`). The second is for servers whose chat template drops role `tool`:
  llama-cpp-python's `chatml-function-calling` prints `<|im_start|>tool` and nothing of the
  result, so the model never sees what its tool returned. It is a setting, not a detection:
  the same server renders role `tool` under another `--chat_format`, nothing in its answers
  says which template runs, and OpenAI refuses an assistant tool call that no `tool`
  message answers (HTTP 400), so "user" cannot be the default.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import openai

from gpusteward.core.errors import SettingsError
from gpusteward.core.llm import (
    LlmMessage,
    LlmProtocolError,
    LlmRequest,
    LlmResponse,
    LlmToolCall,
    LlmUnavailable,
    LlmUsage,
)

ToolResults = Literal["tool", "user"]


class OpenAiChatClient:
    """`LlmClient` for one endpoint and model."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None,
        retries: int = 1,
        tool_results: ToolResults = "tool",
    ) -> None:
        self.endpoint = base_url
        self.model = model
        self.retries = retries
        self.tool_results = tool_results
        # Local servers (vLLM, Ollama) accept any key; the SDK insists on one.
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "unused", max_retries=retries
        )

    @classmethod
    def from_env(
        cls,
        *,
        base_url: str,
        model: str,
        api_key_env: str,
        retries: int,
        tool_results: ToolResults = "tool",
    ) -> OpenAiChatClient:
        """The API key is read from the environment variable named `api_key_env`."""
        key = os.environ.get(api_key_env) if api_key_env else None
        if api_key_env and key is None and "api.openai.com" in base_url:
            raise SettingsError(
                f"GPUSTEWARD_LLM_API_KEY_ENV names {api_key_env!r}, which is not set, and "
                f"{base_url} needs a key. Fix: export {api_key_env}=<key>."
            )
        return cls(
            base_url=base_url,
            model=model,
            api_key=key,
            retries=retries,
            tool_results=tool_results,
        )

    def complete(self, request: LlmRequest, *, timeout_seconds: float) -> LlmResponse:
        kwargs: dict[str, Any] = {
            "model": request.model,
            "messages": wire_messages(request.messages, self.tool_results),
            "max_tokens": request.max_tokens,
            "timeout": max(0.05, timeout_seconds / (self.retries + 1)),
        }
        if request.temperature is not None:
            kwargs["temperature"] = request.temperature
        if request.tools:
            kwargs["tools"] = [t.openai() for t in request.tools]
            kwargs["tool_choice"] = request.tool_choice
        with self._errors(f"no answer within {timeout_seconds:.1f} s"):
            completion = self._client.chat.completions.create(**kwargs)
        return _response(completion, self.endpoint)

    def ready(self, *, timeout_seconds: float) -> None:
        """GET {base}/models within `timeout_seconds`, no retry: any HTTP answer is ready."""
        with self._errors(
            f"no answer to GET /models within {timeout_seconds:.1f} s", any_answer=True
        ):
            self._client.with_options(max_retries=0).models.list(timeout=timeout_seconds)

    @contextmanager
    def _errors(self, timed_out: str, *, any_answer: bool = False) -> Iterator[None]:
        """SDK errors as the port's: no answer, no connection or an HTTP error status is
        `LlmUnavailable` (the next tick may succeed), anything else `LlmProtocolError`.
        With `any_answer`, an HTTP error status or an unreadable body is no error: the
        server answered."""
        try:
            yield
        except openai.APITimeoutError as e:
            raise LlmUnavailable(f"{self.endpoint}: {timed_out}") from e
        except openai.APIStatusError as e:
            if not any_answer:
                raise LlmUnavailable(f"{self.endpoint}: HTTP {e.status_code}: {_short(e)}") from e
        except openai.APIConnectionError as e:
            raise LlmUnavailable(f"{self.endpoint}: cannot connect ({e})") from e
        except openai.OpenAIError as e:
            if not any_answer:
                raise LlmProtocolError(f"{self.endpoint}: {type(e).__name__}: {e}") from e


def wire_messages(
    messages: Sequence[LlmMessage], tool_results: ToolResults = "tool"
) -> list[dict[str, Any]]:
    """The request's `messages` as sent: string content always; tool results as role
    `tool`, or as `user` messages naming the call when `tool_results` is "user"."""
    if tool_results == "tool":
        return [_message(m) for m in messages]
    names = {c.id: c.name for m in messages for c in m.tool_calls}
    return [
        _tool_result_as_user(m, names.get(m.tool_call_id or ""))
        if m.role == "tool"
        else _message(m)
        for m in messages
    ]


def _tool_result_as_user(m: LlmMessage, tool: str | None) -> dict[str, Any]:
    call = m.tool_call_id or "?"
    head = f"Result of tool call {call}" + (f" ({tool})" if tool else "")
    return {"role": "user", "content": f"{head}:\n{m.content or ''}"}


def _message(m: LlmMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role, "content": m.content or ""}
    if m.tool_calls:
        out["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            }
            for c in m.tool_calls
        ]
    if m.tool_call_id is not None:
        out["tool_call_id"] = m.tool_call_id
    return out


def _response(completion: Any, endpoint: str) -> LlmResponse:
    try:
        choice = completion.choices[0]
        msg = choice.message
        calls = tuple(
            LlmToolCall(
                id=str(c.id),
                name=str(c.function.name),
                arguments=str(c.function.arguments or ""),
            )
            for c in (msg.tool_calls or ())
        )
        usage = completion.usage
        return LlmResponse(
            message=LlmMessage(role="assistant", content=msg.content, tool_calls=calls),
            finish_reason=choice.finish_reason,
            usage=LlmUsage(
                prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            ),
        )
    except (AttributeError, IndexError, TypeError, ValueError) as e:
        raise LlmProtocolError(
            f"{endpoint}: the response is not a chat completion with a message ({e!r})"
        ) from None


def _short(e: openai.APIStatusError) -> str:
    text = str(e.message or "")
    return text if len(text) < 200 else text[:200] + "…"
