"""Distractor mining for sources without distractors: BM25-nearest passages to the question (bm25s).

A mined distractor is related to the query (it shares terms with it) but is not part of the answer's material:
passages equal to one of the episode's contexts, or containing (or contained in) one of its supporting facts,
are never chosen. Passages scoring 0 (no shared term) are not related and are not used either, so an episode may
get fewer than asked. Ties break by corpus order, so mining is deterministic.
"""

import json
import logging
from pathlib import Path

import bm25s
import numpy as np

from agemem.records import Episode
from data_gen.errors import DataError
from data_gen.hotpotqa import paragraph_text
from data_gen.rows import read_records

# bm25s logs every index build at DEBUG, which Hydra's root logger would print on each run.
logging.getLogger("bm25s").setLevel(logging.WARNING)


def _corpus_from_json(path: Path) -> list[str] | None:
    """A HotpotQA-style corpus (one JSON object: title → sentences), else None."""
    text = path.read_text(encoding="utf-8").lstrip()
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None  # not one object: JSON lines, read row by row below
    passages = []
    for title, sentences in data.items():
        if not isinstance(sentences, list) or not all(isinstance(s, str) for s in sentences):
            raise DataError(str(path), 1, title, "expected a list of sentences")
        passages.append(paragraph_text(title, sentences))
    return passages


def read_corpus(path: str | Path) -> list[str]:
    """Passages of a corpus file: a HotpotQA title→sentences object, or a JSON list / JSON lines of strings or
    of objects with a `text` (and optional `title`) field. Empty passages are skipped; duplicates kept once."""
    passages = _corpus_from_json(Path(path))
    if passages is None:
        passages = []
        for record in read_records(path, objects=False):
            if isinstance(record.data, str):
                passages.append(record.data)
                continue
            text = record.need(record.data, "text", str, f"[{record.index}].text")
            title = record.data.get("title")
            passages.append(f"{title}: {text}" if isinstance(title, str) and title else text)
    return list(dict.fromkeys(p for p in passages if p.strip()))


def corpus_from_episodes(episodes: list[Episode]) -> list[str]:
    """Every distinct context message of the given episodes, in order: the pool when no corpus file is given."""
    return list(dict.fromkeys(message for episode in episodes for message in episode.contexts))


def _excluded(passage: str, own: set[str], facts: list[str]) -> bool:
    return passage in own or any(fact in passage or passage in fact for fact in facts)


class DistractorMiner:
    """A BM25 index over a corpus, answering "the k nearest passages to this question that are not its
    supporting material"."""

    def __init__(self, corpus: list[str]):
        if not corpus:
            raise ValueError("distractor mining needs a non-empty corpus")
        self.corpus = corpus
        self.retriever = bm25s.BM25()
        self.retriever.index(bm25s.tokenize(corpus, stopwords="en", show_progress=False), show_progress=False)

    def nearest(self, episode: Episode, k: int) -> list[str]:
        """Up to k passages, best first."""
        tokens = bm25s.tokenize([episode.question], stopwords="en", return_ids=False, show_progress=False)[0]
        known = [t for t in tokens if t in self.retriever.vocab_dict]
        if not known or k <= 0:
            return []
        scores = np.asarray(self.retriever.get_scores(known))
        order = np.lexsort((np.arange(len(scores)), -scores))  # by score, then corpus order
        own = set(episode.contexts)
        chosen: list[str] = []
        for index in order:
            if scores[index] <= 0 or len(chosen) == k:
                break
            if not _excluded(self.corpus[index], own, episode.supporting_facts):
                chosen.append(self.corpus[index])
        return chosen


def fill_distractors(episodes: list[Episode], corpus: list[str], k: int, corpus_name: str) -> int:
    """Give every episode that has no distractors up to k mined ones (in place); returns how many got some.

    `metadata["distractors_mined_from"]` names the corpus for the episodes that were mined.
    """
    targets = [e for e in episodes if not e.distractors]
    if not targets or k <= 0:
        return 0
    miner = DistractorMiner(corpus)
    filled = 0
    for episode in targets:
        episode.distractors = miner.nearest(episode, k)
        episode.metadata["distractors_mined_from"] = corpus_name
        filled += bool(episode.distractors)
    return filled
