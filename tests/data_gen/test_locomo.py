"""LoCoMo → one episode per question: sessions with dates and speakers to stage 1, categories kept,
adversarial questions become abstentions. The fixture is an invented conversation in LoCoMo's schema."""

import json

import pytest

from agemem.records import ABSTAIN_ANSWER
from data_gen import locomo
from data_gen.config import DataConfig
from data_gen.errors import DataError
from data_gen.row_conversion import convert_file
from data_gen.sources import build_episodes


def _convert(path, strict=True, questions=0):
    return convert_file(str(path), locomo.converter(questions), strict, "locomo", "sample_id")


def _episodes(fixtures):
    return {e.id: e for e in _convert(fixtures / "locomo_small.json").episodes}


def test_every_question_becomes_an_episode_with_the_dated_turns(fixtures):
    episodes = _episodes(fixtures)
    assert len(episodes) == 8
    first = episodes["fake-conv-1:qa0000"]
    assert first.contexts[0] == "[9:05 am on 3 March, 2024] Rina: Hi Tomas! I adopted a grey cat called Pixel yesterday."
    assert first.contexts[2].endswith("Here is Pixel on the sofa. [shares a photo: a grey cat sleeping on a red sofa]")
    assert first.contexts[3].startswith("[6:40 pm on 17 April, 2024] Tomas:")
    assert len(first.contexts) == 6  # session 3 has a date but no turns
    assert first.supporting_facts == [first.contexts[0]]
    assert (first.answers, first.category, first.metadata["item_id"]) == (["Pixel"], "single_hop", "fake-conv-1")


def test_categories_are_named_and_kept(fixtures):
    episodes = _episodes(fixtures)
    assert [episodes[f"fake-conv-1:qa{i:04d}"].category for i in range(6)] == [
        "single_hop", "temporal", "multi_hop", "open_domain", "adversarial", "adversarial"]
    assert episodes["fake-conv-1:qa0002"].metadata["locomo_category"] == 1


def test_adversarial_questions_without_an_answer_abstain(fixtures):
    adversarial = _episodes(fixtures)["fake-conv-1:qa0004"]
    assert adversarial.answers == [ABSTAIN_ANSWER]
    assert adversarial.metadata["abstention"] and adversarial.metadata["adversarial_answer"] == "grey"
    answered = _episodes(fixtures)["fake-conv-1:qa0005"]
    assert answered.answers == ["No"] and not answered.metadata["abstention"]


def test_evidence_ids_resolve_even_when_packed_or_padded(fixtures):
    episodes = _episodes(fixtures)
    assert len(episodes["fake-conv-1:qa0002"].supporting_facts) == 2  # "D1:2 D2:3"
    assert episodes["fake-conv-1:qa0003"].supporting_facts[0].endswith("called Pixel yesterday.")  # "D1:01"
    assert episodes["fake-conv-1:qa0003"].answers == ["1"]  # numeric answer as text
    unresolved = episodes["fake-conv-1:qa0006"]
    assert unresolved.supporting_facts == [] and unresolved.metadata["unresolved_evidence"] == ["D9:9"]


def test_questions_per_conversation_limits_in_file_order(fixtures):
    result = _convert(fixtures / "locomo_small.json", questions=2)
    assert [e.id for e in result.episodes] == ["fake-conv-1:qa0000", "fake-conv-1:qa0001", "fake-conv-2:qa0000"]


def test_mined_distractors_come_from_other_conversations(fixtures):
    cfg = DataConfig(source="locomo", path=str(fixtures / "locomo_small.json"), num_distractors=2)
    episodes = {e.id: e for e in build_episodes(cfg, seed=0).episodes}
    marathon = episodes["fake-conv-2:qa0000"]
    assert marathon.distractors and all(d.split("] ")[1].split(":")[0] in {"Rina", "Tomas"}
                                        for d in marathon.distractors)
    assert marathon.metadata["distractors_mined_from"] == "input"


def _write(tmp_path, fixtures, change):
    data = json.loads((fixtures / "locomo_small.json").read_text())
    change(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data, indent=2))
    return path


def test_a_malformed_question_is_rejected_alone_in_lenient_mode(tmp_path, fixtures):
    path = _write(tmp_path, fixtures, lambda d: d[0]["qa"][1].pop("question"))
    with pytest.raises(DataError, match=rf"{path}:2: field 'qa\[1\].question': missing required field"):
        _convert(path)
    lenient = _convert(path, strict=False)
    assert len(lenient.episodes) == 7
    assert [(r.field, r.item_id) for r in lenient.rejections] == [("qa[1].question", "fake-conv-1")]


@pytest.mark.parametrize("change,field,words", [
    (lambda d: d[0]["conversation"]["session_2"][1].pop("text"), "conversation.session_2[1].text", "missing"),
    (lambda d: d[0]["conversation"].update(session_1="hello"), "conversation.session_1", "expected a list"),
    (lambda d: d[0]["conversation"].pop("session_1_date_time"), "conversation.session_1_date_time", "missing"),
    (lambda d: d[0].pop("sample_id"), "sample_id", "missing"),
    (lambda d: d[0]["qa"][0].update(category="4"), "qa[0].category", "expected an integer"),
    (lambda d: d[0]["qa"][0].update(category=9), "qa[0].category", "unknown category 9"),
    (lambda d: d[0]["qa"][4].pop("adversarial_answer"), "qa[4].adversarial_answer", "missing"),
])
def test_malformed_conversations_fail_naming_file_line_and_field(tmp_path, fixtures, change, field, words):
    path = _write(tmp_path, fixtures, change)
    with pytest.raises(DataError) as caught:
        _convert(path)
    assert str(caught.value).startswith(f"{path}:2: field {field!r}: ") and words in str(caught.value)


def test_real_locomo_file_converts(shared_data):
    result = _convert(shared_data / "locomo" / "locomo10.json", questions=30)
    assert result.rows == 10 and len(result.episodes) == 300 and not result.rejections
    categories = {e.category for e in result.episodes}
    assert categories <= set(locomo.CATEGORIES.values()) and len(categories) >= 4
    full = _convert(shared_data / "locomo" / "locomo10.json")
    assert len(full.episodes) == 1986
    abstain = [e for e in full.episodes if e.answers == [ABSTAIN_ANSWER]]
    assert len(abstain) == 444 and all(e.category == "adversarial" for e in abstain)
    assert sum(bool(e.supporting_facts) for e in full.episodes) > 1900
