"""HotpotQA → episodes: supporting paragraphs to stage 1, the others to stage 2, missing paragraphs handled."""

import json

import pytest

from data_gen import hotpotqa
from data_gen.config import DataConfig
from data_gen.errors import DataError
from data_gen.row_conversion import convert_file
from data_gen.sources import build_episodes


def _convert(path, strict=True):
    return convert_file(str(path), hotpotqa.convert, strict, "hotpotqa", "_id")


def test_fixture_items_become_episodes(fixtures):
    result = _convert(fixtures / "hotpotqa_small.json")
    assert result.rows == 4
    by_id = {e.id: e for e in result.episodes}
    full = by_id["hq-full"]
    assert full.contexts == ["Veldoria: Veldoria is a small kingdom. Its capital is Amberlin.",
                             "Amberlin: The river Sarn flows through Amberlin. Amberlin has three bridges."]
    assert full.distractors == ["Glass Harbour: Glass Harbour is a port town in Ostmark. It exports blue glass.",
                                "Ostmark: Ostmark borders Veldoria to the east."]
    assert full.supporting_facts == ["Its capital is Amberlin.", "The river Sarn flows through Amberlin."]
    assert (full.answers, full.category, full.source) == (["Sarn"], "bridge", "hotpotqa")
    assert full.metadata["empty_paragraphs"] == 1 and full.metadata["level"] == "easy"
    assert by_id["hq-numeric"].answers == ["3"]


def test_an_item_missing_some_supporting_paragraphs_keeps_what_it_has(fixtures):
    partial = {e.id: e for e in _convert(fixtures / "hotpotqa_small.json").episodes}["hq-partial"]
    assert [c.split(":")[0] for c in partial.contexts] == ["Amberlin Observatory"]
    assert partial.metadata["missing_supporting_facts"] == [["Ida Kess", 2]]
    assert partial.distractors == ["Tower Hill: Tower Hill is the highest point of Amberlin."]


def test_an_item_without_any_supporting_paragraph_is_rejected_with_the_reason(fixtures):
    rejected = _convert(fixtures / "hotpotqa_small.json").rejections
    assert [(r.item_id, r.field) for r in rejected] == [("hq-nosupport", "supporting_facts")]
    assert "Sarn (river)" in rejected[0].reason and rejected[0].line == 84


def test_json_lines_and_json_list_give_the_same_episodes(fixtures):
    lines = _convert(fixtures / "hotpotqa_small.jsonl").episodes
    listed = _convert(fixtures / "hotpotqa_small.json").episodes
    assert lines == listed[:2]


@pytest.mark.parametrize("change", [
    lambda item: item.update(context=[]),
    lambda item: item.update(context=None),
    lambda item: item.pop("context"),
    lambda item: item.update(context=[["Veldoria", None], ["Amberlin", []]]),
])
def test_an_item_with_no_paragraphs_left_is_rejected_with_the_reason(tmp_path, fixtures, change):
    items = json.loads((fixtures / "hotpotqa_small.json").read_text())
    change(items[0])
    path = tmp_path / "h.json"
    path.write_text(json.dumps(items, indent=1))
    rejected = {r.item_id: r for r in _convert(path).rejections}
    assert rejected["hq-full"].field in {"context", "supporting_facts"} and rejected["hq-full"].line == 2


def test_null_and_string_paragraphs_are_read_deliberately(tmp_path, fixtures):
    items = json.loads((fixtures / "hotpotqa_small.json").read_text())
    items[0]["context"][0][1] = None  # Glass Harbour: empty
    items[0]["context"][3][1] = "Ostmark borders Veldoria to the east."  # one sentence as a string
    path = tmp_path / "h.json"
    path.write_text(json.dumps(items))
    full = _convert(path).episodes[0]
    assert full.distractors == ["Ostmark: Ostmark borders Veldoria to the east."]
    assert full.metadata["empty_paragraphs"] == 2


@pytest.mark.parametrize("change,field,words", [
    (lambda item: item.pop("answer"), "answer", "missing required field"),
    (lambda item: item.update(question=["not", "text"]), "question", "expected a string, got list"),
    (lambda item: item.update(context={"t": []}), "context", "expected a list, got dict"),
    (lambda item: item["context"][0].__setitem__(1, 7), "context[0][1]", "expected a list of sentences, got int"),
    (lambda item: item["context"][1].append("x"), "context[1]", "[title, [sentences]] pair"),
    (lambda item: item["context"][1][1].__setitem__(0, 5), "context[1][1][0]", "expected a string, got int"),
    (lambda item: item["supporting_facts"][0].__setitem__(1, "0"), "supporting_facts[0][1]", "expected an integer"),
])
def test_malformed_items_fail_naming_file_line_and_field(tmp_path, fixtures, change, field, words):
    items = [json.loads(line) for line in (fixtures / "hotpotqa_small.jsonl").read_text().splitlines()]
    change(items[1])
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(item) + "\n" for item in items))
    with pytest.raises(DataError) as caught:
        _convert(path)
    assert str(caught.value).startswith(f"{path}:2: field {field!r}: ") and words in str(caught.value)
    lenient = _convert(path, strict=False)
    assert [e.id for e in lenient.episodes] == ["hq-full"]
    assert [(r.line, r.field, r.item_id) for r in lenient.rejections] == [(2, field, "hq-partial")]


def test_a_duplicated_item_id_names_both_lines(tmp_path, fixtures):
    path = tmp_path / "dup.jsonl"
    path.write_text((fixtures / "hotpotqa_small.jsonl").read_text() * 2)
    with pytest.raises(DataError, match=rf"{path}:3: field 'id': duplicate id 'hq-full' \(first on line 1\)"):
        _convert(path)


def test_a_truncated_file_names_its_line(tmp_path, fixtures):
    path = tmp_path / "cut.json"
    path.write_text((fixtures / "hotpotqa_small.json").read_text()[:1500])
    with pytest.raises(DataError, match=rf"{path}:\d+: field '\[\d\]': truncated"):
        _convert(path, strict=False)


def test_a_file_where_no_item_makes_an_episode_is_an_error(tmp_path, fixtures):
    items = json.loads((fixtures / "hotpotqa_small.json").read_text())
    path = tmp_path / "none.json"
    path.write_text(json.dumps([items[2]]))
    with pytest.raises(DataError, match="no row made an episode"):
        _convert(path)


def test_real_dev_file_converts_with_missing_paragraphs_reported(shared_data):
    path = shared_data / "hotpotqa" / "hotpot_dev_distractor_100.jsonl"
    result = build_episodes(DataConfig(source="hotpotqa", path=str(path)), seed=0)
    assert result.rows == 100 and len(result.episodes) + len(result.rejections) == 100
    assert result.rejections and all(r.field == "supporting_facts" for r in result.rejections)
    assert any(e.metadata["missing_supporting_facts"] for e in result.episodes)
    for episode in result.episodes:
        assert episode.contexts and len(episode.distractors) >= 7
        assert all(any(f in c for c in episode.contexts) for f in episode.supporting_facts)
        assert not set(episode.contexts) & set(episode.distractors)


def test_real_train_file_converts_every_item(shared_data):
    path = shared_data / "hotpotqa" / "hotpotqa_train100_from_HippoRAGv1.json"
    result = build_episodes(DataConfig(source="hotpotqa", path=str(path)), seed=0)
    assert len(result.episodes) == 100 and not result.rejections
    assert {e.category for e in result.episodes} == {"bridge", "comparison"}
    assert all(len(e.contexts) == 2 for e in result.episodes)
