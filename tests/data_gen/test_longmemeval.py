"""LongMemEval → episodes: haystack turns to stage 1, `has_answer` turns to the reference."""

import json

import pytest

from data_gen import longmemeval
from data_gen.config import DataConfig
from data_gen.errors import DataError
from data_gen.row_conversion import convert_file
from data_gen.sources import build_episodes


def _convert(path, strict=True):
    return convert_file(str(path), longmemeval.convert, strict, "longmemeval", "question_id")


def test_fixture_questions_become_episodes(fixtures):
    episodes = {e.id: e for e in _convert(fixtures / "longmemeval_small.json").episodes}
    update = episodes["fake-q1"]
    assert update.contexts[0] == "[2024/03/01 (Fri) 10:00] user: Can you suggest a pasta recipe?"
    assert len(update.contexts) == 6  # the empty turn is skipped
    assert update.supporting_facts == ["[2024/04/02 (Tue) 11:30] user: I started running 20 km every week.",
                                       "[2024/05/01 (Wed) 08:15] user: I now run 30 km each week."]
    assert update.question == "[2024/05/20 (Mon) 09:00] How many kilometres do I run each week now?"
    assert (update.answers, update.category) == (["30 km"], "knowledge-update")
    assert update.metadata["answer_session_ids"] == ["answer_s2", "answer_s3"]
    assert episodes["fake-q2_abs"].metadata["abstention"] and episodes["fake-q2_abs"].supporting_facts == []
    assert episodes["fake-q3"].answers == ["5"]


def test_distractors_are_mined_from_the_other_haystacks(fixtures):
    cfg = DataConfig(source="longmemeval", path=str(fixtures / "longmemeval_small.json"), num_distractors=2)
    episodes = {e.id: e for e in build_episodes(cfg, seed=0).episodes}
    dog = episodes["fake-q2_abs"]
    assert dog.distractors and not set(dog.distractors) & set(dog.contexts)


@pytest.mark.parametrize("change,field,words", [
    (lambda d: d[1].pop("question"), "question", "missing required field"),
    (lambda d: d[1].update(answer=None), "answer", "expected a string or an integer or a number, got NoneType"),
    (lambda d: d[1]["haystack_sessions"][0][1].update(role=1), "haystack_sessions[0][1].role", "expected a string"),
    (lambda d: d[1]["haystack_sessions"][0][0].update(has_answer="yes"), "haystack_sessions[0][0].has_answer",
     "expected a bool"),
    (lambda d: d[1]["haystack_dates"].append("2024/01/01"), "haystack_dates", "2 dates for 1 haystack sessions"),
    (lambda d: d[1].update(haystack_sessions=[{"role": "user"}]), "haystack_sessions[0]", "expected a list of turns"),
])
def test_malformed_questions_fail_naming_file_line_and_field(tmp_path, fixtures, change, field, words):
    data = json.loads((fixtures / "longmemeval_small.json").read_text())
    change(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data, indent=2))
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if '"fake-q2_abs"' in text) - 1
    with pytest.raises(DataError) as caught:
        _convert(path)
    assert str(caught.value).startswith(f"{path}:{line}: field {field!r}: ") and words in str(caught.value)
    assert [r.item_id for r in _convert(path, strict=False).rejections] == ["fake-q2_abs"]


def test_real_longmemeval_sample_converts(shared_data):
    result = _convert(shared_data / "longmemeval" / "longmemeval_s_sample2_standardized.json")
    assert [e.category for e in result.episodes] == ["knowledge-update", "multi-session"]
    for episode in result.episodes:
        assert len(episode.contexts) > 300 and episode.supporting_facts
        assert set(episode.supporting_facts) <= set(episode.contexts)
