"""The agents `task=eval` compares (`agent=<name>`): how each runs an episode and what answers it.

An agent is an episode flow (a generator of model requests that the collector batches: the AgeMem stages or a
baseline's flow in stages/baselines.py), the system prompt and tool schemas it shows, and whether a scripted
engine answers instead of the policy model:
- `agemem`: the policy with the six memory tools through the three stages (the base model = "noRL"; a trained
  model via model.path=<hf folder>);
- `no_memory`: the policy without tools; the material stays in the conversation, cut from the oldest to fit;
- `oracle`: a harness check that must score at the top: the scripted expert on synthetic tasks
  (agemem/rollout/expert.py), the gold-reading `OracleEngine` on the QA benchmarks (agemem/rollout/oracle.py).
The RAG, Mem0 and A-Mem baselines slot in as further entries of `AGENTS` (a flow in stages/, maybe an engine).
"""

from collections.abc import Callable
from dataclasses import dataclass, replace

from transformers import PreTrainedTokenizerBase

from agemem.records import Episode
from agemem.rollout.collector import CollectSettings, EpisodeFlow
from agemem.rollout.engine import Engine
from agemem.rollout.expert import ExpertEngine
from agemem.rollout.oracle import OracleEngine
from stages.baselines import no_memory_system_prompt, no_memory_trajectory
from stages.config import CurriculumConfig
from stages.prompts import system_prompt_for
from stages.trajectory import run_trajectory


@dataclass(frozen=True)
class Agent:
    """How one agent runs an episode."""

    flow: EpisodeFlow  # the episode generator the collector runs
    system_prompt: Callable[[CurriculumConfig], str]  # its system prompt for the curriculum's prompt style
    tools: bool  # it has the memory tools (their schemas may be rendered: curriculum.tools_in_prompt)
    memory: bool  # it keeps a long-term memory: memory quality and joint are reported
    scripted: bool  # a scripted engine answers (`scripted_engine`), not the policy model


AGENTS: dict[str, Agent] = {
    "agemem": Agent(run_trajectory, system_prompt_for, tools=True, memory=True, scripted=False),
    "no_memory": Agent(no_memory_trajectory, no_memory_system_prompt, tools=False, memory=False, scripted=False),
    "oracle": Agent(run_trajectory, system_prompt_for, tools=True, memory=True, scripted=True),
}


def get_agent(name: str) -> Agent:
    """The agent called `name`; an unknown one raises ValueError naming `agent.name` and the valid ones."""
    if name not in AGENTS:
        raise ValueError(f"agent.name={name!r}: must be one of {sorted(AGENTS)}")
    return AGENTS[name]


def agent_settings(agent: Agent, settings: CollectSettings) -> CollectSettings:
    """The collector settings that run `agent`: its flow, its system prompt, no tool schemas without tools."""
    curriculum = settings.curriculum if agent.tools else replace(settings.curriculum, tools_in_prompt=False)
    return replace(settings, curriculum=curriculum, system_prompt=agent.system_prompt(curriculum),
                   episode_flow=agent.flow)


def scripted_engine(benchmark: str, tokenizer: PreTrainedTokenizerBase, episodes: list[Episode],
                    curriculum: CurriculumConfig) -> Engine:
    """The engine of a scripted agent: the expert on synthetic tasks, else the gold-reading oracle."""
    if benchmark == "synthetic":
        return ExpertEngine(tokenizer)
    return OracleEngine(tokenizer, episodes, curriculum)
