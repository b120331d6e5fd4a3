"""LongTermMemory: property tests against a plain dict model, plus the rules the properties cannot see."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agemem.memory import HashingEmbedder, LongTermMemory, MiniLMEmbedder, UnknownMemoryId
from agemem.memory.embedding import _MINILM_CACHE
from agemem.memory.ltm import make_index
from agemem.memory.text import content_words, normalise

# A small vocabulary so that random contents overlap, repeat and sometimes consist of stopwords only.
WORDS = ["alice", "bob", "Paris", "tea", "cats", "cat", "red", "7", "river", "the", "lives", "in", "é"]
contents = st.lists(st.sampled_from(WORDS), max_size=6).map(" ".join)
memory_types = st.sampled_from([None, "fact", "event"])
filters = st.sampled_from([None, {}, {"memory_type": "fact"}, {"tags": "x"}, {"memory_type": "event", "tags": "y"}])
ops = st.one_of(
    st.tuples(st.just("add"), contents, memory_types, st.sampled_from([None, ["x"], ["x", "y"]])),
    st.tuples(st.just("update"), st.integers(1, 12), contents),
    st.tuples(st.just("delete"), st.integers(1, 12)),
    st.tuples(st.just("search"), contents, st.integers(1, 5), filters),
    st.tuples(st.just("search_exact"), st.integers(0, 20), st.integers(1, 5), filters),
)
PROPERTY = settings(derandomize=True, deadline=None, max_examples=150)


def _filter_ok(meta: dict, wanted: dict | None) -> bool:
    for key, value in (wanted or {}).items():
        have = meta.get(key)
        if not (have == value or (isinstance(have, list) and value in have)):
            return False
    return True


def _check_search(ltm, model, query, top_k, wanted, index):
    hits = ltm.search(query, top_k, wanted)
    ids = [e.id for e, _ in hits]
    assert len(ids) == len(set(ids)) <= top_k
    for entry, _ in hits:
        assert entry.id in model and entry.content == model[entry.id]["content"]
        assert _filter_ok(model[entry.id], wanted)
    exact = [i for i, m in model.items() if normalise(query) and normalise(m["content"]) == normalise(query)
             and _filter_ok(m, wanted)]
    if exact:
        assert ids[0] == exact[0]  # the exact match first; among several, the oldest
    rest = [score for entry, score in hits if normalise(entry.content) != normalise(query)]
    assert rest == sorted(rest, reverse=True)
    if index == "bm25":  # BM25 scores > 0 exactly for entries sharing a content word: every one is eligible
        words = set(content_words(query))
        eligible = [i for i, m in model.items() if _filter_ok(m, wanted)
                    and (words & set(content_words(m["content"])) or i in exact)]
        assert len(hits) == min(top_k, len(eligible))


def _apply(ltm, model, op, index):
    """Apply one op to the store and the model, checking the store's answer on the way."""
    kind = op[0]
    if kind == "add":
        _, content, memory_type, tags = op
        metadata = {"tags": tags} if tags is not None else None
        memory_id = ltm.add(content, metadata, memory_type)
        assert memory_id == f"mem_{model['_next']}"
        model["_next"] += 1
        model[memory_id] = {"content": content, "memory_type": memory_type, "tags": tags or []}
    elif kind in ("update", "delete"):
        memory_id = f"mem_{op[1]}"
        if memory_id not in model:
            with pytest.raises(UnknownMemoryId, match=memory_id):
                ltm.update(memory_id, "x") if kind == "update" else ltm.delete(memory_id)
        elif kind == "update":
            ltm.update(memory_id, op[2])
            model[memory_id]["content"] = op[2]
        else:
            ltm.delete(memory_id)
            del model[memory_id]
    else:
        live = [m["content"] for i, m in model.items() if i != "_next"]
        query = op[1] if kind == "search" else (live[op[1] % len(live)] if live else "")
        _check_search(ltm, {i: m for i, m in model.items() if i != "_next"}, query, op[2], op[3], index)


@pytest.mark.parametrize("index", ["bm25", "embedding"])
@PROPERTY
@given(sequence=st.lists(ops, max_size=25))
def test_store_matches_a_dict_model(index, sequence):
    ltm = LongTermMemory(index, embedder=HashingEmbedder())
    model = {"_next": 1}
    for op in sequence:
        _apply(ltm, model, op, index)
        live = {i: m for i, m in model.items() if i != "_next"}
        assert len(ltm) == len(live)
        assert [(e.id, e.content) for e in ltm.entries()] == [(i, m["content"]) for i, m in live.items()]
        for memory_id, m in live.items():
            entry = ltm.get(memory_id)
            assert (entry.metadata["memory_type"], entry.metadata["tags"]) == (m["memory_type"], m["tags"])


@PROPERTY
@given(sequence=st.lists(ops, max_size=20), query=contents)
def test_snapshot_restore_round_trip(sequence, query):
    ltm = LongTermMemory()
    model = {"_next": 1}
    for op in sequence:
        _apply(ltm, model, op, "bm25")
    snap = json.loads(json.dumps(ltm.snapshot()))  # JSON-serialisable, and survives a JSON round trip
    restored = LongTermMemory.restore(snap)
    assert restored.snapshot() == ltm.snapshot()
    assert restored.search(query, 5) == ltm.search(query, 5)
    assert restored.add("new") == ltm.add("new")  # the id counter continues, even past deleted ids
    assert restored.snapshot() == ltm.snapshot()


def test_ids_are_never_reused_and_time_is_a_logical_clock():
    ltm = LongTermMemory()
    assert [ltm.add("a"), ltm.add("b")] == ["mem_1", "mem_2"]
    ltm.delete("mem_2")
    assert ltm.add("c") == "mem_3"
    ltm.update("mem_1", "a2")
    assert [e.metadata["timestamp"] for e in ltm.entries()] == [4, 3]  # add, add, add, update → ticks 1..4
    assert [e.id for e in ltm.entries()] == ["mem_1", "mem_3"]  # an update keeps the entry's position


def test_metadata_defaults_and_overrides():
    ltm = LongTermMemory()
    first = ltm.add("x")
    assert ltm.get(first).metadata == {"timestamp": 1, "source": None, "tags": [], "memory_type": None}
    second = ltm.add("y", {"source": "chat", "tags": ["t"], "memory_type": "m", "extra": 1}, memory_type="fact")
    assert ltm.get(second).metadata == {"timestamp": 2, "source": "chat", "tags": ["t"], "memory_type": "fact",
                                        "extra": 1}
    ltm.update(second, "y2", {"source": "doc"})  # given keys replace, the rest stay, the clock moves on
    assert ltm.get(second).metadata == {"timestamp": 3, "source": "doc", "tags": ["t"], "memory_type": "fact",
                                        "extra": 1}
    ltm.get(second).metadata["source"] = "mutated"  # get() hands out copies
    assert ltm.get(second).metadata["source"] == "doc"
    assert ltm.get(second).to_dict() == {"id": second, "content": "y2", "metadata": ltm.get(second).metadata}


def test_unknown_id_is_a_typed_key_error_naming_the_id():
    ltm = LongTermMemory()
    for call in (lambda: ltm.get("mem_9"), lambda: ltm.update("mem_9", "x"), lambda: ltm.delete("mem_9")):
        with pytest.raises(KeyError) as info:
            call()
        assert isinstance(info.value, UnknownMemoryId) and str(info.value) == "unknown memory id 'mem_9'"


def test_search_ranking_ties_and_filters():
    ltm = LongTermMemory()
    assert ltm.search("anything") == []  # empty store
    ltm.add("Alice lives in Paris", memory_type="fact", metadata={"tags": ["home"]})
    ltm.add("Alice lives in Paris", memory_type="event")
    ltm.add("Bob lives in Rome and likes the river Tiber a lot")
    ltm.add("unrelated words only")
    hits = ltm.search("where does alice live", top_k=5)
    assert [e.id for e, _ in hits] == ["mem_1", "mem_2", "mem_3"]  # equal scores break by id; no overlap → out
    assert hits[0][1] == hits[1][1] > hits[2][1] > 0
    assert [e.id for e, _ in ltm.search("alice", metadata_filter={"memory_type": "event"})] == ["mem_2"]
    assert [e.id for e, _ in ltm.search("alice", metadata_filter={"tags": "home"})] == ["mem_1"]
    assert ltm.search("alice", metadata_filter={"nope": 1}) == []
    assert len(ltm.search("lives", top_k=1)) == 1 and ltm.search("lives", top_k=0) == []


def test_exact_content_match_comes_first_even_when_bm25_prefers_another():
    ltm = LongTermMemory()
    for i in range(4):
        ltm.add(f"filler text number {i} about tea")
    ltm.add("river river river river river river river")
    target = ltm.add("tea river")
    assert ltm.search("Tea  RIVER", top_k=2)[0][0].id == target
    assert ltm.search("the", top_k=3) == []  # stopwords only: nothing shares a content word
    stop_only = ltm.add("the")
    assert [e.id for e, _ in ltm.search("The")] == [stop_only]


def test_restore_from_a_bare_entry_list_infers_the_counters():
    ltm = LongTermMemory()
    ltm.add("a")
    ltm.add("b")
    restored = LongTermMemory.restore([e.to_dict() for e in ltm.entries()])
    assert restored.add("c") == "mem_3" and restored.get("mem_3").metadata["timestamp"] == 3


def test_unknown_index_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"\['bm25', 'embedding'\]"):
        make_index("faiss")


def test_minilm_index_ranks_by_meaning_and_caches_embeddings():
    ltm = LongTermMemory("embedding")
    for text in ("Alice lives in Paris.", "Bob plays the guitar in a band.", "The stock market fell on Monday."):
        ltm.add(text)
    assert ltm.search("Which city is Alice's home?")[0][0].id == "mem_1"
    assert ltm.search("What instrument does Bob play?")[0][0].id == "mem_2"
    cached = len(_MINILM_CACHE)
    first = MiniLMEmbedder().encode(["Alice lives in Paris."])
    assert len(_MINILM_CACHE) == cached  # already embedded by the index: served from the cache
    assert first.shape == (1, 384) and abs(float((first**2).sum()) - 1.0) < 1e-5
