"""Mem-α instances (SPEC.md §6): a stream of chunks, then several questions answered from the final memory.

An instance is one `Episode` whose `contexts` are the chunks (cut by `chunk_stream` within [chunk_min_tokens,
chunk_max_tokens]), with no distractors (Mem-α has no stage 2), `questions` all its questions (the first is also
`question` / `answers`) and metadata {"chunks", "input_tokens", "origin", "item_id", "question_ids",
"questions_dropped"}. Tokens are `estimate_tokens` (characters / 4), the unit of the chunk bounds.

Size: a stream holds at most `data.chunks_per_instance` chunks (0: no count limit) and `data.max_instance_tokens`
tokens; a longer one is cut to its first whole chunks. A question survives the cut when every message of its
evidence (the source's supporting paragraphs, evidence turns or has_answer turns) lies wholly in the kept chunks;
a question whose evidence is unknown survives only when nothing was cut; an abstention question (LoCoMo
adversarial, LongMemEval `_abs`) always does, since less material cannot make its answer wrong. Then the first
`data.questions_per_instance` (0: all) are kept, in source order. An instance left with no question is a
`Rejection` (file sources) or an error (synthetic).

Sources:
- mem_alpha_hotpotqa: the paragraphs of consecutive items (each item's supporting and distractor paragraphs,
  shuffled by a hash of its id; duplicates once) are packed item by item while the stream fits; questions: the
  packed items' (substring EM). Only items of the same split (the hash of their id, data.val_fraction /
  test_fraction) share an instance, whose `item_id` is its first item's: every item keeps the split the
  one-question `hotpotqa` source gives it, whatever the chunk settings.
- mem_alpha_locomo: one conversation's dated turns, in session order; all its questions (categories kept,
  adversarial ones abstain with ABSTAIN_ANSWER, as data_gen/locomo.py makes them; substring EM).
- mem_alpha_longmemeval: one question's haystack: its evidence sessions, then the other sessions in haystack order
  while the stream fits, kept in haystack order; its one question (LLM judge).
- mem_alpha_synthetic: facts about entities (data_gen/synthetic.py's templates), later updates and deletions,
  look-alike distractor facts, rumours and friend links per `data.difficulty`; the questions are drawn from what
  the kept stream says (half of them about changed facts when there are enough), so the later value is the answer.
File sources ignore the seed (conversion is deterministic without one); synthetic instance i depends only on
(seed, i, settings).
"""

import heapq
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agemem.records import Episode
from data_gen import hotpotqa, locomo, longmemeval
from data_gen.chunks import chunk_stream, estimate_tokens, split_long
from data_gen.config import DataConfig
from data_gen.errors import DataError, Rejection
from data_gen.longmemeval import session_messages
from data_gen.row_conversion import ConversionResult, Outcome, convert_file, progress
from data_gen.rows import Record
from data_gen.synthetic import (
    ATTRIBUTES,
    DELETED_ANSWERS,
    DIFFICULTY,
    EntityPool,
    SyntheticSpec,
    draw_change,
    draw_value,
    fact,
    pool_suffix,
)

log = logging.getLogger("agemem")

HOTPOTQA, LOCOMO = "mem_alpha_hotpotqa", "mem_alpha_locomo"
LONGMEMEVAL, SYNTHETIC = "mem_alpha_longmemeval", "mem_alpha_synthetic"
# Synthetic streams: share of planted facts about an entity already in the stream (its other attributes are
# hard negatives), and share followed soon by the same attribute of a look-alike entity (a distractor fact).
REUSE_RATE, LOOKALIKE_RATE = 0.6, 0.25
# About the tokens of one synthetic message: a chunk holds chunk_max_tokens / FACT_TOKENS of them, and a change
# comes one to four chunks' worth of messages after its fact, so that it usually lands in a later chunk.
FACT_TOKENS = 8


@dataclass(frozen=True)
class Limits:
    """The size settings of an instance (from `DataConfig`)."""

    min_tokens: int  # fewest tokens per chunk
    max_tokens: int  # most tokens per chunk
    max_chunks: int  # most chunks per stream; 0: no count limit
    max_total: int  # most tokens per stream
    max_questions: int  # most questions per instance; 0: all

    @staticmethod
    def of(cfg: DataConfig) -> "Limits":
        if not 0 < cfg.chunk_min_tokens <= cfg.chunk_max_tokens:
            raise ValueError(f"data.chunk_min_tokens={cfg.chunk_min_tokens}, data.chunk_max_tokens="
                             f"{cfg.chunk_max_tokens}: need 0 < min <= max")
        if cfg.max_instance_tokens <= 0:
            raise ValueError(f"data.max_instance_tokens={cfg.max_instance_tokens}: must be > 0")
        for name in ("chunks_per_instance", "questions_per_instance"):
            if getattr(cfg, name) < 0:
                raise ValueError(f"data.{name}={getattr(cfg, name)}: must be >= 0 (0: no limit)")
        return Limits(cfg.chunk_min_tokens, cfg.chunk_max_tokens, cfg.chunks_per_instance, cfg.max_instance_tokens,
                      cfg.questions_per_instance)

    @property
    def budget(self) -> int:
        """The most tokens a stream can hold."""
        return min(self.max_total, self.max_chunks * self.max_tokens) if self.max_chunks else self.max_total


@dataclass
class _Stream:
    """Chunks of a message sequence, their sizes, and how many messages lie wholly in each chunk prefix."""

    chunks: list[str]
    sizes: list[int]  # tokens of each chunk (the sum over its pieces, as chunk_stream counts)
    ends: list[int]  # ends[c]: the messages wholly inside chunks[: c + 1]


def _chunked(messages: list[str], limits: Limits) -> _Stream:
    """`messages` cut by `chunk_stream`, remembering which messages each chunk completes."""
    pieces, owners = [], []
    for index, message in enumerate(messages):
        for piece in split_long(message, limits.max_tokens, estimate_tokens):
            pieces.append(piece)
            owners.append(index)
    stream, start = _Stream([], [], []), 0
    for chunk in chunk_stream(pieces, limits.min_tokens, limits.max_tokens):
        end, length = start + 1, len(pieces[start])
        while length < len(chunk):  # a chunk is consecutive pieces joined by newlines
            length, end = length + 1 + len(pieces[end]), end + 1
        if "\n".join(pieces[start:end]) != chunk:
            raise RuntimeError("chunk_stream returned a chunk that is not a run of whole pieces")
        whole = end == len(pieces) or owners[end] != owners[end - 1]
        stream.chunks.append(chunk)
        stream.sizes.append(sum(estimate_tokens(p) for p in pieces[start:end]))
        stream.ends.append(owners[end - 1] + 1 if whole else owners[end - 1])
        start = end
    return stream


def _cut(stream: _Stream, limits: Limits) -> _Stream:
    """The longest chunk prefix within the chunk-count and token limits."""
    count, total = 0, 0
    for size in stream.sizes:
        if (limits.max_chunks and count == limits.max_chunks) or total + size > limits.max_total:
            break
        count, total = count + 1, total + size
    return _Stream(stream.chunks[:count], stream.sizes[:count], stream.ends[:count])


def _fits(messages: list[str], limits: Limits) -> bool:
    """Whether the chunk stream of `messages` is within the limits as a whole."""
    if sum(estimate_tokens(m) for m in messages) > limits.budget:
        return False  # split pieces only add up to more
    stream = _chunked(messages, limits)
    return len(_cut(stream, limits).chunks) == len(stream.chunks)


@dataclass
class _Probe:
    """One question of an instance before the cut, with the stream messages it needs."""

    question: str
    answers: list[str]
    category: str
    metric: str  # one of agemem.records.QUESTION_METRICS
    evidence: list[int] | None  # indices of the messages holding its answer; None: unknown; []: needs none
    support: list[str]  # memory-quality reference texts
    source_id: str  # the source's own id of the question

    def entry(self) -> dict[str, Any]:
        return {"question": self.question, "answers": list(self.answers), "category": self.category,
                "metric": self.metric}


def _instance(instance_id: str, source: str, stream: _Stream, probes: list[_Probe], complete: bool,
              limits: Limits, metadata: dict[str, Any]) -> Episode | str:
    """The instance of a cut stream, or why there is none. `complete`: the stream holds all the material."""
    kept_messages = stream.ends[-1] if stream.ends else 0
    answerable = [p for p in probes
                  if (complete if p.evidence is None else all(i < kept_messages for i in p.evidence))]
    chosen = answerable[: limits.max_questions or None]
    if not stream.chunks:
        return f"the first chunk alone exceeds data.max_instance_tokens={limits.max_total}"
    if not chosen:
        return (f"none of the {len(probes)} questions has its evidence within the {len(stream.chunks)} chunks "
                f"kept (data.chunks_per_instance={limits.max_chunks}, max_instance_tokens={limits.max_total})")
    first = chosen[0]
    return Episode(
        id=instance_id,
        source=source,
        contexts=stream.chunks,
        distractors=[],
        question=first.question,
        answers=list(first.answers),
        supporting_facts=list(dict.fromkeys(s for p in chosen for s in p.support)),
        category=first.category,
        questions=[p.entry() for p in chosen],
        metadata={"chunks": len(stream.chunks), "input_tokens": sum(stream.sizes), **metadata,
                  "question_ids": [p.source_id for p in chosen], "questions_dropped": len(probes) - len(answerable)},
    )


def _cut_instance(instance_id: str, source: str, messages: list[str], probes: list[_Probe], complete: bool,
                  limits: Limits, metadata: dict[str, Any]) -> Episode | str:
    """Chunk `messages`, cut the stream to the limits, keep the questions it still answers."""
    full = _chunked(messages, limits)
    kept = _cut(full, limits)
    return _instance(instance_id, source, kept, probes, complete and len(kept.chunks) == len(full.chunks),
                     limits, metadata)


def _outcome(made: Episode | str, record: Record, field_name: str, item_id: str) -> Outcome:
    return made if isinstance(made, Episode) else Rejection(record.file, record.line, field_name, made, item_id)


# ---------------------------------------------------------------------------------------------------- HotpotQA


def _hotpotqa_stream(items: list[Episode]) -> tuple[list[str], list[_Probe]]:
    """The packed paragraphs of `items` (each item's shuffled by its id, duplicates once) and their questions."""
    messages, index, probes = [], {}, []
    for item in items:
        paragraphs = item.contexts + item.distractors
        random.Random(item.id).shuffle(paragraphs)  # str seeds hash with SHA-512: stable everywhere
        for paragraph in paragraphs:
            if paragraph not in index:
                index[paragraph] = len(messages)
                messages.append(paragraph)
        probes.append(_Probe(item.question, item.answers, item.category, "substring_em",
                             sorted(index[c] for c in item.contexts), item.supporting_facts, item.id))
    return messages, probes


def _packs(items: list[Episode], limits: Limits) -> list[list[Episode]]:
    """Consecutive items grouped greedily: an item joins the current pack while the pack's stream still fits."""
    packs: list[list[Episode]] = []
    for item in items:
        if packs and _fits(_hotpotqa_stream([*packs[-1], item])[0], limits):
            packs[-1].append(item)
        else:
            packs.append([item])
    return packs


def hotpotqa_instances(cfg: DataConfig, path: str) -> ConversionResult:
    """HotpotQA items (official schema, converted by data_gen.hotpotqa) packed into instances."""
    from data_gen.splits import item_id, split_of  # not at the top: splits imports sources, which imports us

    limits, lines = Limits.of(cfg), {}

    def convert(record: Record) -> list[Outcome]:
        outcomes = hotpotqa.convert(record)
        lines.update((o.id, record.line) for o in outcomes if isinstance(o, Episode))
        return outcomes

    items = convert_file(path, convert, cfg.strict, HOTPOTQA, hotpotqa.ID_KEY)
    groups: dict[str, list[Episode]] = {}
    for item in items.episodes:
        groups.setdefault(split_of(item_id(item), cfg.val_fraction, cfg.test_fraction), []).append(item)
    result = ConversionResult(episodes=[], rejections=list(items.rejections), rows=items.rows)
    packs = sorted((p for members in groups.values() for p in _packs(members, limits)), key=lambda p: lines[p[0].id])
    for pack in packs:
        messages, probes = _hotpotqa_stream(pack)
        origin = {"file": path, "lines": [lines[i.id] for i in pack]}
        made = _cut_instance(f"{HOTPOTQA}:{pack[0].id}", HOTPOTQA, messages, probes, True, limits,
                             {"item_id": item_id(pack[0]), "origin": origin})
        outcome = made if isinstance(made, Episode) else Rejection(path, lines[pack[0].id], "supporting_facts", made,
                                                                   pack[0].id)
        (result.episodes if isinstance(outcome, Episode) else result.rejections).append(outcome)
    log.info("%s: %d items packed into %d instances", path, len(items.episodes), len(result.episodes))
    if not result.episodes:
        raise DataError(path, 1, "(file)", f"no instance could be made ({result.rejections[-1].describe()})")
    return result


# ------------------------------------------------------------------------------------------------------ LoCoMo


def _locomo_instance(record: Record, limits: Limits) -> list[Outcome]:
    """One conversation → one instance with all its questions (a malformed question is an error of its own)."""
    outcomes = locomo.convert(record)
    questions = [o for o in outcomes if isinstance(o, Episode)]
    errors: list[Outcome] = [o for o in outcomes if not isinstance(o, Episode)]
    sample_id = record.data[locomo.ID_KEY]
    if not questions:
        return errors or [Rejection(record.file, record.line, "qa", "no questions", sample_id)]
    messages, index = questions[0].contexts, {}
    for i, message in enumerate(messages):
        index.setdefault(message, i)
    probes = []
    for q in questions:
        evidence = [] if q.metadata["abstention"] else sorted(index[f] for f in q.supporting_facts) or None
        probes.append(_Probe(q.question, q.answers, q.category, "substring_em", evidence, q.supporting_facts, q.id))
    made = _cut_instance(f"{LOCOMO}:{sample_id}", LOCOMO, messages, probes, True, limits,
                         {"item_id": sample_id, "origin": {"file": record.file, "line": record.line}})
    return [*errors, _outcome(made, record, "qa", sample_id)]


def locomo_instances(cfg: DataConfig, path: str) -> ConversionResult:
    """LoCoMo conversations (locomo10.json schema) → one instance each."""
    limits = Limits.of(cfg)
    return convert_file(path, lambda record: _locomo_instance(record, limits), cfg.strict, LOCOMO, locomo.ID_KEY)


# ------------------------------------------------------------------------------------------------- LongMemEval


def _answer_session_ids(record: Record, count: int) -> list[bool]:
    """Per haystack session: whether answer_session_ids lists it (all False when the row has none)."""
    data = record.data
    listed = record.need(data, "answer_session_ids", list, "answer_session_ids") if "answer_session_ids" in data else []
    wanted = {record.need(listed, j, str, f"answer_session_ids[{j}]") for j in range(len(listed))}
    if not wanted:
        return [False] * count
    ids = record.need(data, "haystack_session_ids", list, "haystack_session_ids")
    if len(ids) != count:
        raise record.error("haystack_session_ids", f"{len(ids)} ids for {count} haystack sessions")
    return [record.need(ids, i, str, f"haystack_session_ids[{i}]") in wanted for i in range(count)]


def _longmemeval_instance(record: Record, limits: Limits) -> list[Outcome]:
    """One question with its haystack → one instance: the evidence sessions plus the others that fit."""
    [episode] = longmemeval.convert(record)  # validates the row
    data = record.data
    sessions = [session_messages(record, session, f"haystack_sessions[{i}]", data["haystack_dates"][i])
                for i, session in enumerate(data["haystack_sessions"])]
    listed = _answer_session_ids(record, len(sessions))
    needed = {i for i, (messages, flagged) in enumerate(sessions) if messages and (flagged or listed[i])}
    chosen = set(needed)
    for i, (messages, _) in enumerate(sessions):
        if messages and i not in chosen and _fits([m for j in sorted(chosen | {i}) for m in sessions[j][0]], limits):
            chosen.add(i)
    order = sorted(chosen)
    messages = [m for i in order for m in sessions[i][0]]
    flagged = [m for i in order if i in needed for m in sessions[i][1]]
    wanted = set(flagged) or {m for i in needed for m in sessions[i][0]}
    evidence = [] if episode.metadata["abstention"] else [j for j, m in enumerate(messages) if m in wanted] or None
    probe = _Probe(episode.question, episode.answers, episode.category, "llm_judge", evidence,
                   episode.supporting_facts, episode.id)
    origin = {"file": record.file, "line": record.line, "sessions": len(order), "haystack_sessions": len(sessions)}
    made = _cut_instance(f"{LONGMEMEVAL}:{episode.id}", LONGMEMEVAL, messages, [probe],
                         len(order) == sum(1 for s in sessions if s[0]), limits,
                         {"item_id": episode.id, "origin": origin})
    return [_outcome(made, record, "haystack_sessions", episode.id)]


def longmemeval_instances(cfg: DataConfig, path: str) -> ConversionResult:
    """LongMemEval questions (official schema) → one instance each."""
    limits = Limits.of(cfg)
    return convert_file(path, lambda record: _longmemeval_instance(record, limits), cfg.strict, LONGMEMEVAL,
                        longmemeval.ID_KEY)


# --------------------------------------------------------------------------------------------------- synthetic


@dataclass(frozen=True)
class _Event:
    """One synthetic stream message and what it states."""

    kind: str  # fact | lookalike | link | update | delete | rumour
    entity: str
    attribute: str
    value: str  # the (new) value; for a link the friend; "" for a deletion
    text: str


class _SyntheticStream:
    """Plants facts and schedules their later look-alikes, changes and rumours (see the module docstring)."""

    def __init__(self, rng: random.Random, spec: SyntheticSpec, gap: int):
        self.rng, self.level, self.gap = rng, DIFFICULTY[spec.difficulty], gap
        self.names = EntityPool(rng, spec)
        low, high = spec.id_range
        ids = sum(1 for n in range(low, high) if spec.owns(n))
        self.capacity = ids // 2  # leave room: EntityPool draws ids at random until it finds an unused one
        self.attributes: dict[str, list[str]] = {}  # planted entity → its attributes so far
        self.events: list[_Event] = []
        self.pending: list[tuple[int, int, _Event]] = []  # (position, tie-break, event), a heap
        self.scheduled = 0  # events scheduled so far

    def _schedule(self, offset: int, event: _Event) -> None:
        self.scheduled += 1  # a unique tie-break: events themselves are not ordered
        heapq.heappush(self.pending, (len(self.events) + offset, self.scheduled, event))

    def _entity(self) -> str | None:
        """An entity for the next fact: a planted one with an unused attribute, or a fresh one; None when out."""
        open_ = [e for e, have in self.attributes.items() if len(have) < len(ATTRIBUTES)]
        if open_ and (self.rng.random() < REUSE_RATE or len(self.names.used) >= self.capacity):
            return self.rng.choice(open_)
        if len(self.names.used) + 2 >= self.capacity:  # room for it, a friend and a look-alike
            return None
        entity = self.names.fresh()
        self.attributes[entity] = []
        return entity

    def plant(self) -> bool:
        """Emit one new fact (after its friend link when multi-hop) and schedule what follows it; False when out."""
        rng, level, gap = self.rng, self.level, self.gap
        entity = self._entity()
        if entity is None:
            return False
        attribute = rng.choice([a for a in sorted(ATTRIBUTES) if a not in self.attributes[entity]])
        self.attributes[entity].append(attribute)
        value = draw_value(rng, attribute)
        if rng.random() < level.multihop and len(self.names.used) + 2 < self.capacity:
            subject = self.names.fresh()
            self.events.append(_Event("link", subject, "friend", entity, f"Entity {subject}'s friend is {entity}."))
        self.events.append(_Event("fact", entity, attribute, value, fact(entity, attribute, value)))
        change, new = draw_change(rng, level), ""
        if change == "update":
            new = draw_value(rng, attribute, {value})
            text = f"Update: {entity}'s {attribute} is now {new}."
            self._schedule(rng.randint(gap, 4 * gap), _Event("update", entity, attribute, new, text))
        elif change == "delete":
            text = f"Update: {entity} no longer has a {attribute}."
            self._schedule(rng.randint(gap, 4 * gap), _Event("delete", entity, attribute, "", text))
        if rng.random() < level.contradiction:
            false = draw_value(rng, attribute, {value, new})
            text = f"A rumour claims {entity}'s {attribute} is {false}."
            self._schedule(rng.randint(1, 4 * gap), _Event("rumour", entity, attribute, false, text))
        if rng.random() < LOOKALIKE_RATE and len(self.names.used) + 2 < self.capacity:
            other, other_value = self.names.lookalike(entity), draw_value(rng, attribute)
            self._schedule(rng.randint(1, gap), _Event("lookalike", other, attribute, other_value,
                                                       fact(other, attribute, other_value)))
        return True

    def fill(self, tokens: int) -> list[_Event]:
        """Events until their messages reach `tokens` (or entity ids run out)."""
        counted = total = 0
        while total < tokens:
            if self.pending and self.pending[0][0] <= len(self.events):
                self.events.append(heapq.heappop(self.pending)[2])
            elif not self.plant():
                break
            total += sum(estimate_tokens(e.text) for e in self.events[counted:])
            counted = len(self.events)
        return self.events


def _synthetic_probes(events: list[_Event]) -> list[_Probe]:
    """A question about every planted fact, answered from `events` replayed in order (the later value wins)."""
    facts: dict[tuple[str, str], _Probe] = {}
    for i, event in enumerate(events):
        key = (event.entity, event.attribute)
        if event.kind == "fact":
            hop = events[i - 1] if i and events[i - 1].kind == "link" and events[i - 1].value == event.entity else None
            question = (f"What is the {event.attribute} of {hop.entity}'s friend?" if hop
                        else f"What is {event.entity}'s {event.attribute}?")
            evidence = [i - 1, i] if hop else [i]
            facts[key] = _Probe(question, [event.value], "multi_hop" if hop else "single_hop", "exact_match",
                                evidence, [events[j].text for j in evidence], f"{event.entity}.{event.attribute}")
        elif event.kind in ("update", "delete"):
            probe = facts[key]
            probe.answers = [event.value] if event.kind == "update" else list(DELETED_ANSWERS)
            probe.category = probe.category.split("+")[0] + f"+{event.kind}"
            probe.evidence.append(i)
            probe.support.append(event.text)
    return list(facts.values())


def _pick(probes: list[_Probe], count: int, rng: random.Random) -> list[_Probe]:
    """`count` questions (0: all), half of them about changed facts when there are enough, in stream order."""
    if not count or count >= len(probes):
        return probes
    changed = [p for p in probes if "+" in p.category]
    unchanged = [p for p in probes if "+" not in p.category]
    rng.shuffle(changed)
    rng.shuffle(unchanged)
    half = min((count + 1) // 2, len(changed))
    chosen = changed[:half] + unchanged[: count - half]
    chosen += changed[half: half + count - len(chosen)]
    return sorted(chosen, key=lambda p: p.evidence[0])


def synthetic_instance(index: int, seed: int, spec: SyntheticSpec, limits: Limits) -> Episode:
    """Instance number `index` of the stream defined by (`seed`, `spec`, `limits`); a pure function of them."""
    instance_id = f"{SYNTHETIC}:s{seed}-d{spec.difficulty}{pool_suffix(spec)}-{index:06d}"
    rng = random.Random(instance_id)
    events = _SyntheticStream(rng, spec, max(1, limits.max_tokens // FACT_TOKENS)).fill(limits.budget)
    stream = _cut(_chunked([e.text for e in events], limits), limits)
    kept = events[: stream.ends[-1] if stream.ends else 0]
    probes = _pick(_synthetic_probes(kept), limits.max_questions, rng)
    origin = {"generator": "synthetic", "seed": seed, "index": index, "difficulty": spec.difficulty,
              "heldout": spec.heldout}
    made = _instance(instance_id, SYNTHETIC, stream, probes, True, limits, {"item_id": instance_id, "origin": origin})
    if isinstance(made, Episode):
        return made
    raise ValueError(f"{instance_id}: {made} (the settings leave no room for a question)")


def synthetic_instances(cfg: DataConfig, seed: int, spec: SyntheticSpec) -> ConversionResult:
    """`data.size` synthetic instances (`spec`: the generator settings of `cfg`, see data_gen.sources)."""
    if cfg.size <= 0:
        raise ValueError(f"data.size={cfg.size}: must be > 0")
    limits = Limits.of(cfg)
    episodes = [synthetic_instance(i, seed, spec, limits) for i in progress(list(range(cfg.size)), desc=SYNTHETIC)]
    return ConversionResult(episodes=episodes, rows=cfg.size)


# The Mem-α sources by name; each reads `data.path` (checked by data_gen.sources) except the synthetic one.
FILE_SOURCES: dict[str, Callable[[DataConfig, str], ConversionResult]] = {
    HOTPOTQA: hotpotqa_instances,
    LOCOMO: locomo_instances,
    LONGMEMEVAL: longmemeval_instances,
}
