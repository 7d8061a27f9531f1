"""Real adapters: each external system behind a port, each SDK imported in one module.

- `kubernetes` — the only module that imports the `kubernetes` client: API calls, retries,
  error mapping. `kube_cluster` turns its objects into snapshots and actions into writes;
  `lease` elects one acting daemon with a `coordination.k8s.io` Lease.
- `prometheus` — PromQL over the HTTP API (stdlib HTTP, no SDK): vLLM and DCGM metrics.
- `exposition` — the only module that imports `prometheus_client`: the daemon's own
  `/metrics`, and vLLM- / DCGM-named metrics of a simulated cluster.
- `nvml` — the only module that imports `pynvml`: the node collector.
- `openai_llm` — the only module that imports `openai`: the `LlmClient` port over any
  OpenAI-compatible chat-completions endpoint.
- `activator` — the wake-on-request proxy (`gpusteward activator`): holds requests for a
  model at zero while it wakes and exports them as its queue (`exposition_activator`).

Known only to the composition root (`gpusteward.app.wiring`) and the CLI; nothing below them
imports this package (import-linter enforces it).
"""
