"""Mem-α's three-part memory (SPEC.md §6): a core paragraph, a list of semantic facts and a list of episodic events.

- core: one paragraph of at most `core_max_tokens` tokens, always shown in the prompt; it is updated (replaced as a
  whole) or cleared, never inserted into. An update over the limit is cut at a word boundary and marked with
  `TRUNCATION_MARK`, as the official code does (memory.py `memory_update`).
- semantic / episodic: items `[id] content`, appended in order; the prompt shows the `window` most recent of each.
  Ids are 4 characters of base 36 (the official code's are 4 hex characters of a uuid4): deterministic here, drawn
  from one counter shared by both lists and mixed with `id_seed`, so an id is never issued twice, not even after
  its item was deleted.

Model mistakes (an unknown id, a type that does not support the operation) raise `ValueError`s whose messages name
the memory type and id; the tool layer (`agemem.tools.mem_alpha`) turns them into error results.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agemem.memory.embedding import Embedder, MiniLMEmbedder, load_minilm
from agemem.memory.index import Bm25Index, EmbeddingIndex, MemoryIndex
from data_gen.chunks import estimate_tokens

CORE_MEMORY = "core_memory"
SEMANTIC_MEMORY = "semantic_memory"
EPISODIC_MEMORY = "episodic_memory"
MEMORY_TYPES = (CORE_MEMORY, SEMANTIC_MEMORY, EPISODIC_MEMORY)
LIST_MEMORY_TYPES = (SEMANTIC_MEMORY, EPISODIC_MEMORY)
SEARCH_METHODS = ("bm25", "text-embedding")
TRUNCATION_MARK = " [content exceeds the core memory limit, truncated]"

_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_ID_SPACE = 36**4
# Coprime with 36 (odd, digit sum not a multiple of 3): counter ↦ counter·K + offset is a bijection mod 36⁴, so
# ids stay unique for 1.68M issues while neighbouring counters get unrelated-looking ids.
_ID_STRIDE = 1_000_003


class UnknownItemId(ValueError):
    """An id that names no item of the given list memory (never issued, deleted, or of the other list)."""


class SearchUnavailable(ValueError):
    """The requested search method cannot run here (the MiniLM embedder could not be loaded)."""


@dataclass
class MemoryItem:
    """One semantic or episodic memory: its short id and its text."""

    id: str
    content: str


class MemAlphaMemory:
    """Core paragraph + semantic and episodic item lists, with the operations of Mem-α's tools.

    `count_tokens` measures the core limit and `token_count` (r3's memory_length); the default is characters / 4.
    `embedder` serves `search(method="text-embedding")`; None loads MiniLM on first use.
    """

    def __init__(
        self,
        core_max_tokens: int = 512,
        window: int = 20,
        count_tokens: Callable[[str], int] = estimate_tokens,
        id_seed: int = 0,
        embedder: Embedder | None = None,
    ) -> None:
        self.core_max_tokens = core_max_tokens
        self.window = window
        self.count_tokens = count_tokens
        self.id_seed = id_seed
        self.embedder = embedder
        self.core = ""
        self.semantic: list[MemoryItem] = []
        self.episodic: list[MemoryItem] = []
        self._issued = 0  # ids issued so far (deleted ones included): the next id's counter

    # ---- ids and lookup ------------------------------------------------------------------------------------
    def _new_id(self) -> str:
        if self._issued >= _ID_SPACE:
            raise RuntimeError(f"all {_ID_SPACE} memory ids have been issued")
        offset = (self.id_seed * 7_919 + 12_345) % _ID_SPACE
        value = (self._issued * _ID_STRIDE + offset) % _ID_SPACE
        self._issued += 1
        digits = []
        for _ in range(4):
            value, digit = divmod(value, 36)
            digits.append(_ID_ALPHABET[digit])
        return "".join(reversed(digits))

    def items(self, memory_type: str) -> list[MemoryItem]:
        """The live list of `semantic_memory` or `episodic_memory` (oldest first); ValueError for another type."""
        if memory_type == SEMANTIC_MEMORY:
            return self.semantic
        if memory_type == EPISODIC_MEMORY:
            return self.episodic
        raise ValueError(f"{memory_type!r} is not a list memory; valid: {', '.join(LIST_MEMORY_TYPES)}")

    def _position(self, memory_type: str, memory_id: Any) -> int:
        for position, item in enumerate(self.items(memory_type)):
            if item.id == memory_id:
                return position
        raise UnknownItemId(f"no {memory_type} item has id {memory_id!r}")

    # ---- the tools' operations -----------------------------------------------------------------------------
    def insert(self, memory_type: str, content: str) -> tuple[MemoryItem, bool]:
        """Append a new item: (the item, True); an item with exactly this content already in that list is kept
        instead: (the existing item, False). Core memory cannot be inserted into (ValueError)."""
        if memory_type == CORE_MEMORY:
            raise ValueError("core_memory cannot be inserted into; update it instead")
        items = self.items(memory_type)
        for item in items:
            if item.content == content:
                return item, False
        item = MemoryItem(self._new_id(), content)
        items.append(item)
        return item, True

    def update(self, memory_type: str, new_content: str, memory_id: str | None = None) -> str:
        """Replace the core paragraph (`memory_id` ignored) or one item's content; returns the content stored.

        A core paragraph over `core_max_tokens` is cut to whole words and ends with `TRUNCATION_MARK`.
        """
        if memory_type == CORE_MEMORY:
            self.core = self._fit_core(new_content)
            return self.core
        if memory_id is None:
            raise ValueError(f"updating {memory_type} needs a memory_id")
        self.items(memory_type)[self._position(memory_type, memory_id)].content = new_content
        return new_content

    def delete(self, memory_type: str, memory_id: str | None = None) -> None:
        """Clear the core paragraph (`memory_id` ignored, as in the official code) or remove one item."""
        if memory_type == CORE_MEMORY:
            self.core = ""
            return
        if memory_id is None:
            raise ValueError(f"deleting from {memory_type} needs a memory_id")
        del self.items(memory_type)[self._position(memory_type, memory_id)]

    def search(self, memory_type: str, query: str, top_k: int = 20, method: str = "bm25") -> list[MemoryItem]:
        """The `top_k` items of one list memory ranked by `method` (highest score first, older first on ties).

        As in the official code (min_score 0), items scoring 0 are not dropped: they rank after every match. A
        query without words, or an empty memory, returns [].
        """
        if method not in SEARCH_METHODS:
            raise ValueError(f"unknown search method {method!r}; valid: {', '.join(SEARCH_METHODS)}")
        if memory_type == CORE_MEMORY:
            raise ValueError("core_memory cannot be searched: it is always in the prompt")
        items = self.items(memory_type)
        if not items or not query.strip() or top_k < 1:
            return []
        index = self._index(method)
        index.fit([item.content for item in items])
        scores = index.scores(query)
        order = sorted(range(len(items)), key=lambda i: -float(scores[i]))  # stable: older first on ties
        return [items[i] for i in order[:top_k]]

    def _index(self, method: str) -> MemoryIndex:
        if method == "bm25":
            return Bm25Index()
        if self.embedder is None:
            try:
                load_minilm()  # fail here, with the method's name, rather than inside the first encode
            except (ImportError, OSError) as err:
                raise SearchUnavailable(f"search method 'text-embedding' is unavailable: {err}") from err
            self.embedder = MiniLMEmbedder()
        return EmbeddingIndex(self.embedder)

    def _fit_core(self, text: str) -> str:
        """`text` if within the core limit, else its longest word prefix that fits together with the mark."""
        if self.count_tokens(text) <= self.core_max_tokens:
            return text
        words = text.split()
        low, high = 0, len(words)  # the largest prefix length that fits (0 always "fits": the mark alone)
        while low < high:
            middle = (low + high + 1) // 2
            if self.count_tokens(" ".join(words[:middle]) + TRUNCATION_MARK) <= self.core_max_tokens:
                low = middle
            else:
                high = middle - 1
        return (" ".join(words[:low]) + TRUNCATION_MARK).strip()  # the mark alone when no word fits

    # ---- views ---------------------------------------------------------------------------------------------
    def render(self) -> str:
        """The memory block of the prompt: core (always, "Empty." when blank), then the `window` most recent items
        of semantic and of episodic memory as `[id] content` lines, each list headed by how many are hidden."""
        sections = [f"<{CORE_MEMORY}>\n{self.core.strip() or 'Empty.'}\n</{CORE_MEMORY}>"]
        for memory_type in LIST_MEMORY_TYPES:
            items = self.items(memory_type)
            shown = items[-self.window :] if self.window > 0 else []
            header = f"<{memory_type}> (showing the {len(shown)} most recent of {len(items)} items"
            header += f"; {len(items) - len(shown)} older hidden)" if len(shown) < len(items) else ")"
            body = "\n".join(f"[{item.id}] {item.content}" for item in shown) or "Empty."
            sections.append(f"{header}\n{body}\n</{memory_type}>")
        return "\n\n".join(sections)

    def token_count(self) -> int:
        """Tokens of every memory content (core + all items, hidden ones included): r3's memory_length."""
        texts = [self.core, *(item.content for item in self.semantic), *(item.content for item in self.episodic)]
        return sum(self.count_tokens(text) for text in texts if text)

    def __len__(self) -> int:
        """Number of semantic and episodic items (the core paragraph is not an item)."""
        return len(self.semantic) + len(self.episodic)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot (the token counter and embedder are not part of it)."""
        return {
            "core": self.core,
            "semantic": [{"id": i.id, "content": i.content} for i in self.semantic],
            "episodic": [{"id": i.id, "content": i.content} for i in self.episodic],
            "core_max_tokens": self.core_max_tokens,
            "window": self.window,
            "id_seed": self.id_seed,
            "ids_issued": self._issued,
        }

    @staticmethod
    def from_dict(
        data: dict[str, Any],
        count_tokens: Callable[[str], int] = estimate_tokens,
        embedder: Embedder | None = None,
    ) -> "MemAlphaMemory":
        """Rebuild a memory from `to_dict`'s output; later inserts continue its id sequence."""
        memory = MemAlphaMemory(data["core_max_tokens"], data["window"], count_tokens, data["id_seed"], embedder)
        memory.core = data["core"]
        memory.semantic = [MemoryItem(**item) for item in data["semantic"]]
        memory.episodic = [MemoryItem(**item) for item in data["episodic"]]
        memory._issued = data["ids_issued"]
        return memory
