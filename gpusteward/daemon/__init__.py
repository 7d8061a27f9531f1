"""The daemon: the tick loop (`loop.Daemon.run`: observe → forecast → plan → guard →
approve → execute → journal), what a restart rebuilds from the journal (`resume`) and what
a run adds up (`run_stats`). It sees backends only through `gpusteward.core.ports`."""
