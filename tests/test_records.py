"""Episode validation: every rule names the field it is about."""

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
