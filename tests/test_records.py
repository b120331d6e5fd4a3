"""Episode validation: every rule names the field it is about."""

import re

import pytest

from agemem.records import Episode, episode_problems


def test_a_valid_episode_has_no_problems(make_episode):
    assert episode_problems(make_episode().to_dict()) == []


def test_optional_fields_may_be_absent(make_episode):
    data = make_episode().to_dict()
    for name in ("supporting_facts", "category", "metadata"):
        del data[name]
    assert episode_problems(data) == []
    assert Episode.from_dict(data).metadata == {}


@pytest.mark.parametrize("name,value,field,words", [
    ("id", "", "id", "empty"),
    ("id", 7, "id", "expected a string"),
    ("question", "   ", "question", "empty"),
    ("contexts", [], "contexts", "at least one"),
    ("contexts", "one string", "contexts", "expected a list"),
    ("contexts", ["ok", 3], "contexts[1]", "expected a string"),
    ("answers", [], "answers", "at least one"),
    ("answers", [""], "answers[0]", "empty"),
    ("distractors", ["", "x"], "distractors[0]", "empty"),
    ("supporting_facts", None, "supporting_facts", "expected a list"),
    ("category", 5, "category", "expected a string"),
    ("metadata", [], "metadata", "expected an object"),
    ("metadata", {"x": {1, 2}}, "metadata", "JSON"),
])
def test_each_invalid_field_is_named(make_episode, name, value, field, words):
    data = make_episode().to_dict() | {name: value}
    problems = episode_problems(data)
    assert problems and problems[0][0] == field and words in problems[0][1]


def test_missing_and_unknown_fields_are_named(make_episode):
    data = make_episode().to_dict()
    del data["answers"]
    data["answer"] = "Paris"
    assert ("answer", "unknown field") in episode_problems(data)
    assert ("answers", "missing required field") in episode_problems(data)


def test_empty_distractors_are_allowed(make_episode):
    assert episode_problems(make_episode(distractors=[]).to_dict()) == []


def test_from_dict_raises_naming_the_field(make_episode):
    with pytest.raises(ValueError, match="'answers'"):
        Episode.from_dict(make_episode().to_dict() | {"answers": "Paris"})


def _with_questions(make_episode, *extra):
    """An episode whose questions are its own question, then `extra` entries."""
    first = {"question": "Where does Alice live?", "answers": ["Paris"], "category": "single_hop",
             "metric": "substring_em"}
    return make_episode(questions=[first, *extra]).to_dict()


def test_questions_are_optional_and_old_files_load(make_episode):
    data = make_episode().to_dict()
    assert data["questions"] == [] and episode_problems(data) == []
    del data["questions"]  # an episodes.jsonl written before the field existed
    assert Episode.from_dict(data).questions == []


def test_valid_questions_have_no_problems(make_episode):
    data = _with_questions(make_episode, {"question": "Who?", "answers": ["Bob", "Robert"]},
                           {"question": "Score?", "answers": ["7"], "metric": "exact_match", "category": ""})
    assert episode_problems(data) == []
    assert Episode.from_dict(data).questions[2]["metric"] == "exact_match"


@pytest.mark.parametrize("entry,field,words", [
    ("Who?", "questions[1]", "expected an object"),
    ({"answers": ["x"]}, "questions[1].question", "missing"),
    ({"question": " ", "answers": ["x"]}, "questions[1].question", "empty"),
    ({"question": "Who?"}, "questions[1].answers", "missing"),
    ({"question": "Who?", "answers": []}, "questions[1].answers", "at least one"),
    ({"question": "Who?", "answers": "Bob"}, "questions[1].answers", "expected a list"),
    ({"question": "Who?", "answers": ["Bob", ""]}, "questions[1].answers[1]", "empty"),
    ({"question": "Who?", "answers": ["Bob"], "category": 5}, "questions[1].category", "expected a string"),
    ({"question": "Who?", "answers": ["Bob"], "metric": "f1"}, "questions[1].metric", "is not one of"),
    ({"question": "Who?", "answers": ["Bob"], "evidence": []}, "questions[1].evidence", "unknown field"),
])
def test_each_invalid_question_is_named(make_episode, entry, field, words):
    problems = episode_problems(_with_questions(make_episode, entry))
    assert problems and problems[0][0] == field and words in problems[0][1]


def test_questions_must_be_a_list(make_episode):
    problems = episode_problems(make_episode().to_dict() | {"questions": {"question": "Where?"}})
    assert problems == [("questions", "expected a list of objects, got dict")]


@pytest.mark.parametrize("first,field", [
    ({"question": "Where does Bob live?", "answers": ["Paris"]}, "questions[0].question"),
    ({"question": "Where does Alice live?", "answers": ["Lyon"]}, "questions[0].answers"),
])
def test_the_first_question_must_repeat_the_episodes_own(make_episode, first, field):
    problems = episode_problems(make_episode(questions=[first]).to_dict())
    assert problems == [(field, f"must equal the episode's {field.split('.')[1]!r}")]
    with pytest.raises(ValueError, match=re.escape(f"field {field!r}")):
        Episode.from_dict(make_episode(questions=[first]).to_dict())
