"""The tool set of the LLM planner: read tools and proposal tools, and their schemas."""

from __future__ import annotations

from tools.base import ToolRegistry
from tools.propose import PROPOSAL_TOOLS
from tools.read import READ_TOOLS


def default_registry() -> ToolRegistry:
    """Every read tool and every proposal tool; nothing that executes or approves."""
    return ToolRegistry((*READ_TOOLS, *PROPOSAL_TOOLS))
