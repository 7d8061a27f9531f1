"""The embedded GPU cluster simulator: a `ClusterSource` and `Executor` on a virtual clock.

Driven by real request-rate traces. Known only to the composition root; nothing in the
planning layers imports it. Deterministic for a given seed.
"""
