"""The only module that imports the `openai` SDK: the `LlmClient` port over any
OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, llama.cpp server).

Uses only what such servers share: `messages`, `tools`, `tool_choice`, `max_tokens`.
SDK errors become `LlmUnavailable` (timeout, connection, HTTP status) or
`LlmProtocolError` (a body that is not a chat completion); the SDK's own retries are
bounded by `retries`, and each attempt gets an equal share of the caller's timeout.
"""

from __future__ import annotations

import os
from typing import Any

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


class OpenAiChatClient:
    """`LlmClient` for one endpoint and model."""

    def __init__(self, *, base_url: str, model: str, api_key: str | None, retries: int = 1) -> None:
        self.endpoint = base_url
        self.model = model
        self.retries = retries
        # Local servers (vLLM, Ollama) accept any key; the SDK insists on one.
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "unused", max_retries=retries
        )

    @classmethod
    def from_env(
        cls, *, base_url: str, model: str, api_key_env: str, retries: int
    ) -> OpenAiChatClient:
        """The API key is read from the environment variable named `api_key_env`."""
        key = os.environ.get(api_key_env) if api_key_env else None
        if api_key_env and key is None and "api.openai.com" in base_url:
            raise SettingsError(
                f"GPUSTEWARD_LLM_API_KEY_ENV names {api_key_env!r}, which is not set, and "
                f"{base_url} needs a key. Fix: export {api_key_env}=<key>."
            )
        return cls(base_url=base_url, model=model, api_key=key, retries=retries)

    def complete(self, request: LlmRequest, *, timeout_seconds: float) -> LlmResponse:
        kwargs: dict[str, Any] = {
            "model": request.model,
            "messages": [_message(m) for m in request.messages],
            "max_tokens": request.max_tokens,
            "timeout": max(0.05, timeout_seconds / (self.retries + 1)),
        }
        if request.tools:
            kwargs["tools"] = [t.openai() for t in request.tools]
            kwargs["tool_choice"] = request.tool_choice
        try:
            completion = self._client.chat.completions.create(**kwargs)
        except openai.APITimeoutError as e:
            raise LlmUnavailable(
                f"{self.endpoint}: no answer within {timeout_seconds:.1f} s ({e})"
            ) from e
        except openai.APIStatusError as e:
            raise LlmUnavailable(f"{self.endpoint}: HTTP {e.status_code}: {_short(e)}") from e
        except openai.APIConnectionError as e:
            raise LlmUnavailable(f"{self.endpoint}: cannot connect ({e})") from e
        except openai.OpenAIError as e:
            raise LlmProtocolError(f"{self.endpoint}: {type(e).__name__}: {e}") from e
        return _response(completion, self.endpoint)


def _message(m: LlmMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role, "content": m.content}
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
