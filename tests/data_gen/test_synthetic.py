"""Synthetic episodes: deterministic by seed, consistent (a reference reader of the contexts finds the answer),
and carrying the updates, deletions, multi-hop links and rumours that their difficulty promises."""

import json
import re
import subprocess
import sys

import pytest

from agemem import PROJECT_ROOT
from agemem.records import episode_problems
from data_gen.config import DataConfig
from data_gen.sources import synthetic_spec
from data_gen.synthetic import (
    DELETED_ANSWERS,
    DIFFICULTY,
    SyntheticSpec,
    id_pool,
    synthetic_episode,
    synthetic_episodes,
)

FACT = re.compile(r"Entity (E\d+)'s (\w+) is (\S+)\.$")
UPDATE = re.compile(r"Update: (E\d+)'s (\w+) is now (\d+)\.$")
DELETE = re.compile(r"Update: (E\d+) no longer has a (\w+)\.$")
QUESTION = re.compile(r"What is (E\d+)'s (\w+)\?$")
MULTIHOP = re.compile(r"What is the (\w+) of (E\d+)'s friend\?$")


def read_answer(contexts: list[str], question: str) -> str:
    """A reference reader: apply every stage-1 message in order, then answer."""
    facts: dict[tuple[str, str], str] = {}
    for message in contexts:
        if match := FACT.match(message) or UPDATE.match(message):
            facts[(match.group(1), match.group(2))] = match.group(3)
        elif match := DELETE.match(message):
            del facts[(match.group(1), match.group(2))]
        else:
            raise AssertionError(f"unexpected stage-1 message {message!r}")
    if match := MULTIHOP.match(question):
        attribute, subject = match.groups()
        return facts.get((facts[(subject, "friend")], attribute), "unknown")
    entity, attribute = QUESTION.match(question).groups()
    return facts.get((entity, attribute), "unknown")


@pytest.mark.parametrize("difficulty", sorted(DIFFICULTY))
def test_every_episode_is_valid_and_its_answer_follows_from_its_contexts(difficulty):
    for episode in synthetic_episodes(300, seed=3, spec=SyntheticSpec(difficulty=difficulty)):
        assert episode_problems(episode.to_dict()) == []
        assert read_answer(episode.contexts, episode.question) == episode.answers[0]
        assert set(episode.supporting_facts) <= set(episode.contexts)
        assert all(len(m) <= 60 for m in (*episode.contexts, *episode.distractors, episode.question))


def test_distractors_are_about_other_entities_or_contradict_the_answer():
    for episode in synthetic_episodes(300, seed=4, spec=SyntheticSpec(difficulty=3)):
        entity, answer = episode.metadata["entity"], episode.answers[0]
        for message in episode.distractors:
            if message.startswith("A rumour claims"):
                assert entity in message and not message.endswith(f" {answer}.")
            else:
                other = FACT.match(message).group(1)
                assert other != entity and other != episode.metadata["subject"]
                assert len(other) == len(entity)  # a look-alike id


def test_difficulty_switches_on_updates_deletions_multihop_and_rumours():
    def kinds(difficulty):
        episodes = synthetic_episodes(400, seed=0, spec=SyntheticSpec(difficulty=difficulty))
        return {key: sum(bool(e.metadata[key] if key != "change" else e.metadata["change"] != "none")
                         for e in episodes) for key in ("change", "multihop", "contradiction")}, episodes

    counts, easy = kinds(0)
    assert counts == {"change": 0, "multihop": 0, "contradiction": 0}
    assert all(len(e.contexts) == 1 for e in easy)
    counts, hard = kinds(3)
    assert all(n > 50 for n in counts.values())
    changes = {e.metadata["change"] for e in hard}
    assert changes == {"none", "update", "delete"}
    assert all(e.answers == DELETED_ANSWERS for e in hard if e.metadata["change"] == "delete")
    updated = [e for e in hard if e.metadata["change"] == "update"]
    assert all(e.answers[0] != e.metadata["value_history"][0] for e in updated)


def test_num_facts_overrides_the_difficulty_default():
    episode = synthetic_episode(0, seed=0, spec=SyntheticSpec(difficulty=0, num_facts=5))
    assert len(episode.contexts) == 5


def test_same_seed_same_episodes_and_prefix_stable():
    spec = SyntheticSpec(difficulty=2)
    first = synthetic_episodes(50, seed=7, spec=spec)
    assert first == synthetic_episodes(50, seed=7, spec=spec)
    assert first[:20] == synthetic_episodes(20, seed=7, spec=spec)
    assert first != synthetic_episodes(50, seed=8, spec=spec)


def test_output_does_not_depend_on_the_process_hash_seed():
    code = ("import hashlib, json; from data_gen.synthetic import SyntheticSpec, synthetic_episodes; "
            "print(hashlib.sha256(json.dumps([e.to_dict() for e in synthetic_episodes(100, 1, "
            "SyntheticSpec(difficulty=3))]).encode()).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                              env={"PYTHONHASHSEED": seed, "PATH": ""}, check=True).stdout for seed in ("1", "2")}
    assert len(digests) == 1


def test_heldout_entities_never_occur_in_the_training_range():
    train = synthetic_spec(DataConfig())
    heldout = synthetic_spec(DataConfig(heldout=True))
    seen = {int(e[1:]) for ep in synthetic_episodes(200, 0, train) for e in re.findall(r"E\d+", json.dumps(ep.to_dict()))}
    new = {int(e[1:]) for ep in synthetic_episodes(200, 0, heldout) for e in re.findall(r"E\d+", json.dumps(ep.to_dict()))}
    assert all(1000 <= n < 8000 for n in seen) and all(8000 <= n < 10000 for n in new)
    assert synthetic_episode(0, 0, heldout).id.endswith("-heldout-000000")


def _entity_ids(episodes) -> set[int]:
    return {int(e[1:]) for ep in episodes for e in re.findall(r"E\d+", json.dumps(ep.to_dict()))}


def test_ids_held_out_by_hash_are_disjoint_from_training_and_have_the_same_digits():
    train = _entity_ids(synthetic_episodes(300, 0, synthetic_spec(DataConfig(heldout_id_fraction=0.1))))
    heldout = _entity_ids(synthetic_episodes(300, 0, synthetic_spec(DataConfig(heldout=True, heldout_id_fraction=0.1))))
    assert all(id_pool(n, 0.1) == "train" for n in train)
    assert all(id_pool(n, 0.1) == "heldout" for n in heldout)
    assert {str(n)[0] for n in heldout} == {str(n)[0] for n in train} == set("1234567")  # the same leading digits
    assert len(heldout) > 500 and not train & heldout
    share = sum(id_pool(n, 0.1) == "heldout" for n in range(1000, 8000)) / 7000
    assert 0.09 < share < 0.11


def test_reserved_ids_are_a_third_pool_that_other_data_never_uses():
    """SFT data (the default pool), the RL phases' reserved ids and the held-out ids are pairwise disjoint, and the
    reserved pool is the next slice of the hash after the held-out one."""
    split = {"heldout_id_fraction": 0.1, "reserved_id_fraction": 0.15}
    train = _entity_ids(synthetic_episodes(300, 0, synthetic_spec(DataConfig(**split))))
    reserved_set = synthetic_episodes(300, 0, synthetic_spec(DataConfig(reserved_ids=True, **split)))
    reserved = _entity_ids(reserved_set)
    heldout = _entity_ids(synthetic_episodes(300, 0, synthetic_spec(DataConfig(heldout=True, **split))))
    assert not train & reserved and not train & heldout and not reserved & heldout
    assert all(id_pool(n, 0.1, 0.15) == "reserved" for n in reserved) and len(reserved) > 400
    assert {id_pool(n, 0.1) for n in reserved} == {"train"}  # without the reservation they were training ids
    assert reserved_set[0].id.endswith("-reserved-000000") and reserved_set[0].metadata["id_pool"] == "reserved"
    share = sum(id_pool(n, 0.1, 0.15) == "reserved" for n in range(1000, 8000)) / 7000
    assert 0.13 < share < 0.17


def test_bad_settings_are_errors_naming_the_key():
    with pytest.raises(ValueError, match="data.heldout_id_fraction=1.5"):
        SyntheticSpec(heldout_id_fraction=1.5)
    with pytest.raises(ValueError, match="data.reserved_ids=true needs data.reserved_id_fraction > 0"):
        synthetic_spec(DataConfig(reserved_ids=True))
    with pytest.raises(ValueError, match="one id pool"):
        synthetic_spec(DataConfig(reserved_ids=True, heldout=True, heldout_id_fraction=0.1, reserved_id_fraction=0.1))
    with pytest.raises(ValueError, match="fewer than 100 training ids"):
        synthetic_spec(DataConfig(heldout_id_fraction=0.5, reserved_id_fraction=0.49))
    with pytest.raises(ValueError, match="data.reserved_id_fraction=0.001 leaves fewer than 100 ids"):
        synthetic_spec(DataConfig(reserved_id_fraction=0.001))
    with pytest.raises(ValueError, match="overlaps"):
        synthetic_spec(DataConfig(entity_id_range=[1000, 9000]))
    with pytest.raises(ValueError, match="data.entity_id_range"):
        synthetic_spec(DataConfig(entity_id_range=[5000, 1000]))
    with pytest.raises(ValueError, match="data.difficulty=7"):
        SyntheticSpec(difficulty=7)
