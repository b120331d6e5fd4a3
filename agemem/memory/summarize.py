"""The offline `Summary_context` summariser: extractive, deterministic, no model.

SPEC.md §2 lets the summariser be the policy, a separate model, or an extractive fallback; this is the fallback.
It keeps whole original sentences, so names, dates and places survive verbatim (R_preservation checks for the
query's key terms in the context, "directly or via a summary").
"""

import re
from collections import Counter
from typing import Any

from agemem.memory.text import content_words, split_sentences

# Agent-internal markup: the reasoning and the raw tool-call JSON are not facts worth keeping in a summary.
_MARKUP = re.compile(r"<think>.*?(</think>|$)|<tool_call>.*?(</tool_call>|$)", flags=re.DOTALL)
# Result headers such as "[memory tool result]" or "[summary of 3 messages]".
_HEADER = re.compile(r"^\[[^\]\n]*\]\s*", flags=re.MULTILINE)
_MAX_SENTENCE_CHARS = 300


def _sentences(messages: list[dict[str, Any]]) -> list[str]:
    """Every sentence of the messages' contents in order, markup and headers removed, answer tags unwrapped."""
    out = []
    for message in messages:
        text = _MARKUP.sub(" ", str(message.get("content", "")))
        text = _HEADER.sub("", re.sub(r"</?answer>", "", text))
        out.extend(split_sentences(text))
    return out


def extractive_summary(messages: list[dict[str, Any]], max_sentences: int = 3) -> str:
    """The `max_sentences` most central sentences of the messages, in their original order, joined by spaces.

    A sentence's centrality is the number of distinct content words it shares with the other sentences (what the
    span keeps talking about), ties broken by position. Duplicate sentences count once; each kept sentence is cut
    to 300 characters. Returns "(nothing to summarize)" when the messages hold no sentence.
    """
    sentences = list(dict.fromkeys(_sentences(messages)))
    if not sentences:
        return "(nothing to summarize)"
    words = [set(content_words(s)) for s in sentences]
    # A word is shared with another sentence exactly when it occurs in at least two sentences.
    spread = Counter(w for ws in words for w in ws)
    centrality = [sum(spread[w] >= 2 for w in ws) for ws in words]
    chosen = sorted(sorted(range(len(sentences)), key=lambda i: (-centrality[i], i))[:max_sentences])
    return " ".join(_trim(sentences[i]) for i in chosen)


def _trim(sentence: str) -> str:
    return sentence if len(sentence) <= _MAX_SENTENCE_CHARS else sentence[: _MAX_SENTENCE_CHARS - 1] + "…"
