"""The agent eval: the LLM planner scored by the simulated outcome of its own plan.

Cases are situations on real traces in the simulator (`cases`, `situations`); each model's
plan and the deterministic plan run for the next hour from one checkpoint and are
compared (`scoring`); `runner` runs a model over cases. Composition-root only: it builds
simulators and planners. The CLI front end is `gpusteward eval`; the benchmark is
`benchmarks/agent_eval.py`.
"""
