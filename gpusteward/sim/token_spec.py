"""What a simulated model's requests are made of: token lengths and per-token speeds.

A `TokenSpec` names where each request's input and output token counts are drawn from
(real token-length distributions: ServeGen `chunk-*-dataset.json` files, an Azure request
trace, or a quantile table derived from either) and how fast a replica turns tokens
into time: prefill speed (time to first token after the queue) and decode time per
output token, per GPU type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from gpusteward.core.model import Frozen

TokenFormat = Literal["servegen-dataset", "azure-requests", "token-quantiles"]


class TokenSpec(Frozen):
    """Token lengths per request and the per-token speeds of a replica.

    - `servegen-dataset`: one or more ServeGen `chunk-<client>-dataset.json` files
      (`{window_start_s: {input_tokens: "{tokens: probability}", output_tokens: ...}}`);
      several files are mixed, each window by `weights` (equal when absent).
    - `azure-requests`: an Azure LLM trace (`TIMESTAMP,ContextTokens,GeneratedTokens`);
      its requests' lengths, one distribution for the whole run.
    - `token-quantiles`: a table of quantiles per window and field, as written by
      `gpusteward.sim.token_files.write_quantiles` (the shipped scenarios use it).

    A request's time to first token = its queueing delay + input tokens / prefill speed
    of the GPU that serves it; its time per output token = `decode_seconds_per_token` of
    that GPU x (1 + `batch_slowdown` x the replicas' utilisation in that step), as decode
    slows while a replica's batch fills.
    """

    files: tuple[Path, ...] = Field(min_length=1)
    format: TokenFormat = "token-quantiles"
    weights: tuple[float, ...] | None = Field(
        default=None, description="servegen-dataset: each file's share of requests."
    )
    prefill_tokens_per_second: dict[str, float] = Field(
        min_length=1, description="Prompt tokens one request's prefill processes a second."
    )
    decode_seconds_per_token: dict[str, float] = Field(
        min_length=1, description="Seconds per output token of one sequence on an idle replica."
    )
    batch_slowdown: float = Field(
        default=1.0,
        ge=0,
        le=20,
        description="Extra decode time per token at full load, as a multiple of the idle one.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> TokenSpec:
        for name, table in (
            ("prefill_tokens_per_second", self.prefill_tokens_per_second),
            ("decode_seconds_per_token", self.decode_seconds_per_token),
        ):
            for gpu, value in table.items():
                if value <= 0:
                    raise ValueError(f"tokens.{name}[{gpu!r}]={value}: must be > 0")
        if self.weights is not None:
            if self.format != "servegen-dataset":
                raise ValueError(
                    f"tokens.weights is read only with format servegen-dataset, not "
                    f"{self.format}. Fix: remove weights"
                )
            if len(self.weights) != len(self.files) or min(self.weights) < 0:
                raise ValueError(
                    f"tokens.weights has {len(self.weights)} values for {len(self.files)} "
                    "files. Fix: one weight >= 0 per file, in the same order"
                )
        if self.format != "servegen-dataset" and len(self.files) > 1:
            raise ValueError(
                f"tokens format {self.format} reads one file, got {len(self.files)}. "
                "Fix: give one file, or use servegen-dataset to mix several"
            )
        return self

    def gpu_speeds(self, gpu_type: str) -> tuple[float, float]:
        """(prefill tokens/s, idle decode s/token) on `gpu_type`; KeyError if not given."""
        return self.prefill_tokens_per_second[gpu_type], self.decode_seconds_per_token[gpu_type]
