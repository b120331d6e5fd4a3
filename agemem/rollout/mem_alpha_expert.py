"""A scripted Mem-α writer for the synthetic chunk streams: the demonstrations `task=sft` imitates before RL.

Like the AgeMem expert (expert.py) it reads only what the agent sees — the rendered write-turn prompt — and runs as
an `Engine` inside the real collector, so its trajectories are step samples in exactly the trainer's format. Policy:
every fact line of the chunk ("Entity E12's age is 34.", "Update: E12's age is now 35.") becomes one semantic
memory ("E12's age is 34", "E12's age is now 35"), all in one response; other lines are not stored. It never
updates the core memory or deletes (a minimal, always-valid writer that RL can improve on).

With `store_rate` < 1 it is an inconsistent writer: it stores only that share of the facts, the rest it passes over
(a chunk left with none is answered "nothing to store"). Which facts is fixed by a hash of the fact's text, so the
demonstrations are reproducible, yet unpredictable from the chunk: a model imitating them learns to store with
probability ~store_rate, a decision RL can then improve on (the Mem-α CPU demo, issue 18).
"""

import json
import re
import zlib
from collections.abc import Iterable

import torch
from transformers import PreTrainedTokenizerBase

from agemem.records import FINISH_STOP, Generation
from agemem.rollout.engine import SamplingParams

_CHUNK = re.compile(r"<new_chunk>\n(.*?)\n</new_chunk>", re.DOTALL)
_FACT = re.compile(r"^(?:Entity |Update: )?(E\d+'s \w+ is (?:now )?[^.]+)\.?$")
NOTHING = "<answer>nothing to store</answer>"


def fact_lines(chunk: str) -> list[str]:
    """The facts of a synthetic chunk, one per line, without the "Entity "/"Update: " prefix and final period."""
    return [m.group(1) for line in chunk.splitlines() if (m := _FACT.match(line.strip()))]


def render_calls(calls: list[tuple[str, dict[str, str]]], tool_format: str) -> str:
    """The calls in `tool_format`'s syntax (stages/mem_alpha.SYNTAX describes each to the agent)."""
    if tool_format == "agemem":
        array = json.dumps([{"name": n, "arguments": a} for n, a in calls])
        return f"<tool_call>{array}</tool_call>"
    if tool_format == "hermes":
        return "".join(f"<tool_call>{json.dumps({'name': n, 'arguments': a})}</tool_call>" for n, a in calls)
    if tool_format == "qwen_agent":
        return "\n".join(f"✿FUNCTION✿: {n}\n✿ARGS✿: {json.dumps(a)}" for n, a in calls)
    raise ValueError(f"mem_alpha.tool_format={tool_format!r}: the expert writes agemem, hermes or qwen_agent")


def stored(fact: str, store_rate: float) -> bool:
    """Whether the inconsistent writer stores `fact`: a fixed pseudo-random draw from its text (crc32 / 2^32)."""
    return zlib.crc32(fact.encode()) < store_rate * 2**32


def expert_write(prompt_text: str, tool_format: str, store_rate: float = 1.0) -> str:
    """The expert's response to one rendered write-turn prompt, storing `store_rate` of the facts (see `stored`)."""
    chunks = _CHUNK.findall(prompt_text)
    facts = [f for f in fact_lines(chunks[-1]) if stored(f, store_rate)] if chunks else []
    if not facts:
        return NOTHING
    calls = [("new_memory_insert", {"memory_type": "semantic_memory", "content": fact}) for fact in facts]
    return render_calls(calls, tool_format)


class MemAlphaExpertEngine:
    """An `Engine` whose completions are the scripted writer's (log-probs 0: it is deterministic)."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, tool_format: str, store_rate: float = 1.0):
        render_calls([], tool_format)  # an unknown format fails here, naming the key
        if not 0.0 <= store_rate <= 1.0:
            raise ValueError(f"sft.expert_store_rate={store_rate}: must be in [0, 1]")
        self.tokenizer = tokenizer
        self.tool_format = tool_format
        self.store_rate = store_rate

    def generate(self, prompts: list[list[int]], sampling: SamplingParams) -> list[Generation]:
        out = []
        for prompt in prompts:
            text = expert_write(self.tokenizer.decode(prompt, skip_special_tokens=False), self.tool_format,
                                self.store_rate)
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
            out.append(Generation(ids, [0.0] * len(ids), FINISH_STOP))
        return out

    def load_weights(self, named_tensors: Iterable[tuple[str, torch.Tensor]]) -> None:
        raise TypeError("the scripted writer has no weights")
