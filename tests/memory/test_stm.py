"""ShortTermMemory: token-count cache, reset, spans and rounds, summarize, filter; similarities; extractive summary."""

import pytest

from agemem.memory import (
    BadSpan,
    EmbeddingSimilarity,
    HashingEmbedder,
    LexicalSimilarity,
    ShortTermMemory,
    extractive_summary,
    make_similarity,
)

SYSTEM = "You manage memory. Weather in Paris is a frequent topic."


def _stm(*pairs: tuple[str, str]) -> ShortTermMemory:
    stm = ShortTermMemory(SYSTEM, lambda m: len(m["content"].split()))
    for role, content in pairs:
        stm.append({"role": role, "content": content})
    return stm


# Two rounds after a leading tool message: [t0] [u1 a1 t1 a2] [u2 a3]
CONVERSATION = [("tool", "t0"), ("user", "u1"), ("assistant", "a1"), ("tool", "t1"), ("assistant", "a2"),
                ("user", "u2"), ("assistant", "a3")]


def _contents(messages):
    return [m["content"] for m in messages]


def test_token_count_is_cached_per_distinct_message():
    calls = []

    def count(message):
        calls.append(message["content"])
        return len(message["content"])

    stm = ShortTermMemory("sys", count)
    for content in ("hello", "world", "hello"):
        stm.append({"role": "user", "content": content})
    stm.append({"role": "assistant", "content": "hello"})  # same text, other role: another message
    assert stm.token_count() == 3 + 5 * 4
    assert stm.token_count() == 23
    assert sorted(calls) == ["hello", "hello", "sys", "world"]
    stm.reset()
    stm.append({"role": "user", "content": "world"})
    assert stm.token_count() == 8 and len(calls) == 4  # nothing recounted


def test_reset_keeps_only_the_system_prompt_and_messages_are_copied():
    stm = _stm(*CONVERSATION)
    original = {"role": "user", "content": "x"}
    stm.append(original)
    original["content"] = "changed"
    assert stm.messages[-1]["content"] == "x"
    stm.reset()
    assert stm.messages == [{"role": "system", "content": SYSTEM}] == stm.snapshot()
    with pytest.raises(ValueError, match="role"):
        stm.append({"content": "no role"})


@pytest.mark.parametrize(
    "span,expected",
    [
        ("all", ["t0", "u1", "a1", "t1", "a2", "u2", "a3"]),
        (" ALL ", ["t0", "u1", "a1", "t1", "a2", "u2", "a3"]),
        ("1", ["u2", "a3"]),
        ("2", ["u1", "a1", "t1", "a2", "u2", "a3"]),
        ("3", ["t0", "u1", "a1", "t1", "a2", "u2", "a3"]),  # the leading tool message is a round of its own
        ("1-1", ["t0"]),
        ("2-4", ["u1", "a1", "t1"]),
        (" 6 - 7 ", ["u2", "a3"]),
    ],
)
def test_span_messages(span, expected):
    assert _contents(_stm(*CONVERSATION).span_messages(span)) == expected


@pytest.mark.parametrize(
    "span,reason",
    [
        ("0", "asks for 0 rounds"),
        ("4", "asks for 4 rounds but the context holds 3"),
        ("3-2", "out of range"),
        ("0-1", "out of range"),
        ("1-8", "out of range"),
        ("abc", "malformed"),
        ("", "malformed"),
        ("1-", "malformed"),
        ("-1", "malformed"),
        ("1.5", "malformed"),
        (3, "must be a string"),
        (None, "must be a string"),
    ],
)
def test_bad_spans_say_why(span, reason):
    with pytest.raises(BadSpan, match=reason):
        _stm(*CONVERSATION).span_messages(span)


def test_a_span_needs_messages_beyond_the_system_prompt():
    for span in ("all", "1", "1-1"):
        with pytest.raises(BadSpan, match="no messages besides the system prompt"):
            _stm().span_messages(span)


def test_rounds_start_at_each_user_message_including_summaries():
    stm = _stm(("user", "u1"), ("assistant", "a1"), ("user", "u2"), ("assistant", "a2"), ("tool", "t2"))
    assert _contents(stm.span_messages("1")) == ["u2", "a2", "t2"]
    stm.summarize("1", lambda messages: "S")
    assert _contents(stm.messages) == [SYSTEM, "u1", "a1", "[summary of 3 messages]\nS"]
    assert _contents(stm.span_messages("1")) == ["[summary of 3 messages]\nS"]


def test_summarize_replaces_the_span_in_place_and_keeps_the_system_prompt():
    stm = _stm(*CONVERSATION)
    seen = []
    replaced = stm.summarize("2-4", lambda messages: seen.append(_contents(messages)) or "the gist")
    assert replaced == 3 and seen == [["u1", "a1", "t1"]]
    assert stm.messages[2] == {"role": "user", "content": "[summary of 3 messages]\nthe gist"}
    assert _contents(stm.messages) == [SYSTEM, "t0", "[summary of 3 messages]\nthe gist", "a2", "u2", "a3"]
    assert stm.summarize("all", lambda messages: "everything") == 5
    assert stm.messages == [{"role": "system", "content": SYSTEM},
                            {"role": "user", "content": "[summary of 5 messages]\neverything"}]


def test_summarize_with_a_bad_span_changes_nothing_and_never_calls_the_summarizer():
    stm = _stm(*CONVERSATION)
    before = stm.snapshot()
    with pytest.raises(BadSpan):
        stm.summarize("9", lambda messages: pytest.fail("summarizer called"))
    assert stm.snapshot() == before


def test_filter_removes_messages_about_the_criteria_but_never_the_system_prompt():
    stm = _stm(
        ("user", "The weather in Paris is sunny and warm today."),
        ("assistant", "Noted."),
        ("user", "Alice moved to Berlin in 2019 to study physics."),
        ("tool", "Tomorrow the weather in Paris turns rainy."),
        ("user", "Paris has many museums."),  # covers 1 of the 2 criteria words: 0.5 < 0.6, kept
    )
    removed = stm.filter("messages about the weather in Paris", 0.6, similarity=LexicalSimilarity())
    assert removed == 2
    assert _contents(stm.messages) == [SYSTEM, "Noted.", "Alice moved to Berlin in 2019 to study physics.",
                                       "Paris has many museums."]
    assert stm.filter("Paris", 0.6, similarity=LexicalSimilarity()) == 1
    assert stm.messages[0]["content"] == SYSTEM  # the system message mentions Paris too and stays
    assert _stm().filter("anything", similarity=LexicalSimilarity()) == 0


def test_lexical_similarity_is_criteria_coverage():
    lexical = LexicalSimilarity()
    texts = ["The weather in Paris is sunny.", "Paris museums", "nothing here", ""]
    # W("the weather forecasts for Paris") = {weather, forecast, pari}: 2/3, 1/3, 0, 0
    assert lexical.score("the weather forecasts for Paris", texts) == pytest.approx([2 / 3, 1 / 3, 0, 0])
    # filtering words and stopwords are not part of the topic; a criteria without topic words matches nothing
    assert lexical.score("remove all messages mentioning the weather", texts) == [1.0, 0.0, 0.0, 0.0]
    assert lexical.score("the messages about it", texts) == [0.0, 0.0, 0.0, 0.0]
    assert lexical.score("x", []) == []


def test_make_similarity_names():
    assert isinstance(make_similarity("lexical"), LexicalSimilarity)
    with pytest.raises(ValueError, match=r"\['embedding', 'lexical'\]"):
        make_similarity("jaccard")


def test_hashing_embedding_similarity_is_deterministic():
    similarity = EmbeddingSimilarity(HashingEmbedder())
    scores = similarity.score("red cats", ["Red cat!", "blue river", ""])
    assert scores[0] == pytest.approx(1.0) and scores[1] == pytest.approx(0.0, abs=0.2) and scores[2] == 0.0
    assert similarity.score("red cats", ["Red cat!", "blue river", ""]) == scores


def test_minilm_filter_at_the_paper_threshold():
    stm = _stm(
        ("user", "The weather in Paris is sunny and warm today."),
        ("user", "Tomorrow the weather in Paris turns rainy and cold."),
        ("user", "Alice moved to Berlin in 2019 to study physics."),
        ("assistant", "Bob bought a red bicycle last week."),
    )
    assert stm.filter("weather in Paris", 0.6, similarity=make_similarity("embedding")) == 2
    assert _contents(stm.messages)[1:] == ["Alice moved to Berlin in 2019 to study physics.",
                                           "Bob bought a red bicycle last week."]


def test_extractive_summary_keeps_central_sentences_in_order():
    messages = [
        {"role": "user", "content": "Alice lives in Paris. She has a cat named Tom. Unrelated: it rained."},
        {"role": "assistant", "content": "<think>store Alice and Paris</think><tool_call>[{\"name\": "
                                         "\"Add_memory\", \"arguments\": {\"content\": \"x\"}}]</tool_call>"},
        {"role": "tool", "content": "[memory tool result]\nmemory_added:mem_1"},
        {"role": "user", "content": "Tom the cat likes Paris in spring! Alice works in Paris."},
    ]
    summary = extractive_summary(messages, max_sentences=3)
    assert summary == "Alice lives in Paris. She has a cat named Tom. Tom the cat likes Paris in spring!"
    assert extractive_summary(messages, max_sentences=3) == summary
    assert "think" not in extractive_summary(messages, 10) and "tool_call" not in extractive_summary(messages, 10)
    assert extractive_summary([{"role": "user", "content": "  "}]) == "(nothing to summarize)"
    assert len(extractive_summary([{"role": "user", "content": "word " * 200}])) == 300
