"""HotpotQA (official schema, distractor setting; a JSON list or JSON lines) → episodes.

Row: `_id, question, answer, supporting_facts [[title, sentence index], …], context [[title, [sentences]], …]`,
optional `type` and `level`. Supporting paragraphs become the stage-1 contexts (in the order the supporting
facts name them), the item's other paragraphs the stage-2 distractors (related by construction), the supporting
sentences the memory-quality reference.

Missing or empty paragraphs are handled deliberately: an item keeps whatever supporting paragraphs it has
(the missing ones are listed in `metadata["missing_supporting_facts"]`); an item with none of them left, or
with no paragraphs at all (`context` absent, null or empty), is rejected with that reason. A paragraph whose
sentences are null or [] is empty: as a distractor it is dropped and counted in `metadata["empty_paragraphs"]`.
Malformed values (a paragraph that is not a [title, sentences] pair, a number where text belongs) are errors.
"""

from agemem.records import Episode
from data_gen.errors import Rejection
from data_gen.row_conversion import Outcome
from data_gen.rows import Record

SOURCE = "hotpotqa"
ID_KEY = "_id"


def paragraph_text(title: str, sentences: list[str]) -> str:
    """One paragraph as one message: `Title: sentence sentence …` (HotpotQA sentences carry their spaces)."""
    return f"{title}: {''.join(sentences).strip()}"


def _paragraphs(record: Record) -> dict[str, list[str]]:
    """title → sentences, in file order, type-checked."""
    paragraphs: dict[str, list[str]] = {}
    context = record.data.get("context")
    for i, pair in enumerate([] if context is None else record.need(record.data, "context", list, "context")):
        name = f"context[{i}]"
        if not isinstance(pair, list) or len(pair) != 2:
            raise record.error(name, "expected a [title, [sentences]] pair")
        title = record.need(pair, 0, str, f"{name}[0]")
        # A null paragraph is an empty one; a bare string is a one-sentence paragraph (seen in derived copies).
        sentences = [] if pair[1] is None else [pair[1]] if isinstance(pair[1], str) else pair[1]
        if not isinstance(sentences, list):
            raise record.error(f"{name}[1]", f"expected a list of sentences, got {type(sentences).__name__}")
        for j in range(len(sentences)):
            record.need(sentences, j, str, f"{name}[1][{j}]")
        paragraphs.setdefault(title, sentences)
    return paragraphs


def _supporting_pairs(record: Record) -> list[tuple[str, int]]:
    pairs = []
    for i, pair in enumerate(record.need(record.data, "supporting_facts", list, "supporting_facts")):
        name = f"supporting_facts[{i}]"
        if not isinstance(pair, list) or len(pair) != 2:
            raise record.error(name, "expected a [title, sentence index] pair")
        pairs.append((record.need(pair, 0, str, f"{name}[0]"), record.need(pair, 1, int, f"{name}[1]")))
    return pairs


def _answer(record: Record) -> str:
    # A few HotpotQA copies store numeric answers as numbers; the answer is text either way.
    return str(record.need(record.data, "answer", (str, int, float), "answer"))


def convert(record: Record) -> list[Outcome]:
    """One HotpotQA item → one episode, or a rejection when no supporting paragraph is present."""
    data = record.data
    item_id = record.need(data, ID_KEY, str, ID_KEY)
    question = record.need(data, "question", str, "question")
    answer = _answer(record)
    paragraphs = _paragraphs(record)
    pairs = _supporting_pairs(record)
    if not paragraphs:
        return [Rejection(record.file, record.line, "context", "no paragraphs (missing, null or empty)", item_id)]
    support_titles = list(dict.fromkeys(t for t, _ in pairs if paragraphs.get(t)))
    if not support_titles:
        titles = sorted({t for t, _ in pairs})
        return [Rejection(record.file, record.line, "supporting_facts",
                          f"none of the supporting paragraphs {titles} is present and non-empty in context", item_id)]
    facts = [paragraphs[t][i].strip() for t, i in pairs if t in support_titles and 0 <= i < len(paragraphs[t])]
    missing = [[t, i] for t, i in pairs if t not in support_titles or not 0 <= i < len(paragraphs[t])]
    others = [t for t in paragraphs if t not in support_titles]
    metadata = {
        "item_id": item_id,
        "level": data.get("level", ""),
        "missing_supporting_facts": missing,
        "empty_paragraphs": sum(1 for t in others if not paragraphs[t]),
    }
    return [Episode(
        id=item_id,
        source=SOURCE,
        contexts=[paragraph_text(t, paragraphs[t]) for t in support_titles],
        distractors=[paragraph_text(t, paragraphs[t]) for t in others if paragraphs[t]],
        question=question,
        answers=[answer],
        supporting_facts=[f for f in facts if f],
        category=str(data.get("type", "")),
        metadata=metadata,
    )]
