"""Per-episode answer metrics of the evaluation benchmarks, each as its official evaluation computes it
(SPEC.md §7.1).

- HotpotQA (`hotpot_evaluate_v1.py`, hotpotqa/hotpot): EM and F1 with the official answer normalisation (lower
  case, drop ASCII punctuation, drop the articles a/an/the, collapse whitespace); in F1 a normalised "yes",
  "no" or "noanswer" on either side scores 0 unless both sides are equal. `joint = sqrt(J·MQ)` (AgeMem's
  official code).
- LoCoMo (`task_eval/evaluation.py`, snap-research/locomo): F1 per question category with its own
  normalisation (commas dropped, "and" dropped like an article) and Porter-stemmed tokens.
- LongMemEval (`src/evaluation/`, xiaowu0162/LongMemEval): accuracy per question type; the official judge is
  an LLM (gpt-4o); `longmemeval_rule_judge` is the offline fallback.

Every `*_row` function returns one episode's metrics as a plain dict of floats, ready for
`eval_episodes.jsonl` and for `agemem.eval.bootstrap.aggregate`, which adds the aggregates with their n and
95% confidence intervals. An episode that gave no answer is scored with the prediction "" (the official
scripts count a missing answer as 0).
"""

import math
import re
import string
from collections import Counter

from agemem.eval.porter import porter_stem
from agemem.rewards.matching import Gold, exact_match, normalize_answer, substring_match
from data_gen.locomo import CATEGORIES as LOCOMO_CATEGORIES

# ---------------------------------------------------------------------------------------------- HotpotQA

_YES_NO = ("yes", "no", "noanswer")


def _golds(gold: Gold) -> list[str]:
    golds = [gold] if isinstance(gold, str) else list(gold)
    if not golds:
        raise ValueError("no gold answer given")
    return golds


def hotpot_precision_recall_f1(prediction: str, gold: str) -> tuple[float, float, float]:
    """The official `f1_score(prediction, ground_truth)`: (F1, precision, recall) of normalised token bags.

    A normalised yes/no/noanswer on either side gives (0, 0, 0) unless both sides are equal; no common token
    (two empty strings included) gives (0, 0, 0).
    """
    pred, ref = normalize_answer(prediction), normalize_answer(gold)
    if (pred in _YES_NO or ref in _YES_NO) and pred != ref:
        return 0.0, 0.0, 0.0
    pred_tokens, ref_tokens = pred.split(), ref.split()
    common = sum((Counter(pred_tokens) & Counter(ref_tokens)).values())
    if common == 0:
        return 0.0, 0.0, 0.0
    precision, recall = common / len(pred_tokens), common / len(ref_tokens)
    return 2 * precision * recall / (precision + recall), precision, recall


def hotpot_f1(prediction: str, gold: Gold) -> float:
    """Official HotpotQA answer F1 against the best gold (HotpotQA itself has one gold per question)."""
    return max(hotpot_precision_recall_f1(prediction, g)[0] for g in _golds(gold))


def hotpot_exact_match(prediction: str, gold: Gold) -> float:
    """Official HotpotQA EM (normalised strings equal) against the best gold: the rule judge's exact_match."""
    return exact_match(prediction, _golds(gold))


def hotpot_row(prediction: str, gold: Gold) -> dict[str, float]:
    """One episode's `em`, `f1`, `precision`, `recall` (the last two of the gold with the best F1)."""
    f1, precision, recall = max(hotpot_precision_recall_f1(prediction, g) for g in _golds(gold))
    return {"em": hotpot_exact_match(prediction, gold), "f1": f1, "precision": precision, "recall": recall}


def joint(judge_score: float, memory_quality: float) -> float:
    """`sqrt(J·MQ)`, AgeMem's joint score of the answer judge J and the memory quality MQ, both in [0, 1]."""
    for name, value in (("judge_score", judge_score), ("memory_quality", memory_quality)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name}={value}: must lie in [0, 1]")
    return math.sqrt(judge_score * memory_quality)


# ---------------------------------------------------------------------------------------------- LoCoMo

# The official adversarial rule: the lower-cased prediction contains one of these (plain substrings).
LOCOMO_ABSTENTION_PHRASES = ("no information available", "not mentioned")
_LOCOMO_IDS = {name: number for number, name in LOCOMO_CATEGORIES.items()}
_LOCOMO_ARTICLES = re.compile(r"\b(a|an|the|and)\b")
_PUNCTUATION = set(string.punctuation)


def locomo_category(category: int | str) -> int:
    """The official category number (1 multi-hop, 2 temporal, 3 open-domain, 4 single-hop, 5 adversarial) of a
    number or of the name `data_gen.locomo` gives episodes (`Episode.category`)."""
    if isinstance(category, int) and not isinstance(category, bool) and category in LOCOMO_CATEGORIES:
        return category
    if isinstance(category, str) and category in _LOCOMO_IDS:
        return _LOCOMO_IDS[category]
    valid = sorted(LOCOMO_CATEGORIES) + sorted(_LOCOMO_IDS)
    raise ValueError(f"LoCoMo category {category!r}: must be one of {valid}")


def locomo_normalize(text: str) -> str:
    """LoCoMo's `normalize_answer`: lower-case, drop punctuation (commas included, its own first step), drop
    a/an/the/and, collapse spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    return " ".join(_LOCOMO_ARTICLES.sub(" ", text).split())


def locomo_f1(prediction: str, gold: str) -> float:
    """LoCoMo's `f1_score`: token F1 of normalised, Porter-stemmed (NLTK) tokens; 0 without a common token."""
    pred_tokens = [porter_stem(w) for w in locomo_normalize(prediction).split()]
    gold_tokens = [porter_stem(w) for w in locomo_normalize(gold).split()]
    common = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred_tokens), common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def locomo_multi_hop_f1(prediction: str, gold: str) -> float:
    """LoCoMo's multi-answer `f1`: both sides split on commas; the mean over gold parts of the best F1."""
    predictions = [p.strip() for p in prediction.split(",")]
    golds = [g.strip() for g in gold.split(",")]
    return sum(max(locomo_f1(p, g) for p in predictions) for g in golds) / len(golds)


def locomo_adversarial(prediction: str) -> float:
    """Category 5: 1.0 when the prediction abstains in the official words ("no information available" or "not
    mentioned", case-insensitive substrings), else 0.0; other refusals ("unanswerable") score 0 there too."""
    text = prediction.lower()
    return float(any(phrase in text for phrase in LOCOMO_ABSTENTION_PHRASES))


def locomo_score(prediction: str, gold: str, category: int | str) -> float:
    """One LoCoMo question scored as `eval_question_answering` does for its category.

    Category 1 (multi-hop) → `locomo_multi_hop_f1`; 2 (temporal) and 4 (single-hop) → `locomo_f1`; 3
    (open-domain) → `locomo_f1` against the first of the `;`-separated gold answers; 5 (adversarial) →
    `locomo_adversarial` (the gold is not used). `gold` is the question's answer as a string
    (`Episode.answers[0]`).
    """
    number = locomo_category(category)
    if number == 5:
        return locomo_adversarial(prediction)
    if number == 1:
        return locomo_multi_hop_f1(prediction, gold)
    if number == 3:
        gold = gold.split(";")[0].strip()
    return locomo_f1(prediction, gold)


def locomo_row(prediction: str, gold: str, category: int | str) -> dict[str, float]:
    """One question's `f1` (its category's official score); aggregate with group key "category"."""
    return {"f1": locomo_score(prediction, gold, category)}


# ---------------------------------------------------------------------------------------------- LongMemEval

# The official question types, in the order its `print_qa_metrics.py` reports them.
LONGMEMEVAL_QUESTION_TYPES = (
    "single-session-user", "single-session-preference", "single-session-assistant", "multi-session",
    "temporal-reasoning", "knowledge-update",
)

# Offline stand-in for the official judge's abstention question ("does the model identify the question as
# unanswerable?"): whole normalised phrases, so "unknown" does not match "unknowns" and "cant" stands for
# "can't".
RULE_ABSTENTION_PHRASES = (
    "not mentioned", "never mentioned", "did not mention", "didnt mention", "no mention", "no information",
    "not enough information", "insufficient information", "information is not available", "not available",
    "not provided", "not specified", "not stated", "unanswerable", "cannot be answered", "cant be answered",
    "cannot answer", "cant answer", "unable to answer", "cannot determine", "cant determine", "dont know",
    "do not know", "unknown", "no record",
)
_ABSTENTION_NORMALISED = tuple(normalize_answer(p) for p in RULE_ABSTENTION_PHRASES)


def is_longmemeval_abstention(question_id: str) -> bool:
    """LongMemEval's unanswerable questions are the ids ending in `_abs` (the official script tests `'_abs' in
    question_id`, which selects the same questions in the released files)."""
    return question_id.endswith("_abs")


def states_abstention(prediction: str) -> bool:
    """The prediction says the question cannot be answered: it contains a `RULE_ABSTENTION_PHRASES` phrase as
    whole normalised words."""
    text = f" {normalize_answer(prediction)} "
    return any(f" {phrase} " in text for phrase in _ABSTENTION_NORMALISED)


def longmemeval_rule_judge(prediction: str, gold: str, question_id: str) -> float:
    """Offline fallback of LongMemEval's LLM judge: 1.0 or 0.0.

    An abstention question (`_abs`) is right when the prediction abstains (`states_abstention`); any other is
    right when the normalised gold occurs in the normalised prediction as whole words (the official judge asks
    whether "the response contains the correct answer"). Preference questions have a rubric, not an answer, as
    their gold: a rule judge cannot grade them faithfully and scores them by the same substring rule.
    """
    if is_longmemeval_abstention(question_id):
        return float(states_abstention(prediction))
    return substring_match(prediction, gold)


def longmemeval_row(prediction: str, gold: str, question_id: str,
                    judge_label: float | None = None) -> dict[str, float]:
    """One question's `accuracy` (the LLM judge's 0/1 `judge_label` when given, else the rule judge) and, for
    an abstention question only, the same value as `abstention_accuracy`.

    Aggregated with group key "question_type" this gives the official figures: overall accuracy (all rows),
    accuracy per type, task-averaged accuracy (the mean of the per-type accuracies: `group_mean`) and
    abstention accuracy (over the `_abs` rows, the only ones that carry it).
    """
    if judge_label is None:
        score = longmemeval_rule_judge(prediction, gold, question_id)
    else:
        score = float(judge_label)
    row = {"accuracy": score}
    if is_longmemeval_abstention(question_id):
        row["abstention_accuracy"] = score
    return row
