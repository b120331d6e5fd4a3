"""LoCoMo (`locomo10.json`: a JSON list of conversations) → one episode per question.

Row: `sample_id`, `conversation` {speaker_a, speaker_b, session_<n>_date_time, session_<n>: [{speaker, dia_id,
text, blip_caption?}]}, `qa` [{question, answer | adversarial_answer, evidence [dia ids], category 1–5}].
Every turn of every session, in session order, becomes one stage-1 message `[date] Speaker: text` (a shared
photo adds `[shares a photo: caption]`). The evidence turns are the memory-quality reference.

Categories (README of the data): 1 multi-hop, 2 temporal, 3 open-domain, 4 single-hop, 5 adversarial.
Adversarial items without an `answer` become abstention questions whose answer is "not mentioned"; the two
adversarial items in locomo10 that do carry an `answer` keep it. Numeric answers are turned into text.
Evidence ids that match no turn (a few are malformed, e.g. "D:11:26") are kept in `metadata`.
"""

import re
from collections.abc import Callable
from functools import partial

from agemem.records import ABSTAIN_ANSWER, Episode
from data_gen.errors import DataError
from data_gen.row_conversion import Outcome
from data_gen.rows import Record

SOURCE = "locomo"
ID_KEY = "sample_id"
CATEGORIES = {1: "multi_hop", 2: "temporal", 3: "open_domain", 4: "single_hop", 5: "adversarial"}
_SESSION = re.compile(r"session_(\d+)$")
_DIA_ID = re.compile(r"D(\d+):(\d+)")


def _turn_text(record: Record, turn: object, name: str, date: str) -> tuple[str, str]:
    """(dia_id, message) of one turn."""
    speaker = record.need(turn, "speaker", str, f"{name}.speaker")
    text = record.need(turn, "text", str, f"{name}.text")
    dia_id = record.need(turn, "dia_id", str, f"{name}.dia_id")
    caption = turn.get("blip_caption")
    photo = f" [shares a photo: {caption}]" if isinstance(caption, str) and caption.strip() else ""
    return dia_id, f"[{date}] {speaker}: {text}{photo}"


def _messages(record: Record) -> tuple[list[str], dict[str, str]]:
    """All turns as messages, in session order, and dia_id → message."""
    conversation = record.need(record.data, "conversation", dict, "conversation")
    numbers = sorted(int(m.group(1)) for key in conversation if (m := _SESSION.match(key)))
    messages, by_id = [], {}
    for n in numbers:
        name = f"conversation.session_{n}"
        turns = record.need(conversation, f"session_{n}", list, name)
        date = record.need(conversation, f"session_{n}_date_time", str, f"{name}_date_time")
        for i, turn in enumerate(turns):
            if not isinstance(turn, dict):
                raise record.error(f"{name}[{i}]", f"expected an object, got {type(turn).__name__}")
            dia_id, message = _turn_text(record, turn, f"{name}[{i}]", date)
            messages.append(message)
            by_id[_normal_dia_id(dia_id)] = message
    if not messages:
        raise record.error("conversation", "no session with turns")
    return messages, by_id


def _normal_dia_id(dia_id: str) -> str:
    """`D30:05` → `D30:5`, so that zero-padded evidence ids still match their turn."""
    match = _DIA_ID.fullmatch(dia_id.strip())
    return f"D{int(match.group(1))}:{int(match.group(2))}" if match else dia_id.strip()


def _evidence(record: Record, qa: dict, name: str) -> list[str]:
    """Evidence ids; some entries hold several ids separated by spaces or semicolons."""
    entries = record.need(qa, "evidence", list, f"{name}.evidence")
    ids = []
    for j in range(len(entries)):
        text = record.need(entries, j, str, f"{name}.evidence[{j}]")
        ids += [_normal_dia_id(part) for part in re.split(r"[;\s]+", text) if part]
    return ids


def _answers(record: Record, qa: dict, name: str, category: int) -> tuple[list[str], dict]:
    """Gold answers and extra metadata; adversarial items without an answer abstain."""
    if category == 5 and "answer" not in qa:
        adversarial = record.need(qa, "adversarial_answer", (str, int, float), f"{name}.adversarial_answer")
        return [ABSTAIN_ANSWER], {"adversarial_answer": str(adversarial), "abstention": True}
    answer = record.need(qa, "answer", (str, int, float), f"{name}.answer")
    extra = {"adversarial_answer": str(qa["adversarial_answer"])} if "adversarial_answer" in qa else {}
    return [str(answer)], {**extra, "abstention": False}


def _qa_episode(record: Record, index: int, sample_id: str, messages: list[str], by_id: dict[str, str]) -> Episode:
    name = f"qa[{index}]"
    qa = record.need(record.data["qa"], index, dict, name)
    question = record.need(qa, "question", str, f"{name}.question")
    category = record.need(qa, "category", int, f"{name}.category")
    if category not in CATEGORIES:
        raise record.error(f"{name}.category", f"unknown category {category}: expected one of {sorted(CATEGORIES)}")
    answers, extra = _answers(record, qa, name, category)
    evidence = _evidence(record, qa, name)
    metadata = {
        "item_id": sample_id,
        "qa_index": index,
        "locomo_category": category,
        "evidence": evidence,
        "unresolved_evidence": [e for e in evidence if e not in by_id],
        **extra,
    }
    return Episode(
        id=f"{sample_id}:qa{index:04d}",
        source=SOURCE,
        contexts=messages,
        distractors=[],
        question=question,
        answers=answers,
        supporting_facts=list(dict.fromkeys(by_id[e] for e in evidence if e in by_id)),
        category=CATEGORIES[category],
        metadata=metadata,
    )


def convert(record: Record, questions_per_conversation: int = 0) -> list[Outcome]:
    """One conversation → one episode per question (the first `questions_per_conversation`; 0 = all).

    A malformed question becomes a `DataError` of its own; the conversation's other questions still convert.
    """
    sample_id = record.need(record.data, ID_KEY, str, ID_KEY)
    qas = record.need(record.data, "qa", list, "qa")
    messages, by_id = _messages(record)
    count = len(qas) if questions_per_conversation <= 0 else min(questions_per_conversation, len(qas))
    outcomes: list[Outcome] = []
    for index in range(count):
        try:
            outcomes.append(_qa_episode(record, index, sample_id, messages, by_id))
        except DataError as err:
            outcomes.append(err)
    return outcomes


def converter(questions_per_conversation: int) -> Callable[[Record], list[Outcome]]:
    """`convert` with the per-conversation question limit bound."""
    return partial(convert, questions_per_conversation=questions_per_conversation)
