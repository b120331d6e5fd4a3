"""On-disk cache of judge replies (one SQLite file), keyed by model and prompt.

Only parsable replies are stored, so a transient bad reply is asked again next time. Nothing but the model id,
the key hash and the reply text is written: no endpoint, no headers, no API key.
"""

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from agemem.rewards.judges.protocol import ChatPrompt


def cache_key(model_id: str, prompt: ChatPrompt) -> str:
    """sha256 of (model, system, user): the same question to the same model hits the same row."""
    return hashlib.sha256(json.dumps([model_id, *prompt], ensure_ascii=False).encode()).hexdigest()


class JudgeCache:
    """Reply texts by cache key, in a SQLite file created on first use (safe across processes)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, model TEXT, reply TEXT)")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30)
        try:
            with db:  # commits on success
                yield db
        finally:
            db.close()

    def get_many(self, model_id: str, prompts: Sequence[ChatPrompt]) -> list[str | None]:
        """The cached reply of each prompt, or None."""
        keys = [cache_key(model_id, p) for p in prompts]
        found: dict[str, str] = {}
        with self._connect() as db:
            for start in range(0, len(keys), 500):  # SQLite caps the number of bound parameters
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                found.update(db.execute(f"SELECT key, reply FROM replies WHERE key IN ({marks})", chunk).fetchall())
        return [found.get(k) for k in keys]

    def put_many(self, model_id: str, items: Sequence[tuple[ChatPrompt, str]]) -> None:
        """Store (prompt, reply) pairs, replacing older replies to the same prompt."""
        rows = [(cache_key(model_id, p), model_id, reply) for p, reply in items]
        with self._connect() as db:
            db.executemany("INSERT OR REPLACE INTO replies (key, model, reply) VALUES (?, ?, ?)", rows)
