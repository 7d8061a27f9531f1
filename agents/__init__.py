"""Planners: deterministic ones and (later) the LLM planner agent, all behind `Planner`.

Planners decide; they never act, do no I/O, and read time only from the snapshot.
"""
