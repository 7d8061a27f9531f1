"""Typed tool calls for the planner agent: pydantic args and results, registry, JSON schema.

No I/O here: tools receive the state and the ports they need from the caller.
"""
