"""`gpusteward eval` scores a model, never the fallback: an endpoint that does not answer
is an error (exit non-zero, a message naming the endpoint and the fix, no traceback)."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.cli.conftest import gpusteward


def test_eval_against_an_endpoint_where_nothing_listens_exits_non_zero(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = gpusteward(
        "eval", "--endpoint", f"http://127.0.0.1:{port}/v1", "--model", "x", cwd=tmp_path
    )
    assert result.returncode != 0, result.stdout
    assert f"127.0.0.1:{port}" in result.stderr and "Fix:" in result.stderr
    assert "Traceback" not in result.stderr
    assert "score" not in result.stdout


def test_eval_against_a_hung_endpoint_exits_non_zero_within_seconds(tmp_path: Path) -> None:
    with socket.socket() as listener:  # accepts, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        result = gpusteward(
            "eval", "--endpoint", f"http://127.0.0.1:{port}/v1", "--model", "x", cwd=tmp_path
        )
    assert result.returncode != 0 and "no answer" in result.stderr
    assert "Traceback" not in result.stderr
