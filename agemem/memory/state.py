"""The agent's memory state s_t = (C_t, M_t) plus the settings the tools need, built from `MemoryConfig`.

It lives here rather than in `agemem.tools.executor` (which re-exports it) so that building a state does not
import the tool layer, and the tool layer can import the memories without a cycle.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agemem.memory.config import MemoryConfig
from agemem.memory.embedding import MiniLMEmbedder
from agemem.memory.ltm import INDEXES, LongTermMemory
from agemem.memory.similarity import SIMILARITIES, Similarity, make_similarity
from agemem.memory.stm import ShortTermMemory

SUMMARIZERS = ("policy", "extractive")


@dataclass
class AgentState:
    """What the tools act on: the long-term store, the context, and the context tools' settings."""

    ltm: LongTermMemory
    stm: ShortTermMemory
    similarity: Similarity  # Filter_context's similarity
    filter_threshold: float = 0.6  # Filter_context removes messages with similarity ≥ this (SPEC.md §2)
    retrieve_top_k: int = 3  # Retrieve_memory's top_k when the call gives none


def build_state(
    memory_cfg: MemoryConfig, system_prompt: str, count_tokens: Callable[[dict[str, Any]], int]
) -> AgentState:
    """A fresh state for one rollout: empty LTM, a context holding only the system prompt.

    Unknown index, similarity or summarizer names raise a ValueError listing the valid ones (checked before
    anything is built). The MiniLM model is only loaded when an embedding option is chosen, and then lazily.
    """
    for key, name, valid in (
        ("index", memory_cfg.index, INDEXES),
        ("similarity", memory_cfg.similarity, SIMILARITIES),
        ("summarizer", memory_cfg.summarizer, SUMMARIZERS),
    ):
        if name not in valid:
            raise ValueError(f"memory.{key}={name!r}: valid values are {list(valid)}")
    # One embedder object for both uses; its cache and model are process-wide anyway.
    embedder = MiniLMEmbedder()
    return AgentState(
        ltm=LongTermMemory(index=memory_cfg.index, embedder=embedder),
        stm=ShortTermMemory(system_prompt, count_tokens),
        similarity=make_similarity(memory_cfg.similarity, embedder),
        filter_threshold=memory_cfg.filter_threshold,
        retrieve_top_k=memory_cfg.retrieve_top_k,
    )
