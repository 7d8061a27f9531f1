"""Prompt size in real tokens, offline: `bpe-openai` ships the `o200k_base` tables."""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from gpusteward.core.llm import LlmMessage, ToolSpec

PER_MESSAGE_OVERHEAD = 4  # role and separators, as OpenAI's chat format counts them


@lru_cache(maxsize=1)
def _encoding() -> Any:
    import bpe_openai

    with warnings.catch_warnings():  # its table loader uses a deprecated importlib API
        warnings.simplefilter("ignore", DeprecationWarning)
        return bpe_openai.get_encoding("o200k_base")


def count_text(text: str) -> int:
    with warnings.catch_warnings():  # the tables load lazily, on the first encode
        warnings.simplefilter("ignore", DeprecationWarning)
        return len(_encoding().encode(text))


def count_prompt(messages: Sequence[LlmMessage], tools: Sequence[ToolSpec]) -> int:
    """Tokens of the messages plus the tool schemas (which count as prompt tokens)."""
    total = 3  # the reply's priming
    for m in messages:
        total += PER_MESSAGE_OVERHEAD + count_text(m.content or "")
        for call in m.tool_calls:
            total += count_text(call.name) + count_text(call.arguments)
    if tools:
        total += count_text(json.dumps([t.openai() for t in tools], separators=(",", ":")))
    return total
