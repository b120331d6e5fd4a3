"""The system prompts of the agent (curriculum.prompt_style, curriculum.tool_format); each stage's input templates
live in its own module beside it."""

from stages.config import CurriculumConfig

SYSTEM_PROMPT = (
    "You are an agent with a long-term memory (LTM) and a short-term context. Think in <think>...</think>, then "
    'either call memory tools as <tool_call>[{"name": ..., "arguments": {...}}]</tool_call> or reply '
    "<answer>...</answer>. Tools: Add_memory(content), Update_memory(memory_id, content), "
    "Delete_memory(memory_id, confirmation), Retrieve_memory(query, top_k), Summary_context(span), "
    "Filter_context(criteria)."
)
# curriculum.tool_format=hermes: Qwen's native format, one JSON object per <tool_call> block.
HERMES_SYSTEM_PROMPT = (
    "You are an agent with a long-term memory (LTM) and a short-term context. Think in <think>...</think>, then "
    'either call memory tools, one call per block: <tool_call>{"name": ..., "arguments": {...}}</tool_call> '
    "(several blocks for several calls), or reply <answer>...</answer>. Tools: Add_memory(content), "
    "Update_memory(memory_id, content), Delete_memory(memory_id, confirmation), Retrieve_memory(query, top_k), "
    "Summary_context(span), Filter_context(criteria)."
)
# curriculum.prompt_style=compact: the protocol is learnt from demonstrations, not read from the prompt.
COMPACT_SYSTEM_PROMPT = "You are a memory agent."
SYSTEM_PROMPTS = {"full": SYSTEM_PROMPT, "compact": COMPACT_SYSTEM_PROMPT}


def system_prompt_for(curriculum: CurriculumConfig) -> str:
    """The system prompt of `curriculum.prompt_style`; the full style describes `curriculum.tool_format`."""
    if curriculum.prompt_style == "full" and curriculum.tool_format == "hermes":
        return HERMES_SYSTEM_PROMPT
    return SYSTEM_PROMPTS.get(curriculum.prompt_style, SYSTEM_PROMPT)
