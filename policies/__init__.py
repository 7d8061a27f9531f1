"""The guard: judges proposals before anything reaches the cluster.

Pure: a policy takes proposals and a snapshot and returns verdicts. No I/O, no clock.
Fails closed: an unknown action or an error in a rule denies.
"""
