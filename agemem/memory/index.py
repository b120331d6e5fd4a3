"""Search indexes over the LTM's entry contents: BM25 (bm25s) and cosine over sentence embeddings.

An index is fitted on the whole (small: tens of entries) list of contents and then scores a query against every
document; the LTM does ranking, filtering and tie-breaking itself, so both indexes only need `fit` and `scores`.
Shape legend: N documents.
"""

import os
from typing import Protocol

# bm25s runs a jax top-k at import when jax is installed; on a GPU node jax would then reserve 75% of the GPU's
# memory for itself before training starts (seen on an H200). Its top-k on a few entries belongs on the CPU.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import bm25s
import numpy as np

from agemem.memory.embedding import Embedder
from agemem.memory.text import content_words


class MemoryIndex(Protocol):
    """Scores a query against the documents of the last `fit` (higher is more similar)."""

    def fit(self, documents: list[str]) -> None:
        """Index these documents, replacing whatever was indexed before."""
        ...

    def scores(self, query: str) -> np.ndarray:
        """Shape: (N,), one score per fitted document, in fit order."""
        ...


class Bm25Index:
    """BM25 (bm25s, Lucene variant, k1=1.5, b=0.75) over `content_words` tokens.

    bm25s fails on three tiny-corpus cases, handled here rather than patched around elsewhere: a corpus whose
    documents have no tokens at all (it cannot build a vocabulary), a query token missing from the vocabulary
    (it raises), and an empty query (it indexes into an empty list). Such cases score 0.
    """

    def __init__(self) -> None:
        self._model: bm25s.BM25 | None = None
        self._size = 0

    def fit(self, documents: list[str]) -> None:
        """Index the documents' content words; a corpus with no words at all gets no model (all scores 0)."""
        tokens = [content_words(d) for d in documents]
        self._size = len(documents)
        self._model = None
        if any(tokens):
            self._model = bm25s.BM25()
            self._model.index(tokens, show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        """Shape: (N,). BM25 score of each document; 0 when it shares no content word with the query."""
        if self._model is None:
            return np.zeros(self._size, dtype=np.float32)
        vocab = self._model.vocab_dict
        # Each distinct known word once, in first-seen order, so the float sum is order-stable.
        words = [w for w in dict.fromkeys(content_words(query)) if w and w in vocab]
        if not words:
            return np.zeros(self._size, dtype=np.float32)
        return np.asarray(self._model.get_scores(words), dtype=np.float32)


class EmbeddingIndex:
    """Cosine similarity between the query's and each document's sentence embedding."""

    def __init__(self, embedder: Embedder):
        self.embedder = embedder
        self._matrix: np.ndarray | None = None

    def fit(self, documents: list[str]) -> None:
        """Embed every document (embedders cache per text, so refitting after one change is cheap)."""
        self._matrix = self.embedder.encode(documents) if documents else None

    def scores(self, query: str) -> np.ndarray:
        """Shape: (N,). Cosine in [-1, 1] (embeddings are unit length)."""
        if self._matrix is None:
            return np.zeros(0, dtype=np.float32)
        query_vector = self.embedder.encode([query])[0]
        return (self._matrix @ query_vector).astype(np.float32)
