"""The agent's two memories (SPEC.md §1–2): the long-term store M_t and the short-term context C_t.

- `LongTermMemory`: entries {id, content, metadata} behind a BM25 (default) or embedding-cosine index.
- `ShortTermMemory`: the chat messages, with cached token counts, spans, summaries and similarity filtering.
- `build_state`: a fresh `AgentState` (both memories + tool settings) from a `MemoryConfig`.
"""

from agemem.memory.config import MemoryConfig
from agemem.memory.embedding import Embedder, HashingEmbedder, MiniLMEmbedder
from agemem.memory.ltm import INDEXES, LongTermMemory, MemoryEntry, UnknownMemoryId
from agemem.memory.similarity import (
    SIMILARITIES,
    EmbeddingSimilarity,
    LexicalSimilarity,
    Similarity,
    make_similarity,
)
from agemem.memory.state import AgentState, build_state
from agemem.memory.stm import BadSpan, ShortTermMemory
from agemem.memory.summarize import extractive_summary

__all__ = [
    "INDEXES",
    "SIMILARITIES",
    "AgentState",
    "BadSpan",
    "Embedder",
    "EmbeddingSimilarity",
    "HashingEmbedder",
    "LexicalSimilarity",
    "LongTermMemory",
    "MemoryConfig",
    "MemoryEntry",
    "MiniLMEmbedder",
    "ShortTermMemory",
    "Similarity",
    "UnknownMemoryId",
    "build_state",
    "extractive_summary",
    "make_similarity",
]
