"""Runbooks and replay (typed remediation procedures, journal replay, what-if).

Reads only the journal through its port; receives planners and policies injected.
"""
