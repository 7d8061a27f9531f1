"""The `gpusteward` command: the top layer. One module per command group (`main` builds
the Typer app and holds `run`, `check`, `compare`; `policy`, `replay`, `runbook`,
`forecast`, `whatif`, `diagnose`, `agent`, `approvals`, `cluster`, `eval` the rest).

A command parses and reports; what it runs lives in `gpusteward.app` and below, so that
benchmarks and tests use the same code without importing the CLI.
"""
