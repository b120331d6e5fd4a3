"""The 0–1 rubric prompts of the LLM judge and a tolerant parser for its replies.

The rubrics follow the paper's evaluator prompts (App. C.2: answer correctness and memory quality), rewritten,
and add two of the same shape for R_storage (one stage-1 entry) and R_relevance (the retrieved set).
"""

import json
import re

from agemem.rewards.judges.protocol import (
    ANSWER,
    MEMORY_QUALITY,
    RELEVANCE,
    STORAGE,
    ChatPrompt,
    JudgeRequest,
)

SYSTEM = "You are a strict, impartial evaluator. Reply with a single number between 0.0 and 1.0 and nothing else."

SCALE = """Score on a scale from 0.0 to 1.0:
- 1.0: {top}
- 0.8-0.9: mostly right, minor differences or omissions
- 0.6-0.7: partially right, something important is missing or wrong
- 0.4-0.5: some right elements, significant errors or omissions
- 0.2-0.3: mostly wrong, few right elements
- 0.0-0.1: wrong or irrelevant
Reply with only the number (for example 0.85)."""

TEMPLATES = {
    ANSWER: "Judge whether an agent's answer to a question is correct.\n\nQuestion: {question}\n"
    "Reference answer(s): {answers}\nAgent's answer: {texts}\n\n" + SCALE.format(top="correct or equivalent"),
    STORAGE: "An agent stored the memory entry below while reading material, before it saw the question. Judge "
    "whether the entry is high-quality: factual, reusable and useful for answering the question.\n\n"
    "Question: {question}\nExpected answer: {answers}\nSupporting facts:\n{facts}\nStored entry: {texts}\n\n"
    + SCALE.format(top="states information needed for the answer, clearly and without noise"),
    RELEVANCE: "An agent retrieved the memory entries below while answering a question. Judge how relevant the "
    "retrieved entries, taken together, are to the question.\n\nQuestion: {question}\n"
    "Retrieved entries:\n{texts}\n\n" + SCALE.format(top="all entries are relevant and they hold what is needed"),
    MEMORY_QUALITY: "Judge how well the facts an agent stored in its long-term memory match the supporting facts "
    "needed to answer a question: are all expected facts covered, are the stored facts relevant, is there "
    "irrelevant material?\n\nQuestion: {question}\nAnswer: {answers}\nExpected supporting facts:\n{facts}\n"
    "Stored facts:\n{texts}\n\n" + SCALE.format(top="every expected fact is stored and nothing irrelevant"),
}


def _bullets(items: tuple[str, ...]) -> str:
    return "\n".join(f"- {item}" for item in items) if items else "- (none)"


def build_prompt(request: JudgeRequest) -> ChatPrompt:
    """The (system, user) prompt that asks for `request`'s score."""
    single = request.kind in (ANSWER, STORAGE)
    user = TEMPLATES[request.kind].format(
        question=request.question,
        answers=" | ".join(request.answers),
        texts=request.texts[0] if single else _bullets(request.texts),
        facts=_bullets(request.facts),
    )
    return SYSTEM, user


_THINK = re.compile(r"<think>.*?</think>", flags=re.DOTALL | re.IGNORECASE)
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_OVER = rf"\s*(?:/|out of)\s*({_NUMBER})"
_LABELLED = re.compile(rf"\b(?:score|rating|grade)\b\W{{0,3}}({_NUMBER})(?:{_OVER})?", flags=re.IGNORECASE)
_FRACTION = re.compile(rf"({_NUMBER}){_OVER}", flags=re.IGNORECASE)
_PERCENT = re.compile(rf"({_NUMBER})\s*%")


def _in_unit(value: float) -> float | None:
    return value if 0.0 <= value <= 1.0 else None


def _from_json(text: str) -> float | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if isinstance(data, dict):
        data = data.get("score")
    if isinstance(data, bool) or not isinstance(data, (int, float)):
        return None
    return _in_unit(float(data))


def parse_score(reply: str) -> float | None:
    """The score in [0, 1] a judge reply states, or None when it states none.

    Tried in order, after dropping <think>…</think> blocks (an unclosed <think> leaves nothing): JSON (a number
    or {"score": x}); a labelled number ("Score: 0.8", "Score: 8/10"); a fraction ("4/5", "8 out of 10"); a percentage ("85%");
    the first number. A value outside [0, 1] (after dividing fractions and percentages) is unparsable.
    """
    text = _THINK.sub(" ", reply)
    if re.search(r"<think>", text, flags=re.IGNORECASE):
        return None
    text = text.strip()
    if not text:
        return None
    value = _from_json(text)
    if value is not None:
        return value
    if m := _LABELLED.search(text) or _FRACTION.search(text):
        denominator = float(m.group(2)) if m.group(2) else 1.0
        return _in_unit(float(m.group(1)) / denominator) if denominator > 0 else None
    if m := _PERCENT.search(text):
        return _in_unit(float(m.group(1)) / 100)
    if m := re.search(_NUMBER, text):
        return _in_unit(float(m.group(0)))
    return None
