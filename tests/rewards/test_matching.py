"""Rule judges: SQuAD/HotpotQA normalisation and the three answer metrics, plus the overlap rules."""

import pytest

from agemem.rewards import exact_match, normalize_answer, substring_match, token_f1
from agemem.rewards.matching import content_tokens, entry_supported, fact_coverage, fact_recall, rule_metric


@pytest.mark.parametrize(
    "text,expected",
    [
        ("The Cat!", "cat"),
        ("  a  quick,\tbrown\nfox. ", "quick brown fox"),
        ("An apple a day", "apple day"),
        ("THE", ""),
        ("anthem theatre", "anthem theatre"),  # articles only as whole words
        ("U.S.A.", "usa"),
        ("rock-and-roll", "rockandroll"),  # punctuation is removed, not replaced by a space
        ("Paris's", "pariss"),
        ("1,000 $", "1000"),
        ("", ""),
    ],
)
def test_normalize_answer_table(text, expected):
    assert normalize_answer(text) == expected


@pytest.mark.parametrize(
    "pred,gold,expected",
    [
        ("The Raconteurs", "raconteurs", 1.0),
        ("Raconteurs.", ["Muse", "the raconteurs"], 1.0),
        ("Muse", ["The Raconteurs"], 0.0),
        ("", "", 1.0),
        ("", [], 0.0),  # no gold answers: nothing can match
    ],
)
def test_exact_match(pred, gold, expected):
    assert exact_match(pred, gold) == expected


@pytest.mark.parametrize(
    "pred,gold,expected",
    [
        ("the quick brown fox", "quick brown dog", 2 / 3),  # 2 common of 3 and 3: p = r = 2/3
        ("x x y", "x y", 0.8),  # Counter overlap 2; p = 2/3, r = 1
        ("Paris", ["London", "Paris, France"], 2 / 3),  # best gold: p = 1, r = 1/2
        ("", "Paris", 0.0),
        ("", "the", 1.0),  # both normalise to nothing
        ("Muse", "The Raconteurs", 0.0),
    ],
)
def test_token_f1(pred, gold, expected):
    assert token_f1(pred, gold) == pytest.approx(expected)


@pytest.mark.parametrize(
    "pred,gold,expected",
    [
        ("The capital is Paris.", "paris", 1.0),
        ("A comparison of cities", "paris", 0.0),  # whole tokens only
        ("It was The Raconteurs, I think", ["Muse", "Raconteurs"], 1.0),
        ("anything", "", 0.0),
        ("", "the", 1.0),
    ],
)
def test_substring_match(pred, gold, expected):
    assert substring_match(pred, gold) == expected


def test_unknown_rule_metric_lists_the_valid_ones():
    with pytest.raises(ValueError, match="exact_match.*substring_match.*token_f1"):
        rule_metric("bleu")


def test_overlap_rules_hand_computed():
    fact = "Muse is an English rock band formed in 1994 with three members."
    assert content_tokens(fact) == {"muse", "english", "rock", "band", "formed", "1994", "three", "members"}
    assert fact_recall("Muse has three members", fact) == pytest.approx(3 / 8)
    assert fact_recall("Muse: English rock band, three members", fact) == pytest.approx(6 / 8)
    assert fact_recall("anything", "the of and") == 0.0  # a fact without content words supports nothing
    assert not entry_supported("Muse has three members", [fact], ["The Raconteurs"], 0.5)
    assert entry_supported("Muse English rock band three members", [fact], [], 0.5)
    assert entry_supported("I liked The Raconteurs", [], ["The Raconteurs"], 0.5)  # states the answer


def test_fact_coverage_hand_computed():
    facts = ["Muse formed in 1994.", "The Raconteurs have four members.", "of the"]  # last has no content words
    assert fact_coverage(["Muse formed 1994"], facts, [], 0.5) == 0.5  # 1 of 2 content-bearing facts
    assert fact_coverage(["Muse formed 1994", "Raconteurs: four members"], facts, [], 0.5) == 1.0
    assert fact_coverage([], facts, [], 0.5) == 0.0
    assert fact_coverage(["it is Paris"], [], ["Paris"], 0.5) == 1.0  # no facts: does some entry state the answer
    assert fact_coverage(["it is Rome"], [], ["Paris"], 0.5) == 0.0
