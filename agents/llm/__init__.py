"""The LLM planner agent: the plan stage's agent graph (`agent.py`: a LangGraph graph of
model and typed-tool nodes), its limits, prompts and the compact state summary. It plans;
the tick's other stages are `gpusteward.core.stages`, shared with the daemon, replay and
runbooks. The model reaches the cluster only through typed tools (`tools/`) and the
guard; it never executes or approves anything. Any failure falls back to the
deterministic planner, and the reason is recorded.

No SDK here: the LLM arrives as an `LlmClient` port (`gpusteward.core.llm`).
"""
