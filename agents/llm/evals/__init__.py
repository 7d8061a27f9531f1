"""Eval cases and the harness that scores the LLM planner against a real endpoint."""
