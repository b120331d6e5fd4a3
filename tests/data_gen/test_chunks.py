"""Mem-α chunk streams: within the token bounds whenever a cut allows it, nothing lost, order kept."""

from hypothesis import given, settings
from hypothesis import strategies as st

from data_gen.chunks import chunk_stream, episode_chunks, estimate_tokens, split_long

words = st.text(alphabet="abcdefgh", min_size=1, max_size=12)
messages = st.lists(st.lists(words, min_size=1, max_size=40).map(" ".join), min_size=1, max_size=30)


def _size(chunk: str) -> int:
    return sum(estimate_tokens(piece) for piece in chunk.split("\n"))


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(messages, st.integers(1, 40), st.integers(0, 60))
def test_chunks_respect_the_upper_bound_and_keep_every_word_in_order(texts, low, extra):
    high = low + extra
    chunks = chunk_stream(texts, low, high)
    assert all(_size(c) <= high for c in chunks)
    assert "".join("".join(chunks).split()) == "".join("".join(texts).split())  # every character, in order


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(messages, st.integers(1, 20))
def test_chunks_reach_the_lower_bound_when_messages_allow_it(texts, low):
    high = 3 * low + 20  # wide enough that any sequence of short pieces can be cut within bounds
    sizes = [estimate_tokens(t) for t in texts]
    if max(sizes) <= high - low and sum(sizes) >= low:
        assert all(low <= _size(c) <= high for c in chunk_stream(texts, low, high))


def test_prefers_fewer_larger_chunks():
    texts = ["a" * 40] * 10  # 10 tokens each
    assert [_size(c) for c in chunk_stream(texts, 25, 50)] == [50, 50]
    assert [_size(c) for c in chunk_stream(texts, 35, 40)] == [40, 40, 20]  # no cut fits both bounds: greedy
    assert [_size(c) for c in chunk_stream(texts, 30, 40)] == [40, 30, 30]


def test_a_long_message_is_cut_at_spaces_and_a_huge_word_by_characters():
    assert split_long("aaaa bbbb cccc", 2, estimate_tokens) == ["aaaa", "bbbb", "cccc"]
    assert split_long("x" * 20, 2, estimate_tokens) == ["x" * 8, "x" * 8, "x" * 4]


def test_material_shorter_than_the_lower_bound_is_one_chunk(make_episode):
    assert episode_chunks(make_episode(contexts=["short one", "short two"]), 500, 2000) == ["short one\nshort two"]
