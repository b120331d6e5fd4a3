"""How similar a context message is to a `Filter_context` criteria string (SPEC.md §2: remove when ≥ θ = 0.6).

Two implementations of one Protocol: embedding cosine (MiniLM, the default) and a lexical fallback that needs no
model. Scores lie in [0, 1] for the lexical one and in [-1, 1] for cosine; both put "a message about X" well
above 0.6 for the criteria "X" and unrelated messages well below.
"""

from typing import Protocol

from agemem.memory.embedding import Embedder, MiniLMEmbedder
from agemem.memory.text import content_words

SIMILARITIES = ("embedding", "lexical")

# Words that describe the filtering rather than the topic ("remove messages mentioning the weather"): dropped from
# the criteria side only, so they neither block nor cause a match. Stored in `content_words` form (plural folded).
_META_WORDS = frozenset(
    content_words(
        "message messages mention mentions mentioning mentioned regarding related relating concerning discuss "
        "discusses discussing discussion talk talks talking remove delete filter irrelevant anything everything "
        "something topic"
    )
)


class Similarity(Protocol):
    """Scores each text's similarity to a query (higher is more similar)."""

    def score(self, query: str, texts: list[str]) -> list[float]:
        """One score per text, in order."""
        ...


class EmbeddingSimilarity:
    """Cosine between sentence embeddings (MiniLM unless another embedder is given)."""

    def __init__(self, embedder: Embedder | None = None):
        self.embedder = embedder if embedder is not None else MiniLMEmbedder()

    def score(self, query: str, texts: list[str]) -> list[float]:
        """Cosine of each text with the query, in [-1, 1]."""
        if not texts:
            return []
        vectors = self.embedder.encode([query, *texts])
        return [float(x) for x in vectors[1:] @ vectors[0]]


class LexicalSimilarity:
    """Criteria coverage: the fraction of the criteria's content words that occur in the text.

    score(c, m) = |W(c) ∩ W(m)| / |W(c)|, where W is the set of `content_words` (lower-cased, stopwords dropped,
    plural `s` folded) and, for the criteria only, filtering words such as "messages" or "mentioning" dropped.
    It is 0 when the criteria has no content words (so a vacuous criteria removes nothing). Coverage rather than
    Jaccard because context messages are much longer than a criteria string: "weather in Paris" fully covers
    "The weather in Paris is sunny today" (1.0), whereas Jaccard would give 0.4 and never reach θ = 0.6.
    """

    def score(self, query: str, texts: list[str]) -> list[float]:
        """Coverage of the query's content words by each text, in [0, 1]."""
        wanted = set(content_words(query)) - _META_WORDS
        if not wanted:
            return [0.0 for _ in texts]
        return [len(wanted & set(content_words(t))) / len(wanted) for t in texts]


def make_similarity(name: str, embedder: Embedder | None = None) -> Similarity:
    """`embedding` (cosine; MiniLM unless another embedder is given) or `lexical` (criteria coverage)."""
    if name == "embedding":
        return EmbeddingSimilarity(embedder)
    if name == "lexical":
        return LexicalSimilarity()
    raise ValueError(f"unknown similarity {name!r}: valid similarities are {list(SIMILARITIES)}")

