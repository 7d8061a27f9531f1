"""The application layer: the composition root and the engines behind the commands.

- `wiring` assembles a run from a backend, a scenario and the settings (`wiring_kube` is
  the Kubernetes backend's part, `wiring_llm` the planner agent's model client).
- `scenario` reads scenario files; `settings` the environment, in groups.
- `replay_setup`, `diagnose_run`, `whatif`, `agent_eval`, `foresight`: what `replay`,
  `diagnose`, `whatif`, `eval` and the oracle planners run.

Only the CLI imports this package; it imports everything below it.
"""
