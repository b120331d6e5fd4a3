"""A scripted expert for the synthetic tasks: the correct action at every step of every stage.

It reads only what the agent sees — the rendered prompt — so it runs as an `Engine` inside the real collector and
its trajectories are demonstrations in exactly the step-sample format the trainer uses (prompt ids = the context
at that step, response ids = the expert's action). Policy: store every fact (stage 1), filter each distractor by
its entity id (stage 2), retrieve the asked entity's facts and answer with the newest value (stage 3).
"""

import json
import re
from collections.abc import Iterable

import torch
from transformers import PreTrainedTokenizerBase

from agemem.records import FINISH_STOP, Generation
from agemem.rollout.engine import SamplingParams
from agemem.tools.schemas import ADD_MEMORY, FILTER_CONTEXT, RETRIEVE_MEMORY
from stages.ltm_construction import OFFICIAL_INPUT

_TURN = re.compile(r"<\|im_start\|>(\w+)\n(.*?)(?:<\|im_end\|>|$)", re.DOTALL)
_QUESTION = re.compile(r"What is (E\d+)'s (\w+)\?")
_ENTITY = re.compile(r"\bE\d+\b")
_MEMORY_LINE = re.compile(r"^- (.*) \(Memory ID: mem_(\d+)\)$", re.MULTILINE)
DONE = "<answer>done</answer>"
OFFICIAL_PREFIX, OFFICIAL_SUFFIX = OFFICIAL_INPUT.split("{content}")


def _call(name: str, arguments: dict[str, str], thought: str) -> str:
    return _calls([(name, arguments)], thought)


def _calls(calls: list[tuple[str, dict[str, str]]], thought: str) -> str:
    array = json.dumps([{"name": name, "arguments": arguments} for name, arguments in calls])
    return f"<think>{thought}</think><tool_call>{array}</tool_call>"


def _newest_value(retrieved: str, entity: str, attribute: str) -> str:
    """The value of `entity`'s `attribute` in the newest retrieved memory that states it ("unknown" if none)."""
    best_id, value = -1, "unknown"
    for content, memory_id in _MEMORY_LINE.findall(retrieved):
        match = re.search(rf"{entity}'s {attribute} is (?:now )?(.+?)\.?$", content)
        if match and int(memory_id) > best_id:
            best_id, value = int(memory_id), match.group(1)
    return value


def expert_response(prompt_text: str) -> str:
    """The expert's reply to a rendered ChatML prompt (ending with the assistant generation prompt)."""
    turns = _TURN.findall(prompt_text)
    inputs = [(role, content) for role, content in turns if role != "assistant" and role != "system"]
    if not inputs:
        return DONE
    _, last = inputs[-1]
    if last.startswith("[information]\n"):
        return _call(ADD_MEMORY, {"content": last.split("\n")[1]}, "store")
    if last.startswith(OFFICIAL_PREFIX):  # the official stage 1: every fact in one message, one Add each
        facts = last.removesuffix(OFFICIAL_SUFFIX).split("\n")[1:]  # the suffix is absent in the compact style
        return _calls([(ADD_MEMORY, {"content": fact}) for fact in facts], "store") if facts else DONE
    if last.startswith("[new message]\n"):
        entities = _ENTITY.findall(last.split("\n")[1])
        return _call(FILTER_CONTEXT, {"criteria": entities[0]}, "irrelevant") if entities else DONE
    if last.startswith("[question]\n"):
        match = _QUESTION.search(last)
        if not match:
            return "<answer>unknown</answer>"
        return _call(RETRIEVE_MEMORY, {"query": f"{match.group(1)} {match.group(2)}"}, "recall")
    if "[retrieved memories]" in last:
        questions = [c for _, c in inputs if c.startswith("[question]\n")]
        match = _QUESTION.search(questions[-1]) if questions else None
        if match:
            return f"<think>answer</think><answer>{_newest_value(last, match.group(1), match.group(2))}</answer>"
    return DONE


class ExpertEngine:
    """An `Engine` whose completions are the expert's actions (log-probs 0: it is deterministic)."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase):
        self.tokenizer = tokenizer

    def generate(self, prompts: list[list[int]], sampling: SamplingParams) -> list[Generation]:
        out = []
        for prompt in prompts:
            text = expert_response(self.tokenizer.decode(prompt, skip_special_tokens=False))
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
            out.append(Generation(ids, [0.0] * len(ids), FINISH_STOP))
        return out

    def load_weights(self, named_tensors: Iterable[tuple[str, torch.Tensor]]) -> None:
        raise TypeError("the scripted expert has no weights")
