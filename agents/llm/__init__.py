"""The LLM planner agent: a LangGraph graph for one tick, the bounded tool loop, prompts
and the compact state summary. The model reaches the cluster only through typed tools
(`tools/`) and the guard; it never executes or approves anything. Any failure falls back
to the deterministic planner, and the reason is recorded.

No SDK here: the LLM arrives as an `LlmClient` port (`gpusteward.core.llm`).
"""
