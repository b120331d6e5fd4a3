"""The oracle of the interactive benchmarks (`agent=oracle` on ALFWorld, ScienceWorld, BabyAI, PDDL): a harness
check, never a baseline.

`EnvOracleEngine` is an `Engine` that plays each environment's reference solver (`TextEnv.oracle_actions`:
ALFWorld's walkthrough, ScienceWorld's gold path, the BabyAI bot, the PDDL planner) through the real collector and
the env episode of stages/env_episode.py, like a policy: every action is generated as token ids, decoded, parsed
from `<answer>…</answer>` and sent to the environment. So a run of it checks the harness end to end: every task
reaches its reset, every action survives rendering, generation, decoding and parsing, and the success the
environment reports reaches the row. Any task below success is a harness (or oracle) bug.

It reads only the rendered prompt (ChatML, like the scripted engines of expert.py and oracle.py): the task from the
episode's first message (`[task <env> <task id>]`, never cut from the context) and how many steps were taken
from the newest observation (`[step n]`; none yet: the task message). The plans come from the `OraclePlans` the
episodes fill before their reset (each episode computes its own task's plan on its own environment).
"""

import re
from collections.abc import Iterable

import torch
from transformers import PreTrainedTokenizerBase

from agemem.records import FINISH_STOP, Generation
from agemem.rollout.engine import SamplingParams
from stages.env_episode import STEP_HEADER, TASK_HEADER, OraclePlans

_TURN = re.compile(r"<\|im_start\|>(\w+)\n(.*?)(?:<\|im_end\|>|$)", re.DOTALL)


def oracle_reply(prompt_text: str, plans: OraclePlans) -> str:
    """The oracle's reply to one rendered prompt: `<answer>` + the plan's next action."""
    inputs = [content.strip() for role, content in _TURN.findall(prompt_text) if role == "user"]
    task = next((m for m in (TASK_HEADER.match(c) for c in inputs) if m), None)
    if task is None:
        raise ValueError("env oracle: the prompt has no [task <env> <id>] message; it only plays env episodes")
    step = STEP_HEADER.match(inputs[-1])
    index = int(step.group(1)) if step else 0
    return f"<think>the oracle's step {index + 1}</think><answer>{plans.action(task.group(2), index)}</answer>"


class EnvOracleEngine:
    """An `Engine` whose completions are the oracle's actions (log-probs 0: it is deterministic)."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, plans: OraclePlans):
        self.tokenizer = tokenizer
        self.plans = plans

    def generate(self, prompts: list[list[int]], sampling: SamplingParams) -> list[Generation]:
        out = []
        for prompt in prompts:
            text = oracle_reply(self.tokenizer.decode(prompt, skip_special_tokens=False), self.plans)
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
            out.append(Generation(ids, [0.0] * len(ids), FINISH_STOP))
        return out

    def load_weights(self, named_tensors: Iterable[tuple[str, torch.Tensor]]) -> None:
        raise TypeError("the env oracle has no weights")
