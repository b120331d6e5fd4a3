"""Splits by a stable hash of the item id: disjoint, stable, and test never leaks into train."""

import pytest

from data_gen.config import DataConfig
from data_gen.sources import build_episodes
from data_gen.splits import _unit_hash, assign_splits, select_split, split_of

IDS = [f"item-{i}" for i in range(4000)]


def test_every_id_has_exactly_one_split_with_about_the_asked_fractions():
    splits = [split_of(i, 0.1, 0.2) for i in IDS]
    assert abs(splits.count("test") / len(IDS) - 0.2) < 0.03
    assert abs(splits.count("val") / len(IDS) - 0.1) < 0.03


def test_split_is_a_pure_function_of_the_id():
    # Pinned: the same in every process and on every machine (SHA-256, not Python's salted `hash`).
    assert _unit_hash("hq-full") == 0.24679239290894306
    not_train = {i: split_of(f"item-{i}", 0.1, 0.1) for i in range(30) if split_of(f"item-{i}", 0.1, 0.1) != "train"}
    assert not_train == {6: "test", 8: "test", 11: "test", 15: "val", 18: "val", 29: "val"}


def test_changing_the_val_fraction_never_moves_a_test_item_into_train():
    test = {i for i in IDS if split_of(i, 0.1, 0.1) == "test"}
    for val in (0.0, 0.3, 0.9):
        assert {i for i in IDS if split_of(i, val, 0.1) == "test"} == test
        assert not test & {i for i in IDS if split_of(i, val, 0.1) == "train"}


def test_selected_splits_are_disjoint_and_cover_everything():
    episodes = build_episodes(DataConfig(size=500, difficulty=2), seed=0).episodes
    assign_splits(episodes, 0.2, 0.2)
    parts = {name: {e.id for e in select_split(episodes, name)} for name in ("train", "val", "test")}
    assert not parts["train"] & parts["test"] and not parts["train"] & parts["val"] and not parts["val"] & parts["test"]
    assert set().union(*parts.values()) == {e.id for e in select_split(episodes, "all")}


def test_questions_of_one_conversation_share_a_split(fixtures):
    episodes = build_episodes(DataConfig(source="locomo", path=str(fixtures / "locomo_small.json")), 0).episodes
    assign_splits(episodes, 0.3, 0.3)
    for conversation in ("fake-conv-1", "fake-conv-2"):
        assert len({e.metadata["split"] for e in episodes if e.metadata["item_id"] == conversation}) == 1


def test_bad_split_settings_are_errors():
    with pytest.raises(ValueError, match="data.split='dev'"):
        select_split([], "dev")
    with pytest.raises(ValueError, match="sum <= 1"):
        split_of("x", 0.6, 0.6)
