"""The wake-on-request proxy's routes file (`gpusteward activator --routes FILE`).

    routes:
      - model: m-large                 # the `model` clients put in their requests
        namespace: serving             # the model deployment's namespace
        upstream: http://m-large.serving.svc:8000
        ready_path: /health            # answers 200 when a replica serves (vLLM: /health)
    hold_seconds: 900                  # the longest a request waits for a wake
    max_held: 1000                     # per model; more are refused at once (503)

`model_name` (default: `model`) is the vLLM `model_name` label the daemon matches a
deployment by (`ModelDeployment.model`); set it where clients use another name.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gpusteward.core.documents import load_document
from gpusteward.core.user_files import read_user_file

__all__ = ["ActivatorConfig", "Route", "load_routes"]


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1, description="The request body's `model`, as clients send it.")
    namespace: str = Field(min_length=1, description="The model deployment's namespace.")
    upstream: str = Field(description="Base URL of the model's Service, e.g. http://m.ns.svc:8000.")
    model_name: str | None = Field(
        default=None, min_length=1, description="vLLM's model_name label; default: `model`."
    )
    ready_path: str = Field(
        default="/health",
        description="GET here answers 200 once a replica serves (vLLM, TGI, SGLang, llama.cpp: "
        "/health; llama-cpp-python: /v1/models).",
    )

    @field_validator("upstream")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(
                f"{value!r} is not an http(s) URL; fix: the model's Service, e.g. "
                "http://m-large.serving.svc:8000"
            )
        return value.rstrip("/")

    @field_validator("ready_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"{value!r} must start with '/', e.g. /health")
        return value

    @property
    def label(self) -> str:
        return self.model_name or self.model


class ActivatorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    routes: tuple[Route, ...] = Field(min_length=1)
    hold_seconds: float = Field(
        default=900.0, gt=0, le=3600, description="The longest a request waits for a wake."
    )
    max_held: int = Field(default=1000, ge=1, description="Requests held per model at once.")
    probe_seconds: float = Field(
        default=1.0, gt=0, le=60, description="Between readiness probes while requests wait."
    )
    connect_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    read_timeout_seconds: float = Field(
        default=600.0, gt=0, description="The longest an upstream may go silent mid-answer."
    )
    max_body_bytes: int = Field(default=16 << 20, ge=1024, description="Largest request body.")

    @model_validator(mode="after")
    def _one_route_per_model(self) -> ActivatorConfig:
        seen: set[str] = set()
        for r in self.routes:
            if r.model in seen:
                raise ValueError(
                    f"model {r.model!r} has two routes; fix: one route per model (a request "
                    "names one model and goes to one upstream)"
                )
            seen.add(r.model)
        return self


def load_routes(path: Path) -> ActivatorConfig:
    """The routes file at `path`; an `InputError` names the file, the line and the fix."""
    text = read_user_file(path, "activator routes file")
    config, _ = load_document(text, str(path), ActivatorConfig)
    return config
