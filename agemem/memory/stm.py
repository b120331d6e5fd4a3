"""Short-term memory C_t (SPEC.md §1–2): the context window as an ordered list of chat messages.

`messages[0]` is always the system message; every operation (spans, summaries, filtering) works on the messages
after it and never touches it.

Spans, as `Summary_context` takes them (counted over the non-system messages):
- `"all"`: every non-system message.
- `"N"` (N ≥ 1): the last N rounds. A **round** starts at each `user` message and runs up to (not including) the
  next `user` message: one input (a context message, a distractor, the query, or an earlier summary, which is a
  user message too) with everything the agent did about it (its assistant replies and the tool results they
  produced). Messages before the first user message, if any, form one extra round of their own. Rounds are the
  unit the agent experiences (one input each), so "summarise the last 2 rounds" means the last two inputs and
  the work on them.
- `"a-b"` (1 ≤ a ≤ b ≤ number of non-system messages): messages a..b inclusive, 1-based.
Spaces around the parts are tolerated (`" 2 - 4 "`); anything else raises `BadSpan` saying why.
"""

import json
import re
from collections.abc import Callable
from typing import Any

from agemem.memory.similarity import Similarity

SPAN_HELP = "use 'all', 'N' (the last N rounds, N ≥ 1) or 'a-b' (messages a to b, 1-based, system prompt excluded)"


class BadSpan(ValueError):
    """A Summary_context span that is malformed or out of range; the message says which and why."""


class ShortTermMemory:
    """The context: chat messages {role, content}, with a per-message cached token count."""

    def __init__(self, system_prompt: str, count_tokens: Callable[[dict[str, Any]], int]):
        self.system_prompt = system_prompt
        self.count_tokens = count_tokens
        self.messages: list[dict[str, Any]] = [{"role": "system", "content": system_prompt}]
        # Keyed by the whole message (as canonical JSON), not its position: summaries and filters shift
        # positions, and identical messages (a repeated distractor) share one count.
        self._token_cache: dict[str, int] = {}

    def append(self, message: dict[str, Any]) -> None:
        """Add a message (copied) at the end. It must have a role and a content."""
        if "role" not in message or "content" not in message:
            raise ValueError(f"a context message needs 'role' and 'content', got keys {sorted(message)}")
        self.messages.append(dict(message))

    def _count(self, message: dict[str, Any]) -> int:
        key = json.dumps(message, sort_keys=True, ensure_ascii=False, default=str)
        if key not in self._token_cache:
            self._token_cache[key] = self.count_tokens(message)
        return self._token_cache[key]

    def token_count(self) -> int:
        """Tokens of the whole context: the sum of per-message counts (each distinct message counted once ever)."""
        return sum(self._count(m) for m in self.messages)

    def reset(self) -> None:
        """Drop everything but the system prompt (start of stage 2; the LTM is untouched)."""
        self.messages = self.messages[:1]

    def _round_starts(self) -> list[int]:
        """Indices (into `messages`) where each round begins; see the module docstring."""
        starts = [i for i in range(1, len(self.messages)) if self.messages[i]["role"] == "user"]
        if len(self.messages) > 1 and (not starts or starts[0] != 1):
            starts.insert(0, 1)
        return starts

    def _resolve(self, span: Any) -> tuple[int, int]:
        """The span as [start, end) indices into `messages` (start ≥ 1). Raises BadSpan."""
        if not isinstance(span, str):
            raise BadSpan(f"span must be a string, got {span!r}; {SPAN_HELP}")
        body = len(self.messages) - 1
        text = span.strip().lower()
        if body == 0:
            raise BadSpan(f"span {span!r}: the context holds no messages besides the system prompt")
        if text == "all":
            return 1, len(self.messages)
        if text.isdigit():
            rounds, starts = int(text), self._round_starts()
            if not 1 <= rounds <= len(starts):
                raise BadSpan(f"span {span!r} asks for {rounds} rounds but the context holds {len(starts)}")
            return starts[-rounds], len(self.messages)
        pair = re.fullmatch(r"(\d+)\s*-\s*(\d+)", text)
        if pair is None:
            raise BadSpan(f"malformed span {span!r}: {SPAN_HELP}")
        first, last = int(pair.group(1)), int(pair.group(2))
        if not 1 <= first <= last <= body:
            raise BadSpan(f"span {span!r} is out of range: need 1 ≤ a ≤ b ≤ {body} (the non-system messages)")
        return first, last + 1

    def span_messages(self, span: str) -> list[dict[str, Any]]:
        """Copies of the messages a span covers, in order. Raises BadSpan."""
        start, end = self._resolve(span)
        return [dict(m) for m in self.messages[start:end]]

    def summarize(self, span: str, summarizer: Callable[[list[dict[str, Any]]], str]) -> int:
        """Replace the span by ONE user message `[summary of N messages]\\n<summary>` at the span's position.

        `summarizer` gets copies of the covered messages and returns the summary text. Returns N, the number of
        messages replaced. Raises BadSpan (before calling the summarizer) for a bad span.
        """
        start, end = self._resolve(span)
        text = summarizer([dict(m) for m in self.messages[start:end]])
        replaced = end - start
        self.messages[start:end] = [{"role": "user", "content": f"[summary of {replaced} messages]\n{text}"}]
        return replaced

    def filter(self, criteria: str, threshold: float = 0.6, *, similarity: Similarity) -> int:
        """Remove every non-system message whose content's similarity to `criteria` is ≥ threshold (SPEC.md §2).

        Returns how many were removed. Note that the assistant message that issued the call quotes the criteria,
        so with a lexical similarity it is removed too (as the SPEC's rule says: every non-system message).
        """
        body = self.messages[1:]
        if not body:
            return 0
        scores = similarity.score(criteria, [str(m["content"]) for m in body])
        kept = [m for m, s in zip(body, scores) if s < threshold]
        self.messages = [self.messages[0], *kept]
        return len(body) - len(kept)

    def snapshot(self) -> list[dict[str, Any]]:
        """JSON-serialisable copy of the messages, system message first."""
        return [dict(m) for m in self.messages]
