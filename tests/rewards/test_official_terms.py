"""The official-code preset's terms (R_tool, context, memory, penalties), every value hand-computed."""

import pytest

from agemem.rewards import official_terms as official
from agemem.rewards import paper_terms as terms
from agemem.tools.schemas import (
    ADD_MEMORY,
    DELETE_MEMORY,
    FILTER_CONTEXT,
    RETRIEVE_MEMORY,
    SUMMARY_CONTEXT,
    UPDATE_MEMORY,
)


def retrieve(b, *contents: str, ok: bool = True):
    return b.result(RETRIEVE_MEMORY, ok=ok, query="q", data={"retrieved": [
        {"id": f"m{i}", "content": c, "score": 0.5} for i, c in enumerate(contents)]})


# ---------------------------------------------------------------- R_tool


def test_tool_term_every_part(b):
    # 1 Add (stage 1) + 1 Filter (stage 2) + 1 Retrieve (stage 3) = 3 calls; 2 stage-3 rounds of 5.
    traj = b.trajectory(b.step(1, b.result(ADD_MEMORY, content="x")), b.step(2, b.result(FILTER_CONTEXT, criteria="c")),
                        b.step(3, retrieve(b, "x")), b.step(3, answer="a"), max_rounds=5)
    # ratio 3/2 = 1.5 in [0.3, 2]: +0.2; existence 0.2 + 0.2 + 0.1; efficiency 0.2·(1 − 2/5) = 0.12
    assert official.tool_term(traj) == pytest.approx(0.2 + 0.5 + 0.12)


def test_tool_term_scale_boundaries(b):
    def with_calls(n: int, rounds: int):
        calls = [b.result(ADD_MEMORY, content=str(i)) for i in range(n)]
        steps = [b.step(3, *calls)] + [b.step(3) for _ in range(rounds - 1)]
        return b.trajectory(*steps, max_rounds=10)

    one_round = 0.2 * (1 - 1 / 10)  # efficiency after 1 of 10 rounds
    assert official.tool_term(with_calls(2, 1)) == pytest.approx(0.2 + 0.1 + one_round)  # ratio 2: in range
    assert official.tool_term(with_calls(3, 1)) == pytest.approx(0.0 + 0.1 + one_round)  # ratio 3: neither
    assert official.tool_term(with_calls(4, 1)) == pytest.approx(-0.1 + 0.1 + one_round)  # ratio 4 > 3
    assert official.tool_term(with_calls(3, 10)) == pytest.approx(0.2 + 0.1 + 0.0)  # ratio 0.3: in range
    assert official.tool_term(with_calls(2, 10)) == pytest.approx(0.0 + 0.1 + 0.0)  # ratio 0.2: below


def test_tool_term_is_clipped(b):
    many_rounds = b.trajectory(*[b.step(3) for _ in range(20)], max_rounds=5)
    assert official.tool_term(many_rounds) == -0.5  # 0 calls: ratio 0 → 0; efficiency 0.2·(1 − 4) = −0.6


def test_prose_naming_a_tool_and_failed_calls_earn_nothing(b):
    """Counts come from executed, successful calls: an answer that names every tool, a failed Update and a failed
    Delete, and a Retrieve that errored earn no existence, scale, maintenance or relevance."""
    prose = b.step(3, answer="I used Retrieve_memory, Summary_context, Filter_context and Add_memory.")
    failed = b.step(2, b.result(UPDATE_MEMORY, ok=False, memory_id="nope", content="x"),
                    b.result(DELETE_MEMORY, ok=False, memory_id="nope", confirmation=True), retrieve(b, ok=False))
    traj = b.trajectory(failed, prose, answer="…", max_rounds=5, stm_final=[
        {"role": "assistant", "content": prose.action.answer}])
    assert official.tool_term(traj) == pytest.approx(0.2 * (1 - 1 / 5))  # no calls, no tools: efficiency only
    assert terms.maintenance_reward(traj) == 0.0
    assert official.relevance_fallback(traj) == 0.0
    assert official.preventive(traj) == 0.0
    assert official.added_entries(traj) == []


# ---------------------------------------------------------------- context and memory


def test_compression_and_overflow_use_chars_over_four_of_the_final_context(b):
    traj = b.trajectory(context_budget=100, stm_final=[{"role": "user", "content": "x" * 398}])
    assert official.approx_tokens(traj.stm_final) == 99.5  # float division
    assert official.compression(traj) == pytest.approx(0.005)
    assert not official.overflowed(traj)
    at = b.trajectory(context_budget=100, stm_final=[{"role": "user", "content": "x" * 400}])
    assert official.compression(at) == 0.0 and not official.overflowed(at)  # 100 tokens: not above the budget
    over = b.trajectory(context_budget=100, stm_final=[{"role": "user", "content": "x" * 401}])
    assert official.overflowed(over) and official.compression(over) == 0.0


def test_preventive_needs_a_successful_context_tool_and_no_overflow(b):
    summary = b.step(2, b.result(SUMMARY_CONTEXT, span="all"))
    small = [{"role": "user", "content": "x" * 40}]
    assert official.preventive(b.trajectory(summary, context_budget=100, stm_final=small)) == 1.0
    big = [{"role": "user", "content": "x" * 404}]
    assert official.preventive(b.trajectory(summary, context_budget=100, stm_final=big)) == 0.0
    assert official.preventive(b.trajectory(b.step(2), context_budget=100, stm_final=small)) == 0.0


def test_preservation_half_of_the_long_words(b):
    q = "Which band has more members, Muse or The Raconteurs?"
    asked = {"role": "user", "content": f"[question]\n{q}"}
    assert official.key_tokens(q) == ["which", "band", "more", "members", "muse", "raconteurs"]
    assert official.preservation(q, [asked]) == 1.0  # the query itself is in the context
    assert official.preservation(q, [{"role": "tool", "content": q}]) == 0.0  # not as a user message: gone
    assert official.preservation(q, []) == 0.0


def test_storage_llm_count_and_the_keyword_fallback(b):
    long_key = "Remember this: the key fact is that The Raconteurs have four members."  # 69 chars, "key"
    long_plain = "The Raconteurs are an American rock band from Detroit, Michigan, USA."  # 69 chars, no keyword
    short_key = "key: 4 members"  # keyword, 14 chars
    assert official.storage_fallback([long_key, long_plain, short_key]) == pytest.approx(0.3 / 3)
    assert official.storage_fallback([]) == 0.0
    assert official.storage([0.9, 0.2, 0.5], [long_key], threshold=0.5) == pytest.approx(2 / 3)
    assert official.storage(None, [long_key], threshold=0.5) == pytest.approx(0.3)


def test_relevance_fallback_followed_or_not(b):
    followed = b.trajectory(b.step(3, retrieve(b, "x")), b.step(3, answer="a"))
    last = b.trajectory(b.step(3), b.step(3, retrieve(b, "x")))
    empty = b.trajectory(b.step(3, retrieve(b)), b.step(3, answer="a"))  # found nothing: no retrieval counted
    assert official.relevance_fallback(followed) == 0.5
    assert official.relevance_fallback(last) == 0.2
    assert official.relevance_fallback(empty) == 0.0


def test_retrieved_items_are_the_first_ten(b):
    traj = b.trajectory(b.step(3, retrieve(b, *[str(i) for i in range(7)])), b.step(3, retrieve(b, *"abcdef")))
    assert official.retrieved_items(traj) == [*map(str, range(7)), "a", "b", "c"]


# ---------------------------------------------------------------- penalties


def test_official_round_penalty_at_its_boundary_even_when_the_last_round_answered(b):
    four = b.trajectory(*[b.step(3) for _ in range(3)], b.step(3, answer="a"), max_rounds=5)
    five = b.trajectory(*[b.step(3) for _ in range(4)], b.step(3, answer="a"), max_rounds=5)
    assert official.penalties(four, -1.0, -0.5) == (0.0, 0.0)
    assert official.penalties(five, -1.0, -0.5) == (-1.0, 0.0)
    with pytest.raises(ValueError, match="max_rounds"):
        official.penalties(b.trajectory(b.step(3)), -1.0, -0.5)


# ---------------------------------------------------------------- boundaries that surviving mutants exposed
# (mutation testing of agemem/rewards: docs/LOG.md)


def test_summary_alone_earns_the_context_existence_bonus(b):
    traj = b.trajectory(b.step(3, b.result(SUMMARY_CONTEXT, span="all")), max_rounds=5)
    # 1 call / 1 stage-3 round: scale +0.2; Summary: existence +0.2; efficiency 0.2·(1 − 1/5)
    assert official.tool_term(traj) == pytest.approx(0.2 + 0.2 + 0.16)
    add_only = b.trajectory(b.step(3, b.result(ADD_MEMORY, content="x")), max_rounds=5)
    assert official.tool_term(add_only) == pytest.approx(0.2 + 0.1 + 0.16)


def test_official_compression_without_a_recorded_budget_is_zero(b):
    no_budget = b.trajectory(context_budget=0, stm_final=[{"role": "user", "content": "x"}])
    assert official.compression(no_budget) == 0.0


def test_boundaries_the_mutants_found(b):
    question_without_long_words = "Who won it?"
    asked = [{"role": "user", "content": question_without_long_words}]
    assert official.preservation(question_without_long_words, asked) == 1.0
    fifty = "key " + "x" * 46  # exactly 50 characters: not longer than 50
    assert len(fifty) == 50 and official.storage_fallback([fifty]) == 0.0
    assert official.storage_fallback([fifty + "!"]) == 0.3
    assert official.storage([0.9], ["e"], threshold=0.5) == 1.0  # one judged entry: 1/1
    one_round = b.trajectory(b.step(3, answer="a"), max_rounds=1, context_budget=1,
                             stm_final=[{"role": "user", "content": "xx"}])  # 0.5 tokens of a 1-token budget
    assert official.penalties(one_round, -1.0, -0.5) == (-1.0, 0.0)  # 1 round of 1: the official penalty
    assert official.compression(one_round) == pytest.approx(0.5)
