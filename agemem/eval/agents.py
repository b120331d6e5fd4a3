"""The agents `task=eval` compares (`agent=<name>`): how each runs an episode and what answers it.

An agent is an episode flow (a generator of model requests that the collector batches: the AgeMem stages or a
baseline's flow in stages/baselines.py), the system prompt and tool schemas it shows, and whether a scripted
engine answers instead of the policy model:
- `agemem`: the policy with the six memory tools through the three stages (the base model = "noRL"; a trained
  model via model.path=<hf folder>);
- `no_memory`: the policy without tools; the material stays in the conversation, cut from the oldest to fit;
- `rag`, `mem0`, `amem`: no tools; an automatic long-term memory (every message stored and top-k retrieved;
  Mem0-style facts added or updating a near-duplicate; A-Mem-style keyword notes with links), retrieved before the
  question (stages/baselines.py). `agent.llm_extraction=true` has the agent's own model extract Mem0's facts /
  write A-Mem's notes (extra model calls through the collector); false uses the rule-based extractors (offline).
- `oracle`: a harness check that must score at the top: the scripted expert on synthetic tasks
  (agemem/rollout/expert.py), the gold-reading `OracleEngine` on the QA benchmarks (agemem/rollout/oracle.py),
  the environments' reference solvers on the interactive benchmarks (agemem/rollout/env_oracle.py).
The interactive benchmarks run their own episode flow for agemem, no_memory, rag, mem0 and oracle
(stages/env_episode.py, agemem/eval/env_eval.py).
`agent.lenient_answer=true` takes a final output without an <answer> tag (its text less <think> blocks) as the
answer, for any agent (`stages.baselines.lenient_flow`); `build_agent(cfg.agent)` binds these settings.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace

from transformers import PreTrainedTokenizerBase

from agemem.eval.config import AgentConfig
from agemem.records import Episode
from agemem.rollout.collector import CollectSettings, EpisodeFlow
from agemem.rollout.engine import Engine
from agemem.rollout.expert import ExpertEngine
from agemem.rollout.oracle import OracleEngine
from stages.baselines import (
    BaselineOptions,
    amem_trajectory,
    configured_flow,
    mem0_trajectory,
    memory_system_prompt,
    no_memory_system_prompt,
    no_memory_trajectory,
    rag_trajectory,
)
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
    options: bool = False  # its flow takes `options: BaselineOptions` (the memory baselines)


AGENTS: dict[str, Agent] = {
    "agemem": Agent(run_trajectory, system_prompt_for, tools=True, memory=True, scripted=False),
    "no_memory": Agent(no_memory_trajectory, no_memory_system_prompt, tools=False, memory=False, scripted=False),
    "oracle": Agent(run_trajectory, system_prompt_for, tools=True, memory=True, scripted=True),
    "rag": Agent(rag_trajectory, memory_system_prompt, tools=False, memory=True, scripted=False, options=True),
    "mem0": Agent(mem0_trajectory, memory_system_prompt, tools=False, memory=True, scripted=False, options=True),
    "amem": Agent(amem_trajectory, memory_system_prompt, tools=False, memory=True, scripted=False, options=True),
}


def get_agent(name: str) -> Agent:
    """The agent called `name`; an unknown one raises ValueError naming `agent.name` and the valid ones."""
    if name not in AGENTS:
        raise ValueError(f"agent.name={name!r}: must be one of {sorted(AGENTS)}")
    return AGENTS[name]


def build_agent(cfg: AgentConfig) -> Agent:
    """The agent `cfg.name` with the settings of `cfg` bound into its flow (options, lenient answers); checks
    them (a ValueError names the field)."""
    agent = get_agent(cfg.name)
    if cfg.top_k < 1 or cfg.max_links < 0 or cfg.num_keywords < 1 or not 0 < cfg.dedup_threshold <= 1:
        raise ValueError(f"agent: top_k={cfg.top_k} must be >= 1, max_links={cfg.max_links} >= 0, num_keywords="
                         f"{cfg.num_keywords} >= 1, dedup_threshold={cfg.dedup_threshold} in (0, 1]")
    if cfg.llm_extraction and cfg.name not in ("mem0", "amem"):
        raise ValueError(f"agent.llm_extraction=true: only mem0 and amem extract with the model, not {cfg.name!r}")
    options = BaselineOptions(top_k=cfg.top_k, llm_extraction=cfg.llm_extraction,
                              dedup_threshold=cfg.dedup_threshold, max_links=cfg.max_links,
                              num_keywords=cfg.num_keywords) if agent.options else None
    return replace(agent, flow=configured_flow(agent.flow, options, cfg.lenient_answer))


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
