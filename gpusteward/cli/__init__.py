"""The `gpusteward` command: the top layer. One module per command group (`main` builds
the Typer app and holds `run`, `check`, `compare`; `policy`, `replay`, `runbook`,
`forecast`, `whatif`, `diagnose`, `agent`, `approvals`, `cluster`, `eval` the rest).

A command parses and reports; what it runs lives in `gpusteward.app` and below, so that
benchmarks and tests use the same code without importing the CLI.

A command module imports at its top only what building the app and its `--help` needs
(typer, rich, the settings, the core types); everything a command runs (the composition
root, the simulator, planners, forecasters, numpy and matplotlib, the LLM and Kubernetes
clients) is imported inside the command, with `TYPE_CHECKING` imports for annotations, so
that `gpusteward --help` starts in well under a second (tests/cli/test_startup_imports.py,
benchmarks/cli_startup.py).
"""
