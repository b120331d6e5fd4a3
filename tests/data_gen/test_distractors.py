"""BM25 distractor mining: related passages, never the episode's own material, deterministic."""

import json

import pytest

from data_gen.config import DataConfig
from data_gen.distractors import DistractorMiner, corpus_from_episodes, fill_distractors, read_corpus
from data_gen.errors import DataError
from data_gen.sources import build_episodes


def test_reads_a_hotpotqa_corpus(fixtures):
    corpus = read_corpus(fixtures / "corpus_small.json")
    assert corpus[0] == "Sarn (river): The Sarn is a river in Veldoria. It is 412 km long."
    assert len(corpus) == 6


def test_reads_lists_and_lines_of_strings_or_objects(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(["one passage", "", "one passage", "two"]))
    (tmp_path / "b.jsonl").write_text('{"title": "T", "text": "body"}\n{"text": "plain"}\n')
    assert read_corpus(tmp_path / "a.json") == ["one passage", "two"]
    assert read_corpus(tmp_path / "b.jsonl") == ["T: body", "plain"]
    (tmp_path / "c.jsonl").write_text('{"text": "ok"}\n{"body": "no text"}\n')
    with pytest.raises(DataError, match=r"c.jsonl:2: field '\[1\].text': missing required field"):
        read_corpus(tmp_path / "c.jsonl")


def test_nearest_passages_exclude_supporting_material(make_episode):
    corpus = ["Alice lives in Paris.", "Alice lives in Paris. She likes tea.", "Where does Bob live? In Rome.",
              "Alice visited Lyon.", "Cooking pasta needs water."]
    episode = make_episode(question="Where does Alice live?", contexts=["Alice lives in Paris."],
                           supporting_facts=["Alice lives in Paris."])
    mined = DistractorMiner(corpus).nearest(episode, k=5)
    assert "Alice lives in Paris." not in mined and "Alice lives in Paris. She likes tea." not in mined
    assert sorted(mined) == ["Alice visited Lyon.", "Where does Bob live? In Rome."]  # pasta: score 0, unrelated


def test_fill_only_touches_episodes_without_distractors(make_episode):
    has = make_episode("has")
    empty = make_episode("empty", distractors=[])
    stopwords_only = make_episode("what", distractors=[], question="What is it?")
    filled = fill_distractors([has, empty, stopwords_only], ["Alice went to Paris.", "Tea time."], 2, "c")
    assert filled == 1 and has.distractors == ["Bob likes tea."] and "distractors_mined_from" not in has.metadata
    assert empty.distractors == ["Alice went to Paris."] and empty.metadata["distractors_mined_from"] == "c"
    assert stopwords_only.distractors == []


def test_corpus_from_episodes_is_their_distinct_contexts(make_episode):
    episodes = [make_episode("a", contexts=["x", "y"]), make_episode("b", contexts=["y", "z"])]
    assert corpus_from_episodes(episodes) == ["x", "y", "z"]


def test_mining_from_the_real_corpus_is_deterministic(shared_data, fixtures):
    corpus = str(shared_data / "hotpotqa" / "hotpotqa_train100_corpus_from_HippoRAGv1.json")
    cfg = DataConfig(source="locomo", path=str(fixtures / "locomo_small.json"), distractor_corpus=corpus)
    first = build_episodes(cfg, seed=0).episodes
    assert first == build_episodes(cfg, seed=0).episodes
    assert len(read_corpus(corpus)) == 994
    assert all(e.metadata["distractors_mined_from"] == corpus for e in first)
    assert sum(len(e.distractors) == 3 for e in first) >= 6
