"""Mem-α chunk-stream instances (data_gen/mem_alpha.py): valid episodes whose contexts are chunks within the token
bounds and limits, several questions (the first repeated as `question`), evidence-aware cuts, deterministic output,
splits that follow the source items, and synthetic update questions answered by the later value."""

import json
import re
import subprocess
import sys

import pytest

from agemem import PROJECT_ROOT
from agemem.records import ABSTAIN_ANSWER, QUESTION_METRICS, Episode, episode_problems
from data_gen import mem_alpha
from data_gen.config import DataConfig
from data_gen.episode_files import load_episodes, write_episodes
from data_gen.errors import DataError
from data_gen.sources import build_episodes
from data_gen.splits import assign_splits, split_of
from data_gen.synthetic import DELETED_ANSWERS

SHARED_FILES = {
    "mem_alpha_hotpotqa": "hotpotqa/hotpot_dev_distractor_100.jsonl",
    "mem_alpha_locomo": "locomo/locomo10.json",
    "mem_alpha_longmemeval": "longmemeval/longmemeval_s_sample2_standardized.json",
}
FIXTURES = {
    "mem_alpha_hotpotqa": "hotpotqa_small.json",
    "mem_alpha_locomo": "locomo_small.json",
    "mem_alpha_longmemeval": "longmemeval_small.json",
}
SMALL = {"chunk_min_tokens": 5, "chunk_max_tokens": 30}  # fixture-sized chunks: a few messages each


def _build(source: str, path=None, seed: int = 0, **data) -> list[Episode]:
    return build_episodes(DataConfig(source=source, path=None if path is None else str(path), **data), seed).episodes


def _shared_file(shared_data, source):
    path = shared_data / SHARED_FILES[source]
    if not path.is_file():
        pytest.skip(f"real data file {path} is absent")
    return path


def _assert_valid_instances(episodes: list[Episode], cfg: DataConfig, lower_bound: bool = True) -> None:
    """Valid, chunk sizes within the bounds, the stream within the limits, the first question repeated."""
    assert episodes
    for e in episodes:
        assert episode_problems(e.to_dict()) == [], e.id
        assert e.source == cfg.source and e.distractors == [] and e.questions
        assert (e.questions[0]["question"], e.questions[0]["answers"]) == (e.question, e.answers)
        assert all(q["metric"] in QUESTION_METRICS for q in e.questions)
        assert e.metadata["chunks"] == len(e.contexts) and len(e.metadata["question_ids"]) == len(e.questions)
        if cfg.chunks_per_instance:
            assert len(e.contexts) <= cfg.chunks_per_instance
        if cfg.questions_per_instance:
            assert len(e.questions) <= cfg.questions_per_instance
        assert e.metadata["input_tokens"] <= cfg.max_instance_tokens
        # A chunk's size is the sum over its pieces of ceil(chars / 4), joining newlines not counted.
        assert all((len(c) - c.count("\n")) / 4 <= cfg.chunk_max_tokens for c in e.contexts)
        if lower_bound:
            assert all(len(c) / 4 + c.count("\n") + 1 > cfg.chunk_min_tokens for c in e.contexts[:-1])


@pytest.mark.parametrize("source", sorted(FIXTURES))
def test_fixture_files_make_valid_instances(fixtures, source):
    cfg = DataConfig(source=source, path=str(fixtures / FIXTURES[source]), **SMALL)
    episodes = build_episodes(cfg, seed=0).episodes
    _assert_valid_instances(episodes, cfg, lower_bound=False)


@pytest.mark.parametrize("source", sorted(SHARED_FILES))
def test_shared_files_make_valid_instances(shared_data, source):
    cfg = DataConfig(source=source, path=str(_shared_file(shared_data, source)))
    result = build_episodes(cfg, seed=0)
    _assert_valid_instances(result.episodes, cfg)
    assert all(e.metadata["input_tokens"] > 10_000 for e in result.episodes[:2])  # full-size streams


def test_hotpotqa_packs_several_items_with_their_paragraphs_and_questions(shared_data):
    path = _shared_file(shared_data, "mem_alpha_hotpotqa")
    episodes = _build("mem_alpha_hotpotqa", path)
    items = {e.id: e for e in _build("hotpotqa", path)}
    assert sum(len(e.questions) for e in episodes) == len(items)  # every item asked exactly once
    for e in episodes:
        stream = "\n".join(e.contexts)
        for question_id, question in zip(e.metadata["question_ids"], e.questions):
            item = items[question_id]
            assert (question["question"], question["answers"]) == (item.question, item.answers)
            assert question["metric"] == "substring_em"
            assert all(p in stream for p in item.contexts + item.distractors)
    assert max(len(e.questions) for e in episodes) > 5


def test_hotpotqa_items_keep_the_split_of_the_one_question_source(shared_data):
    path = _shared_file(shared_data, "mem_alpha_hotpotqa")
    episodes = _build("mem_alpha_hotpotqa", path)
    assign_splits(episodes, 0.1, 0.1)
    for e in episodes:
        assert {split_of(i, 0.1, 0.1) for i in e.metadata["question_ids"]} == {e.metadata["split"]}
    assert {e.metadata["split"] for e in episodes} == {"train", "val", "test"}


def test_locomo_keeps_categories_and_abstains_on_adversarial_questions(fixtures):
    [first, _] = _build("mem_alpha_locomo", fixtures / "locomo_small.json", **SMALL)
    assert first.id == "mem_alpha_locomo:fake-conv-1" and first.metadata["item_id"] == "fake-conv-1"
    categories = [q["category"] for q in first.questions]
    assert categories[:6] == ["single_hop", "temporal", "multi_hop", "open_domain", "adversarial", "adversarial"]
    assert first.questions[4]["answers"] == [ABSTAIN_ANSWER]
    assert first.contexts[0].startswith("[9:05 am on 3 March, 2024] Rina: Hi Tomas!")
    assert first.metadata["question_ids"][0] == "fake-conv-1:qa0000"  # the one-question source's episode id


def test_a_cut_stream_drops_the_questions_whose_evidence_fell_outside(fixtures):
    path = fixtures / "locomo_small.json"
    whole = _build("mem_alpha_locomo", path, **SMALL)[0]
    cut = _build("mem_alpha_locomo", path, **SMALL, chunks_per_instance=1)[0]
    assert len(whole.contexts) > 1 and len(cut.contexts) == 1 and cut.contexts[0] == whole.contexts[0]
    asked = [q["question"] for q in cut.questions]
    # Session 1 survives: the cat question (evidence D1:1) and the abstentions stay; the recital (D2:1), the
    # D1:2 + D2:3 question and the unresolvable D9:9 one go.
    assert "What is the name of Rina's cat?" in asked and "What colour is Tomas's cat?" in asked
    assert "When did Tomas play his first cello recital?" not in asked
    assert "Where does the plant stand?" not in asked and "Where does the plant stand?" in str(whole.questions)
    assert cut.metadata["questions_dropped"] == len(whole.questions) - len(cut.questions) > 0
    assert all(fact in cut.contexts[0] for fact in cut.supporting_facts)


def test_the_token_cap_cuts_to_whole_chunks(shared_data):
    path = _shared_file(shared_data, "mem_alpha_locomo")
    cfg = DataConfig(source="mem_alpha_locomo", path=str(path), chunks_per_instance=0, max_instance_tokens=7000)
    episodes = build_episodes(cfg, seed=0).episodes
    _assert_valid_instances(episodes, cfg)
    assert all(e.metadata["input_tokens"] > 7000 - 2000 for e in episodes)  # whole chunks, as many as fit
    whole = _build("mem_alpha_locomo", path, chunks_per_instance=0, max_instance_tokens=60_000)
    assert all(w.contexts[: len(e.contexts)] == e.contexts for w, e in zip(whole, episodes))
    assert sum(e.metadata["questions_dropped"] for e in whole) == 0


def test_longmemeval_keeps_the_evidence_sessions_and_fills_with_others(shared_data):
    path = _shared_file(shared_data, "mem_alpha_longmemeval")
    for e in _build("mem_alpha_longmemeval", path):
        assert e.questions[0]["metric"] == "llm_judge" and len(e.questions) == 1
        stream = "\n".join(e.contexts)
        assert e.supporting_facts and all(f in stream for f in e.supporting_facts)
        assert 2 < e.metadata["origin"]["sessions"] < e.metadata["origin"]["haystack_sessions"]


def test_longmemeval_fixture_abstention_is_kept(fixtures):
    episodes = {e.metadata["item_id"]: e for e in _build("mem_alpha_longmemeval",
                                                         fixtures / "longmemeval_small.json", **SMALL)}
    assert episodes["fake-q2_abs"].answers == ["You did not mention a dog."]
    assert episodes["fake-q3"].answers == ["5"]
    assert "I now run 30 km each week." in "\n".join(episodes["fake-q1"].contexts)


FACT = re.compile(r"Entity (E\d+)'s (\w+) is (\d+)\.$")
LINK = re.compile(r"Entity (E\d+)'s friend is (E\d+)\.$")
UPDATE = re.compile(r"Update: (E\d+)'s (\w+) is now (\d+)\.$")
DELETE = re.compile(r"Update: (E\d+) no longer has a (\w+)\.$")
RUMOUR = re.compile(r"A rumour claims (E\d+)'s (\w+) is (\d+)\.$")


def _read(contexts: list[str]) -> tuple[dict, dict, dict]:
    """A reference reader of a synthetic stream: current values, first values and friends."""
    facts, first, friends = {}, {}, {}
    for message in "\n".join(contexts).split("\n"):
        if match := LINK.match(message):
            friends[match.group(1)] = match.group(2)
        elif match := FACT.match(message):
            facts[match.groups()[:2]] = first[match.groups()[:2]] = match.group(3)
        elif match := UPDATE.match(message):
            facts[match.groups()[:2]] = match.group(3)
        elif match := DELETE.match(message):
            facts[match.groups()] = DELETED_ANSWERS[0]
        else:
            assert RUMOUR.match(message), f"unexpected message {message!r}"
    return facts, first, friends


def _reference_answer(question: str, facts: dict, friends: dict) -> str:
    if match := re.match(r"What is the (\w+) of (E\d+)'s friend\?$", question):
        return facts[(friends[match.group(2)], match.group(1))]
    entity, attribute = re.match(r"What is (E\d+)'s (\w+)\?$", question).groups()
    return facts[(entity, attribute)]


@pytest.mark.parametrize("difficulty", [0, 1, 2, 3])
def test_synthetic_answers_follow_from_the_stream_and_updates_win(difficulty):
    cfg = DataConfig(source="mem_alpha_synthetic", size=3, difficulty=difficulty, questions_per_instance=12,
                     chunk_min_tokens=100, chunk_max_tokens=400, chunks_per_instance=6)
    episodes = build_episodes(cfg, seed=5).episodes
    _assert_valid_instances(episodes, cfg)
    updated = 0
    for e in episodes:
        facts, first, friends = _read(e.contexts)
        assert len(e.questions) == 12
        for question_id, q in zip(e.metadata["question_ids"], e.questions):
            assert q["answers"][0] == _reference_answer(q["question"], facts, friends)
            assert q["metric"] == "exact_match"
            if q["category"].endswith("+update"):  # the later value is the answer, not the first one
                updated += 1
                key = tuple(question_id.split("."))  # the asked entity (the friend when multi-hop), attribute
                assert q["answers"] == [facts[key]] != [first[key]]
            if q["category"].endswith("+delete"):
                assert q["answers"] == DELETED_ANSWERS
    assert (updated > 0) == (difficulty > 0)


def test_synthetic_changes_usually_land_in_a_later_chunk():
    [e] = _build("mem_alpha_synthetic", size=1, questions_per_instance=0, chunk_min_tokens=100,
                 chunk_max_tokens=400, chunks_per_instance=8)
    chunk_of = {m: i for i, c in enumerate(e.contexts) for m in c.split("\n")}
    assert sum("+" in q["category"] for q in e.questions) > 20
    gaps = []
    for question_id in e.metadata["question_ids"]:
        entity, attribute = question_id.split(".")
        update = next((m for m in chunk_of if m.startswith(f"Update: {entity}'s {attribute} ")), None)
        if update:
            fact = next(m for m in chunk_of if m.startswith(f"Entity {entity}'s {attribute} is "))
            gaps.append(chunk_of[update] - chunk_of[fact])
    assert gaps and sum(g > 0 for g in gaps) / len(gaps) > 0.8


def test_synthetic_heldout_instances_use_the_heldout_entity_ids():
    [e] = _build("mem_alpha_synthetic", size=1, heldout=True, questions_per_instance=5, chunk_max_tokens=300,
                 chunk_min_tokens=50, chunks_per_instance=3)
    assert "-heldout-" in e.id
    assert all(8000 <= int(n) < 10000 for n in re.findall(r"E(\d+)", "\n".join(e.contexts)))


@pytest.mark.parametrize("source,data", [
    ("mem_alpha_synthetic", {"size": 2, "chunk_max_tokens": 300, "chunk_min_tokens": 50, "chunks_per_instance": 4}),
    ("mem_alpha_hotpotqa", SMALL), ("mem_alpha_locomo", SMALL), ("mem_alpha_longmemeval", SMALL),
])
def test_output_is_deterministic_and_round_trips(tmp_path, fixtures, source, data):
    path = fixtures / FIXTURES[source] if source in FIXTURES else None
    first, again = (_build(source, path, seed=3, **data) for _ in range(2))
    assert [e.to_dict() for e in first] == [e.to_dict() for e in again]
    assert [Episode.from_dict(json.loads(json.dumps(e.to_dict()))) for e in first] == first
    write_episodes(tmp_path / "episodes.jsonl", first)
    assert load_episodes(tmp_path / "episodes.jsonl").episodes == first
    if source == "mem_alpha_synthetic":
        assert _build(source, seed=4, **data)[0].contexts != first[0].contexts
        assert _build(source, seed=3, **(data | {"size": 1}))[0] == first[0]  # instance i ignores size


@pytest.mark.parametrize("change,field", [
    (lambda d: d[0]["conversation"].pop("session_1_date_time"), "conversation.session_1_date_time"),
    (lambda d: d[0].pop("sample_id"), "sample_id"),
])
def test_malformed_input_fails_naming_file_line_and_field(tmp_path, fixtures, change, field):
    data = json.loads((fixtures / "locomo_small.json").read_text())
    change(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data, indent=2))
    with pytest.raises(DataError) as caught:
        _build("mem_alpha_locomo", path, **SMALL)
    assert str(caught.value).startswith(f"{path}:2: field {field!r}: ")
    lenient = build_episodes(DataConfig(source="mem_alpha_locomo", path=str(path), strict=False, **SMALL), 0)
    assert [e.id for e in lenient.episodes] == ["mem_alpha_locomo:fake-conv-2"]
    assert [(r.line, r.field) for r in lenient.rejections] == [(2, field)]


def test_a_conversation_without_answerable_questions_is_rejected(tmp_path, fixtures):
    data = json.loads((fixtures / "locomo_small.json").read_text())
    data[1]["qa"] = []
    path = tmp_path / "noqa.json"
    path.write_text(json.dumps(data, indent=2))
    result = build_episodes(DataConfig(source="mem_alpha_locomo", path=str(path), **SMALL), 0)
    assert [r.field for r in result.rejections] == ["qa"] and len(result.episodes) == 1


@pytest.mark.parametrize("data,words", [
    ({"max_instance_tokens": 0}, "data.max_instance_tokens=0"),
    ({"chunks_per_instance": -1}, "data.chunks_per_instance=-1"),
    ({"questions_per_instance": -2}, "data.questions_per_instance=-2"),
    ({"chunk_min_tokens": 50, "chunk_max_tokens": 10}, "data.chunk_min_tokens=50"),
    ({"size": 0}, "data.size=0"),
])
def test_bad_settings_are_errors_naming_the_field(data, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        _build("mem_alpha_synthetic", **({"size": 1} | data))


def test_file_sources_need_a_path():
    with pytest.raises(ValueError, match="data.source=mem_alpha_locomo needs data.path"):
        _build("mem_alpha_locomo")


def test_the_source_names_are_registered():
    assert {mem_alpha.HOTPOTQA, mem_alpha.LOCOMO, mem_alpha.LONGMEMEVAL, mem_alpha.SYNTHETIC} == {
        "mem_alpha_hotpotqa", "mem_alpha_locomo", "mem_alpha_longmemeval", "mem_alpha_synthetic"}


def test_generate_writes_a_valid_episodes_file_from_the_preset(tmp_path):
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "run.py", "task=generate", "data=mem_alpha_synthetic", "data.size=3",
                             "data.questions_per_instance=4", f"out={out}"], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    episodes = load_episodes(out / "episodes.jsonl").episodes
    assert len(episodes) == 3 and all(len(e.questions) == 4 and len(e.contexts) == 10 for e in episodes)
    assert json.loads((out / "stats.json").read_text())["by_source"] == {"mem_alpha_synthetic": 3}
