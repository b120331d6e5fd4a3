"""R_preservation's key terms: rule-based extraction (names by capitalisation, numbers, dates, times)."""

import pytest

from agemem.rewards.key_terms import context_text, extract_key_terms, term_present, terms_preserved


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
