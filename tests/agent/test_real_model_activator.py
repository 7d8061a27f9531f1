"""The wake-on-request proxy in front of a real OpenAI-compatible model server
(llama-cpp-python's, serving Gemma 3 270M): a request sent while the server is down is
held, and answered by the real model once the server starts on the route's port."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from openai import OpenAI

from gpusteward.adapters.activator import Activator
from gpusteward.adapters.activator_config import ActivatorConfig
from gpusteward.testing.llama import MODEL_ALIAS, LlamaServerError, running_llama_server
from gpusteward.testing.model_server import free_port, serving
from tests.adapters.test_activator import _held, _metric
from tests.waiting import PATIENCE, wait_for

pytestmark = pytest.mark.slow


def test_a_request_held_while_the_model_server_is_down_is_answered_by_the_real_model(
    tmp_path: Path,
) -> None:
    port = free_port()
    config = ActivatorConfig.model_validate(
        {
            "routes": [
                {
                    "model": MODEL_ALIAS,
                    "model_name": "m-large",
                    "namespace": "serving",
                    "upstream": f"http://127.0.0.1:{port}",
                    "ready_path": "/v1/models",  # llama-cpp-python has no /health
                }
            ],
            "probe_seconds": 0.2,
        }
    )
    with serving(Activator(config).app, free_port()) as url, ThreadPoolExecutor() as pool:
        client = OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=PATIENCE)
        asked = pool.submit(
            client.chat.completions.create,
            model=MODEL_ALIAS,
            messages=[{"role": "user", "content": "Say hi."}],
            max_tokens=4,
            temperature=0.0,
        )
        wait_for(lambda: _held(url, 1.0), "the request held while no server listens")
        try:
            with running_llama_server(tmp_path, port=port):
                answer = asked.result(timeout=PATIENCE)
        except LlamaServerError as e:
            pytest.fail(str(e), pytrace=False)
        assert answer.choices[0].finish_reason in ("stop", "length")
        assert answer.usage is not None and answer.usage.completion_tokens > 0
        assert _metric(url, "gpusteward_activator_held_requests_total") == 1
        assert _held(url, 0.0)
