"""LongMemEval (official schema: a JSON list of questions, each with its haystack) → one episode per question.

Row: `question_id, question_type, question, answer, question_date, haystack_dates, haystack_session_ids,
haystack_sessions [[{role, content, has_answer?}]], answer_session_ids`. Every turn of every haystack session,
in order, becomes one stage-1 message `[date] role: content`; turns flagged `has_answer` are the memory-quality
reference. The question carries its date (`[date] question`) because temporal questions are relative to it.
Abstention questions (`question_id` ending in `_abs`) are flagged in metadata; their answer text is kept.
"""

from agemem.records import Episode
from data_gen.row_conversion import Outcome
from data_gen.rows import Record

SOURCE = "longmemeval"
ID_KEY = "question_id"


def session_messages(record: Record, session: object, name: str, date: str) -> tuple[list[str], list[str]]:
    """(messages, the ones flagged has_answer) of one haystack session."""
    if not isinstance(session, list):
        raise record.error(name, f"expected a list of turns, got {type(session).__name__}")
    messages, evidence = [], []
    for j, turn in enumerate(session):
        turn_name = f"{name}[{j}]"
        if not isinstance(turn, dict):
            raise record.error(turn_name, f"expected an object, got {type(turn).__name__}")
        role = record.need(turn, "role", str, f"{turn_name}.role")
        content = record.need(turn, "content", str, f"{turn_name}.content")
        if not content.strip():
            continue  # an empty turn carries nothing to remember
        message = f"[{date}] {role}: {content}"
        messages.append(message)
        if "has_answer" in turn and record.need(turn, "has_answer", bool, f"{turn_name}.has_answer"):
            evidence.append(message)
    return messages, evidence


def _haystack(record: Record) -> tuple[list[str], list[str]]:
    """All haystack messages in order, and the evidence messages."""
    sessions = record.need(record.data, "haystack_sessions", list, "haystack_sessions")
    dates = record.need(record.data, "haystack_dates", list, "haystack_dates")
    if len(dates) != len(sessions):
        raise record.error("haystack_dates", f"{len(dates)} dates for {len(sessions)} haystack sessions")
    messages, evidence = [], []
    for i, session in enumerate(sessions):
        date = record.need(dates, i, str, f"haystack_dates[{i}]")
        more, found = session_messages(record, session, f"haystack_sessions[{i}]", date)
        messages += more
        evidence += found
    if not messages:
        raise record.error("haystack_sessions", "no turn with content")
    return messages, evidence


def convert(record: Record) -> list[Outcome]:
    """One LongMemEval question → one episode."""
    data = record.data
    question_id = record.need(data, ID_KEY, str, ID_KEY)
    question = record.need(data, "question", str, "question")
    question_type = record.need(data, "question_type", str, "question_type")
    # Some questions (counting, ages) have numeric answers in the official file.
    answer = str(record.need(data, "answer", (str, int, float), "answer"))
    date = record.need(data, "question_date", str, "question_date") if "question_date" in data else ""
    messages, evidence = _haystack(record)
    metadata = {
        "item_id": question_id,
        "question_date": date,
        "abstention": question_id.endswith("_abs"),
        "answer_session_ids": data.get("answer_session_ids", []),
    }
    return [Episode(
        id=question_id,
        source=SOURCE,
        contexts=messages,
        distractors=[],
        question=f"[{date}] {question}" if date else question,
        answers=[answer],
        supporting_facts=list(dict.fromkeys(evidence)),
        category=question_type,
        metadata=metadata,
    )]
