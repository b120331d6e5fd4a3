"""Long-term memory M_t (SPEC.md §1–2): a store of entries {id, content, metadata} behind a search index.

Ids are `mem_1`, `mem_2`, … in creation order and are never reused, even after a delete, so an id the agent saw
earlier can never silently point at a different memory. Time is a logical clock (one tick per add or update)
instead of wall time, so the same trajectory always produces the same store.
"""

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from agemem.memory.embedding import Embedder, MiniLMEmbedder
from agemem.memory.index import Bm25Index, EmbeddingIndex, MemoryIndex
from agemem.memory.text import normalise

INDEXES = ("bm25", "embedding")
_ID = re.compile(r"mem_(\d+)")


@dataclass
class MemoryEntry:
    """One long-term memory. `metadata` always holds timestamp, source, tags and memory_type (plus any extras)."""

    id: str
    content: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable copy."""
        return {"id": self.id, "content": self.content, "metadata": copy.deepcopy(self.metadata)}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "MemoryEntry":
        return MemoryEntry(str(data["id"]), str(data["content"]), copy.deepcopy(dict(data.get("metadata", {}))))


class UnknownMemoryId(KeyError):
    """An id that names no live entry (never created, or deleted). The tool layer turns it into an error result."""

    def __init__(self, memory_id: Any):
        super().__init__(memory_id)
        self.memory_id = memory_id

    def __str__(self) -> str:
        return f"unknown memory id {self.memory_id!r}"


def make_index(name: str, embedder: Embedder | None = None) -> MemoryIndex:
    """`bm25` or `embedding` (cosine; MiniLM unless another embedder is given)."""
    if name == "bm25":
        return Bm25Index()
    if name == "embedding":
        return EmbeddingIndex(embedder if embedder is not None else MiniLMEmbedder())
    raise ValueError(f"unknown LTM index {name!r}: valid indexes are {list(INDEXES)}")


def _matches(metadata: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Every wanted key/value is in the metadata; a scalar wanted value also matches inside a list (tags)."""
    for key, value in wanted.items():
        if key not in metadata:
            return False
        have = metadata[key]
        if have == value or (isinstance(have, list) and not isinstance(value, list) and value in have):
            continue
        return False
    return True


class LongTermMemory:
    """The LTM store. Changes mark the index stale; the next search refits it (stores hold tens of entries, and
    a refit is ~1 ms for BM25 and free for cached embeddings, so laziness beats incremental bookkeeping)."""

    def __init__(self, index: str = "bm25", embedder: Embedder | None = None):
        self.index_name = index
        self._index = make_index(index, embedder)
        self._entries: dict[str, MemoryEntry] = {}  # insertion order = id order (an update keeps the position)
        self._next_id = 1
        self._clock = 0
        self._stale = True

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, memory_id: object) -> bool:
        return memory_id in self._entries

    def _tick(self) -> int:
        self._clock += 1
        return self._clock

    def add(self, content: str, metadata: dict[str, Any] | None = None, memory_type: str | None = None) -> str:
        """Store a new entry and return its fresh id. Given metadata wins over the defaults (timestamp = the
        logical clock, source None, tags [], memory_type None); the `memory_type` argument wins over both."""
        memory_id = f"mem_{self._next_id}"
        self._next_id += 1
        meta: dict[str, Any] = {"timestamp": self._tick(), "source": None, "tags": [], "memory_type": None}
        meta.update(copy.deepcopy(metadata or {}))
        if memory_type is not None:
            meta["memory_type"] = memory_type
        self._entries[memory_id] = MemoryEntry(memory_id, content, meta)
        self._stale = True
        return memory_id

    def update(self, memory_id: str, content: str, metadata: dict[str, Any] | None = None) -> None:
        """Replace an entry's content; given metadata keys replace the old ones, the rest are kept; the timestamp
        moves to the current clock unless the metadata sets one. Unknown id → UnknownMemoryId."""
        entry = self._live(memory_id)
        entry.content = content
        entry.metadata["timestamp"] = self._tick()
        entry.metadata.update(copy.deepcopy(metadata or {}))
        self._stale = True

    def delete(self, memory_id: str) -> None:
        """Remove an entry; its id is never handed out again. Unknown id → UnknownMemoryId."""
        self._live(memory_id)
        del self._entries[memory_id]
        self._stale = True

    def _live(self, memory_id: Any) -> MemoryEntry:
        if not isinstance(memory_id, str) or memory_id not in self._entries:
            raise UnknownMemoryId(memory_id)
        return self._entries[memory_id]

    def get(self, memory_id: str) -> MemoryEntry:
        """A copy of one entry. Unknown id → UnknownMemoryId."""
        return MemoryEntry.from_dict(self._live(memory_id).to_dict())

    def entries(self) -> list[MemoryEntry]:
        """Copies of every live entry in insertion (= id) order."""
        return [MemoryEntry.from_dict(e.to_dict()) for e in self._entries.values()]

    def search(
        self, query: str, top_k: int = 3, metadata_filter: dict[str, Any] | None = None
    ) -> list[tuple[MemoryEntry, float]]:
        """The top_k most similar live entries, best first, as (copy of entry, index score).

        Only entries matching `metadata_filter` (every key/value; a scalar also matches inside a list such as
        tags) and scoring above 0 (BM25: sharing a content word; cosine: > 0) are returned. An entry whose
        content equals the query (case and whitespace aside) is ranked before all others whatever its score:
        BM25's length normalisation can otherwise put a longer entry above the very text the agent asked for.
        Ties break by id order. An empty store gives [].
        """
        if not self._entries or top_k < 1:
            return []
        entries = list(self._entries.values())
        if self._stale:
            self._index.fit([e.content for e in entries])
            self._stale = False
        scores = self._index.scores(query)
        target = normalise(query)
        ranked = []
        for position, (entry, score) in enumerate(zip(entries, scores)):
            exact = bool(target) and normalise(entry.content) == target
            if (score > 0 or exact) and _matches(entry.metadata, metadata_filter or {}):
                ranked.append((not exact, -float(score), position, entry))
        ranked.sort(key=lambda item: item[:3])
        return [(MemoryEntry.from_dict(e.to_dict()), -neg) for _, neg, _, e in ranked[:top_k]]

    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state: {"next_id", "clock", "entries": [entry dicts in order]}.

        A dict rather than a bare entry list because the id counter must survive: after deleting the newest
        entry, the next id is not derivable from the live ids. (`[e.to_dict() for e in entries()]` is the list.)
        """
        entries = [e.to_dict() for e in self._entries.values()]
        return {"next_id": self._next_id, "clock": self._clock, "entries": entries}

    @classmethod
    def restore(
        cls, snapshot: dict[str, Any] | list[dict[str, Any]], index: str = "bm25", embedder: Embedder | None = None
    ) -> "LongTermMemory":
        """Rebuild a store from `snapshot()` exactly. A bare entry list is accepted too: the counters are then
        inferred from the highest `mem_<n>` id and integer timestamp (exact unless the newest entry was deleted)."""
        store = cls(index=index, embedder=embedder)
        if isinstance(snapshot, dict):
            entries = [MemoryEntry.from_dict(d) for d in snapshot["entries"]]
            store._next_id, store._clock = int(snapshot["next_id"]), int(snapshot["clock"])
        else:
            entries = [MemoryEntry.from_dict(d) for d in snapshot]
            numbers = [int(m.group(1)) for e in entries if (m := _ID.fullmatch(e.id))]
            stamps = [t for e in entries if isinstance(t := e.metadata.get("timestamp"), int)]
            store._next_id, store._clock = max(numbers, default=0) + 1, max(stamps, default=0)
        store._entries = {e.id: e for e in entries}
        return store
