"""Schema of the `memory` config group: LTM index and STM context operations."""

from dataclasses import dataclass


@dataclass
class MemoryConfig:
    """How the long-term store indexes and the context is filtered and summarised."""

    # LTM index: bm25 (bm25s) or embedding (cosine over MiniLM sentence embeddings).
    index: str = "bm25"
    # Filter_context similarity: embedding (MiniLM cosine) or lexical (offline fallback, no model).
    similarity: str = "embedding"
    # Filter_context removes non-system messages with similarity ≥ this (SPEC.md §2: 0.6).
    filter_threshold: float = 0.6
    # Retrieve_memory's top_k when the call gives none.
    retrieve_top_k: int = 3
    # Summary_context's summariser: policy (the policy engine itself) or extractive (offline fallback).
    summarizer: str = "policy"
