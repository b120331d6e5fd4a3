"""The paper preset's reward terms (SPEC.md §4) on hand-built trajectories, each branch with a hand-computed
value; R_preservation's key terms: rule-based extraction (names by capitalisation, numbers, dates, times)."""

import pytest

from agemem.rewards import paper_terms as terms
from agemem.rewards.paper_terms import context_text, extract_key_terms, term_present, terms_preserved
from agemem.tools.schemas import (
    ADD_MEMORY,
    DELETE_MEMORY,
    FILTER_CONTEXT,
    RETRIEVE_MEMORY,
    SUMMARY_CONTEXT,
    UPDATE_MEMORY,
)


def test_task_reward_branches():
    assert terms.task_reward(None, None, -1.0) == -1.0  # no answer → P_no-answer
    assert terms.task_reward("", 0.0, -1.0) == 0.0  # an empty answer is an answer: the judge scores it
    assert terms.task_reward("Paris", 0.75, -1.0) == 0.75
    with pytest.raises(ValueError):
        terms.task_reward("Paris", None, -1.0)


@pytest.mark.parametrize("used,budget,expected", [(500, 2000, 0.75), (0, 2000, 1.0), (2400, 2000, 0.0), (10, 0, 0.0)])
def test_compression(used, budget, expected):
    assert terms.compression_reward(used, budget) == pytest.approx(expected)


def test_used_tokens_tokenizer_and_chars(b):
    traj = b.trajectory(answer_context_tokens=321, stm_final=[
        {"role": "system", "content": "x" * 10},
        {"role": "user", "content": "y" * 7},
        {"role": "assistant", "content": None},
    ])
    assert terms.used_context_tokens(traj, "tokenizer") == 321
    assert terms.used_context_tokens(traj, "chars") == 4  # (10 + 7) // 4
    with pytest.raises(ValueError, match="tokenizer.*chars"):
        terms.used_context_tokens(traj, "words")


def test_preventive_needs_a_successful_context_tool_below_the_budget(b):
    summary, filt = b.result(SUMMARY_CONTEXT, span="all"), b.result(FILTER_CONTEXT, criteria="Grammy")
    assert terms.preventive_reward(b.trajectory(b.step(2, summary, context_tokens=1999))) == 1.0
    assert terms.preventive_reward(b.trajectory(b.step(2, filt, context_tokens=10))) == 1.0
    assert terms.preventive_reward(b.trajectory(b.step(2, summary, context_tokens=2000))) == 0.0  # at the limit
    failed = b.result(SUMMARY_CONTEXT, ok=False, data={"error": "bad_span"}, span="9-99")
    assert terms.preventive_reward(b.trajectory(b.step(2, failed, context_tokens=10))) == 0.0
    retrieve = b.result(RETRIEVE_MEMORY, data={"retrieved": []}, query="Muse")
    assert terms.preventive_reward(b.trajectory(b.step(3, retrieve, context_tokens=10))) == 0.0
    late_then_early = b.trajectory(b.step(2, summary, context_tokens=2500), b.step(3, filt, context_tokens=900))
    assert terms.preventive_reward(late_then_early) == 1.0


def test_preservation(b):
    q = "Which band has more members, Muse or The Raconteurs?"
    kept = [{"role": "user", "content": q}]
    summarised = [{"role": "user", "content": "[summary of 3 messages]\nmuse vs the raconteurs, members"}]
    filtered = [{"role": "user", "content": "Muse won a Grammy."}]
    assert terms.preservation_reward(q, kept) == 1.0
    assert terms.preservation_reward(q, summarised) == 1.0
    assert terms.preservation_reward(q, filtered) == 0.0
    assert terms.preservation_reward("what is it?", []) == 1.0  # no key terms


def test_context_is_the_mean_of_its_three_terms():
    assert terms.context_reward(0.75, 1.0, 0.0) == pytest.approx(1.75 / 3)


def test_stored_entries_are_stage_one_successful_adds(b):
    traj = b.trajectory(
        b.step(1, b.result(ADD_MEMORY, data={"memory_id": "m1"}, content="A"),
               b.result(ADD_MEMORY, ok=False, data={"error": "bad_arguments"}, content="B")),
        b.step(1, b.result(ADD_MEMORY, data={"memory_id": "m2"}, content="C")),
        b.step(3, b.result(ADD_MEMORY, data={"memory_id": "m3"}, content="D")),  # stage 3: not judged
    )
    assert terms.stored_entries(traj) == ["A", "C"]


@pytest.mark.parametrize("scores,expected", [([1.0, 0.0, 0.9], 2 / 3), ([0.5], 1.0), ([0.49], 0.0), ([], 0.0)])
def test_storage(scores, expected):
    assert terms.storage_reward(scores, 0.5) == pytest.approx(expected)


def test_maintenance_branches(b):
    update = b.result(UPDATE_MEMORY, data={"memory_id": "m1"}, memory_id="m1", content="new")
    delete = b.result(DELETE_MEMORY, data={"memory_id": "m1", "deleted": True}, memory_id="m1", confirmation=True)
    unknown = b.result(UPDATE_MEMORY, ok=False, data={"error": "unknown_memory_id"}, memory_id="m9", content="x")
    unconfirmed = b.result(DELETE_MEMORY, ok=False, data={"error": "not_confirmed"}, memory_id="m1")
    assert terms.maintenance_reward(b.trajectory(b.step(1, update))) == 1.0
    assert terms.maintenance_reward(b.trajectory(b.step(3, delete))) == 1.0  # any stage
    assert terms.maintenance_reward(b.trajectory(b.step(1, unknown, unconfirmed))) == 0.0
    assert terms.maintenance_reward(b.trajectory(b.step(1, b.result(ADD_MEMORY, content="x")))) == 0.0


def test_retrieved_entries_once_per_id_over_all_stages(b):
    first = b.result(RETRIEVE_MEMORY, data={"retrieved": [
        {"id": "m1", "content": "A", "score": 0.9}, {"id": "m2", "content": "B", "score": 0.5}]}, query="q")
    again = b.result(RETRIEVE_MEMORY, data={"retrieved": [{"id": "m1", "content": "A", "score": 0.8}]}, query="q")
    failed = b.result(RETRIEVE_MEMORY, ok=False, data={"error": "bad_arguments"})
    traj = b.trajectory(b.step(1, first), b.step(3, again, failed))
    assert terms.retrieved_entries(traj) == ["A", "B"]
    assert terms.relevance_reward(None) == 0.0  # nothing retrieved
    assert terms.relevance_reward(0.4) == 0.4


def test_memory_is_the_mean_of_its_three_terms():
    assert terms.memory_reward(0.5, 1.0, 0.25) == pytest.approx(1.75 / 3)


@pytest.mark.parametrize(
    "rounds,overflow,expected", [(False, False, (0.0, 0.0)), (True, False, (-1.0, 0.0)),
                                 (False, True, (0.0, -0.5)), (True, True, (-1.0, -0.5))]
)
def test_penalties(b, rounds, overflow, expected):
    traj = b.trajectory(rounds_exceeded=rounds, context_overflow=overflow)
    assert terms.penalties(traj, -1.0, -0.5) == expected


# ---------------------------------------------------------------- R_preservation's key terms


@pytest.mark.parametrize(
    "question,terms",
    [
        ("Which band has more members, Muse or The Raconteurs?", ["Muse", "Raconteurs"]),
        ("What happened on March 4, 2019 at 5 pm in New York City?", ["March 4, 2019", "5 pm", "New York City"]),
        ("Who was born on 4th of July 1990 at 14:30?", ["4th of July 1990", "14:30"]),
        ("Did it start on 2020-01-31 or 31/01/2020?", ["2020-01-31", "31/01/2020"]),
        ("Were 3.5 million people alive in the 1990s?", ["3.5", "1990s"]),
        ('When did "The Beatles" release Abbey Road (1969)?', ["Beatles", "Abbey Road", "1969"]),
        ("Paris, France or Rome?", ["Paris", "France", "Rome"]),  # punctuation ends a name
        ("what is the answer?", []),
        ("Muse released an album in September 2003.", ["September 2003", "Muse"]),
    ],
)
def test_extract_key_terms_table(question, terms):
    assert extract_key_terms(question) == terms


def test_terms_are_deduplicated_case_insensitively():
    assert extract_key_terms("Is Muse bigger than MUSE or Muse?") == ["Muse"]


@pytest.mark.parametrize(
    "term,text,present",
    [
        ("Muse", "muse is a band", True),  # case-insensitive
        ("Muse", "museum tickets", False),  # whole words only
        ("New York City", "in new\nyork  city", True),  # whitespace collapsed
        ("5 pm", "at 5 pm sharp", True),
        ("1994", "formed in 19945", False),
    ],
)
def test_term_present(term, text, present):
    assert term_present(term, text) is present


def test_preserved_through_a_summary_message():
    question = "Which band has more members, Muse or The Raconteurs?"
    context = [
        {"role": "system", "content": "You manage memory."},
        {"role": "user", "content": "[summary of 4 messages]\nThe user asked about Muse and the Raconteurs."},
    ]
    assert terms_preserved(extract_key_terms(question), context_text(context))
    lost = [{"role": "user", "content": "[summary of 4 messages]\nSomething about Muse."}]
    assert not terms_preserved(extract_key_terms(question), context_text(lost))


def test_no_key_terms_is_vacuously_preserved():
    assert terms_preserved([], "")
