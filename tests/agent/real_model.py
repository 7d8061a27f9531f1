"""The `real_llm` session fixture: `gpusteward.testing.llama.running_llama_server` for
tests. Import it into a test module (each importing module gets its own server):

    from tests.agent.real_model import RealLlm, real_llm_fixture  # noqa: F401

When the server cannot be had (`make llm-server` not run), the tests FAIL naming the fix:
CI must run them, never skip them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gpusteward.testing.llama import LlamaServerError, RealLlm, running_llama_server

__all__ = ["RealLlm", "real_llm_fixture"]


@pytest.fixture(scope="session", name="real_llm")
def real_llm_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealLlm]:
    """One real server for the session (per module that imports this fixture)."""
    try:
        with running_llama_server(tmp_path_factory.mktemp("llama-server")) as llm:
            yield llm
    except LlamaServerError as e:
        pytest.fail(str(e), pytrace=False)
