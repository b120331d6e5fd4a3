"""The oracle of the QA benchmarks (HotpotQA, LoCoMo, LongMemEval): a harness check, never a baseline.

`OracleEngine` is an `Engine` that is handed the episodes and reads their gold: it answers each question with the
episode's gold answer and stores each episode's supporting facts. It runs through the real collector and the AgeMem
stages like the policy, so an evaluation of it checks the harness end to end, not a model:
- every question reaches its stage-3 prompt intact (the oracle finds the episode by the exact question message it
  sees) and every episode yields a row;
- the answer survives generation, decoding, parsing and the judge: J = 1 (rule judge), EM = F1 = 1 on every item
  (HotpotQA; LoCoMo and LongMemEval score by their own rules), so any lower figure is a harness bug;
- the stored LTM holds the supporting facts: memory quality 1 under the rule judge (the share of supporting facts
  held by some entry), and joint = 1.

Policy, from the rendered prompt (ChatML, like the scripted expert of `agemem/rollout/expert.py`, which is the
oracle of the synthetic tasks): a stage-1 input → one Add_memory call per supporting fact that the input's text
contains (of any episode sharing that input; facts no single input contains are stored at the episode's last
input), plus Summary_context("all") once the prompt passes the auto-stop threshold (so that LoCoMo's and
LongMemEval's hundreds of stage-1 messages do not pile up in the context); a stage-3 question →
`<answer>gold</answer>`; anything else (a tool result, a distractor) → `<answer>done</answer>`. A question asked by
two episodes with different golds cannot be told apart and raises.
"""

import json
import re
from collections.abc import Iterable

import torch
from transformers import PreTrainedTokenizerBase

from agemem.records import FINISH_STOP, Episode, Generation
from agemem.rollout.engine import SamplingParams
from agemem.tools.schemas import ADD_MEMORY, SUMMARY_CONTEXT
from stages.config import CurriculumConfig
from stages.integrated_reasoning import QUESTION_INPUT
from stages.ltm_construction import stage1_inputs
from stages.turn import input_text

_TURN = re.compile(r"<\|im_start\|>(\w+)\n(.*?)(?:<\|im_end\|>|$)", re.DOTALL)
DONE = "<answer>done</answer>"


def _last_input(prompt_text: str) -> str:
    """The text of the prompt's last non-assistant, non-system turn ("" when there is none)."""
    turns = [content for role, content in _TURN.findall(prompt_text) if role not in ("assistant", "system")]
    return turns[-1].strip() if turns else ""


def _facts_by_input(episode: Episode, curriculum: CurriculumConfig) -> dict[str, list[str]]:
    """Stage-1 input text → the episode's supporting facts it contains; the facts that no input contains go with
    the last input."""
    inputs = [text.strip() for text in stage1_inputs(episode, curriculum.stage1_variant, curriculum.prompt_style)]
    out: dict[str, list[str]] = {text: [] for text in inputs}
    for fact in episode.supporting_facts:
        holders = [text for text in inputs if fact in text] or inputs[-1:]
        out[holders[0]].append(fact)
    return out


class OracleEngine:
    """An `Engine` that answers from the episodes' gold (module docstring); log-probs 0: it is deterministic."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, episodes: list[Episode], curriculum: CurriculumConfig):
        self.tokenizer = tokenizer
        self.compact_above = int(curriculum.early_stop_fraction * curriculum.context_budget)  # prompt tokens
        self.facts: dict[str, list[str]] = {}
        self.golds: dict[str, set[str]] = {}
        for episode in episodes:
            for text, facts in _facts_by_input(episode, curriculum).items():
                known = self.facts.setdefault(text, [])
                known += [f for f in facts if f not in known]
            question = input_text(QUESTION_INPUT, curriculum.prompt_style, question=episode.question).strip()
            self.golds.setdefault(question, set()).add(episode.answers[0])

    def respond(self, prompt_text: str, prompt_tokens: int = 0) -> str:
        """The oracle's reply to one rendered prompt of `prompt_tokens` tokens."""
        last = _last_input(prompt_text)
        if last in self.golds:
            golds = self.golds[last]
            if len(golds) > 1:
                raise ValueError(f"oracle: the question {last!r} has different gold answers {sorted(golds)} in "
                                 "the evaluated episodes; it cannot tell them apart")
            return f"<think>the gold answer</think><answer>{next(iter(golds))}</answer>"
        if last not in self.facts:
            return DONE
        calls = [{"name": ADD_MEMORY, "arguments": {"content": fact}} for fact in self.facts[last]]
        if prompt_tokens > self.compact_above:
            calls.append({"name": SUMMARY_CONTEXT, "arguments": {"span": "all"}})
        if not calls:
            return DONE
        return f"<think>store the supporting facts</think><tool_call>{json.dumps(calls)}</tool_call>"

    def generate(self, prompts: list[list[int]], sampling: SamplingParams) -> list[Generation]:
        out = []
        for prompt in prompts:
            text = self.respond(self.tokenizer.decode(prompt, skip_special_tokens=False), len(prompt))
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
            out.append(Generation(ids, [0.0] * len(ids), FINISH_STOP))
        return out

    def load_weights(self, named_tensors: Iterable[tuple[str, torch.Tensor]]) -> None:
        raise TypeError("the oracle has no weights")
