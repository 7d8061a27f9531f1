"""Early-warning diagnostics: one typed detector per red flag of a GPU serving cluster.
(Named `redflags`, not `diagnostics`: `benchmarks/diagnostics.py` would shadow that name
for every script run from `benchmarks/`.)

- `window` — each deployment's recent serving metrics, one sample a tick (the only state).
- `detectors_load` — burst latency, low utilisation under load, queue growth.
- `detectors_capacity` — cold starts the load waits on, remote data, cost outpacing usage.
- `causes` — the likely cause the cluster shows, and the remedy (a typed proposal).
- `engine` — `Diagnostics`: runs the detectors each tick, opens a warning after its
  condition holds, resolves it after it clears, and has the guard judge each remedy.

Pure: no I/O, no clock, no environment; the time is the snapshot's. A remedy is only
proposed: the guard judges it (its verdict rides on the warning) and nothing here acts.
Imports the core (and its tick stages), never a backend, the planners or the daemon.
"""
