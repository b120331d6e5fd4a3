"""Templated synthetic episodes: the CPU default data, small and regular enough for a tiny model to learn.

One fact per stage-1 message (`Entity E1234's code is 5821.`), one question (`What is E1234's code?`), and the
material that makes memory management matter, switched on by `difficulty`:
- later updates that change the answer (`Update: E1234's code is now 7730.`): the agent should Update memory;
- deletions (`Update: E1234 no longer has a code.`; the answer becomes "unknown"): the agent should Delete;
- multi-hop questions through a link fact (`What is the code of E1234's friend?`);
- stage-2 distractors from the same templates about look-alike entities (E1243 for E1234), and at higher levels
  a contradicting rumour about the asked fact (`A rumour claims E1234's code is 6612.`).
Every episode is drawn from its own RNG seeded by its id, so output is byte-identical for the same seed and
episode i does not depend on how many episodes are made. Entity ids come from `id_range`; a held-out range
gives tasks whose entities never occur in training data made with the default range.
"""

import random
from dataclasses import dataclass

from agemem.records import ABSTAIN_ANSWER, Episode
from data_gen.row_conversion import progress

SOURCE = "synthetic"
# attribute → number of digits of its values (digits are one token each in the tiny tokenizer).
ATTRIBUTES = {"code": 4, "room": 3, "score": 2, "age": 2}
# The answer after a deletion, then the abstention answer a judge should also accept.
DELETED_ANSWERS = ["unknown", ABSTAIN_ANSWER]


@dataclass(frozen=True)
class Difficulty:
    """What one difficulty level puts into an episode."""

    facts: int  # stage-1 fact messages, the answer's own included
    update: float  # probability that a later message changes the answer
    delete: float  # probability that a later message deletes the asked fact
    multihop: float  # probability that the question goes through a link fact
    contradiction: float  # probability that one distractor contradicts the answer


DIFFICULTY = {
    0: Difficulty(facts=1, update=0.0, delete=0.0, multihop=0.0, contradiction=0.0),
    1: Difficulty(facts=3, update=0.5, delete=0.0, multihop=0.0, contradiction=0.0),
    2: Difficulty(facts=5, update=0.4, delete=0.2, multihop=0.0, contradiction=0.5),
    3: Difficulty(facts=6, update=0.3, delete=0.2, multihop=0.5, contradiction=0.5),
}


@dataclass(frozen=True)
class SyntheticSpec:
    """The knobs of the generator (from `DataConfig`, see `data_gen.sources`)."""

    difficulty: int = 1  # a key of DIFFICULTY
    num_facts: int = 0  # stage-1 facts; 0 takes the difficulty's default
    num_distractors: int = 3  # stage-2 messages
    id_range: tuple[int, int] = (1000, 8000)  # entity ids E<n> with low <= n < high
    heldout: bool = False  # marks ids and metadata of episodes drawn from a held-out id range
    # > 0: this fraction of the ids in id_range (picked by a hash, so with the same digits as the rest) is held
    # out; a held-out episode uses only those ids and any other episode never does.
    heldout_id_fraction: float = 0.0
    # > 0: the next fraction of the ids (by the same hash) is reserved: only episodes with `reserved` use them, so
    # a model trained on the default data has never seen them (task=demo's RL phases train on them).
    reserved_id_fraction: float = 0.0
    reserved: bool = False  # draw only from the reserved ids

    def __post_init__(self) -> None:
        if self.difficulty not in DIFFICULTY:
            raise ValueError(f"data.difficulty={self.difficulty}: must be one of {sorted(DIFFICULTY)}")
        low, high = self.id_range
        if high - low < 100:
            raise ValueError(f"entity id range [{low}, {high}): needs at least 100 ids for distinct look-alikes")
        if self.num_facts < 0 or self.num_distractors < 0:
            raise ValueError("data.num_facts and data.num_distractors must be >= 0")
        for key, fraction in (("heldout_id_fraction", self.heldout_id_fraction),
                              ("reserved_id_fraction", self.reserved_id_fraction)):
            if not 0.0 <= fraction < 1.0:
                raise ValueError(f"data.{key}={fraction}: must be in [0, 1)")
            if fraction and (high - low) * fraction < 100:
                raise ValueError(f"data.{key}={fraction} leaves fewer than 100 ids of entity id range [{low}, {high})")
        rest = 1.0 - self.heldout_id_fraction - self.reserved_id_fraction
        if (self.heldout_id_fraction or self.reserved_id_fraction) and (high - low) * rest < 100:
            raise ValueError(f"data.heldout_id_fraction={self.heldout_id_fraction} and data.reserved_id_fraction="
                             f"{self.reserved_id_fraction} leave fewer than 100 training ids of entity id range "
                             f"[{low}, {high})")
        if self.reserved and not self.reserved_id_fraction:
            raise ValueError("data.reserved_ids=true needs data.reserved_id_fraction > 0 (the ids to draw from)")
        if self.reserved and self.heldout:
            raise ValueError("data.reserved_ids=true and data.heldout=true: an episode draws from one id pool")

    @property
    def pool(self) -> str:
        """The id pool this spec's episodes draw from: "heldout", "reserved" or "train"."""
        return "heldout" if self.heldout else "reserved" if self.reserved else "train"

    def owns(self, number: int) -> bool:
        """Whether this spec's episodes may use entity id `number` (one in id_range)."""
        if self.heldout and not self.heldout_id_fraction:
            return True  # the whole held-out id range
        if not (self.heldout_id_fraction or self.reserved_id_fraction):
            return True
        return id_pool(number, self.heldout_id_fraction, self.reserved_id_fraction) == self.pool


def id_pool(number: int, heldout_fraction: float, reserved_fraction: float = 0.0) -> str:
    """The pool of entity id `number`: a fixed multiplicative hash maps it to a point of [0, 1); the first
    `heldout_fraction` of it is "heldout", the next `reserved_fraction` "reserved", the rest "train"."""
    point = (number * 2654435761) % 2**32 / 2**32
    return "heldout" if point < heldout_fraction else "reserved" if point < heldout_fraction + reserved_fraction \
        else "train"


class EntityPool:
    """Distinct entity names for one episode: fresh ones and look-alikes of a given one."""

    def __init__(self, rng: random.Random, spec: SyntheticSpec):
        self.rng, (self.low, self.high) = rng, spec.id_range
        self.spec = spec
        self.used: set[int] = set()

    def allowed(self, number: int) -> bool:
        """Unused, and in the episode's id pool (when ids are split by hash)."""
        return number not in self.used and self.spec.owns(number)

    def _take(self, number: int) -> str:
        self.used.add(number)
        return f"E{number}"

    def fresh(self) -> str:
        while not self.allowed(number := self.rng.randrange(self.low, self.high)):
            pass
        return self._take(number)

    def lookalike(self, name: str) -> str:
        """An unused id differing from `name` in one digit or by one swap of adjacent digits."""
        digits = name[1:]
        for _ in range(50):
            chars = list(digits)
            i = self.rng.randrange(len(chars))
            if self.rng.random() < 0.5 and i + 1 < len(chars):
                chars[i], chars[i + 1] = chars[i + 1], chars[i]
            else:
                chars[i] = str(self.rng.randrange(10))
            number = int("".join(chars))
            if chars[0] != "0" and self.low <= number < self.high and self.allowed(number):
                return self._take(number)
        return self.fresh()  # a crowded neighbourhood: any unused id will do


def draw_value(rng: random.Random, attribute: str, exclude: set[str] = frozenset()) -> str:
    digits = ATTRIBUTES[attribute]
    while (value := str(rng.randrange(10 ** (digits - 1), 10**digits))) in exclude:
        pass
    return value


def fact(entity: str, attribute: str, value: str) -> str:
    return f"Entity {entity}'s {attribute} is {value}."


def _other_facts(rng: random.Random, names: EntityPool, subject: str, target: str, attribute: str,
                 count: int) -> list[str]:
    """Hard negatives for stage 1: the target's other attributes, look-alike entities' same attribute, and
    (multi-hop) the subject's own value of the asked attribute."""
    candidates = [(target, other) for other in ATTRIBUTES if other != attribute]
    if subject != target:
        candidates.append((subject, attribute))
    rng.shuffle(candidates)
    while len(candidates) < count:
        candidates.append((names.lookalike(target), attribute))
    return [fact(entity, attr, draw_value(rng, attr)) for entity, attr in candidates[:count]]


def draw_change(rng: random.Random, level: Difficulty) -> str:
    draw = rng.random()
    return "update" if draw < level.update else "delete" if draw < level.update + level.delete else "none"


def _distractors(rng: random.Random, names: EntityPool, target: str, attribute: str, answer: str,
                 count: int, contradiction: bool) -> list[str]:
    """Stage-2 messages from the same templates about look-alike entities; optionally one rumour
    contradicting the answer about the target itself."""
    messages = [fact(names.lookalike(target), attribute, draw_value(rng, attribute, {answer})) for _ in range(count)]
    if contradiction and count:
        rumour = f"A rumour claims {target}'s {attribute} is {draw_value(rng, attribute, {answer})}."
        messages[rng.randrange(count)] = rumour
    return messages


def pool_suffix(spec: SyntheticSpec) -> str:
    """What an episode id says of its id pool: "" for training ids, else "-heldout" or "-reserved"."""
    return "" if spec.pool == "train" else f"-{spec.pool}"


def _episode_id(index: int, seed: int, spec: SyntheticSpec) -> str:
    return f"synthetic-s{seed}-d{spec.difficulty}{pool_suffix(spec)}-{index:06d}"


def synthetic_episode(index: int, seed: int, spec: SyntheticSpec) -> Episode:
    """Episode number `index` of the stream defined by (`seed`, `spec`); a pure function of its arguments."""
    level, episode_id = DIFFICULTY[spec.difficulty], _episode_id(index, seed, spec)
    rng = random.Random(episode_id)  # str seeds hash with SHA-512: stable across processes and platforms
    names = EntityPool(rng, spec)
    attribute = rng.choice(sorted(ATTRIBUTES))
    multihop, change = rng.random() < level.multihop, draw_change(rng, level)
    contradiction = rng.random() < level.contradiction
    subject = names.fresh()
    target = names.fresh() if multihop else subject
    value = draw_value(rng, attribute)
    support = ([f"Entity {subject}'s friend is {target}."] if multihop else []) + [fact(target, attribute, value)]
    facts = max(spec.num_facts or level.facts, len(support))
    contexts = support + _other_facts(rng, names, subject, target, attribute, facts - len(support))
    rng.shuffle(contexts)
    answers, history = [value], [value]
    if change != "none":
        new = draw_value(rng, attribute, {value})
        message = (f"Update: {target}'s {attribute} is now {new}." if change == "update"
                   else f"Update: {target} no longer has a {attribute}.")
        after = contexts.index(fact(target, attribute, value)) + 1
        contexts.insert(rng.randint(after, len(contexts)), message)
        support.append(message)
        answers = [new] if change == "update" else list(DELETED_ANSWERS)
        history.append(new if change == "update" else "")
    question = (f"What is the {attribute} of {subject}'s friend?" if multihop else f"What is {target}'s {attribute}?")
    category = ("multi_hop" if multihop else "single_hop") + ("" if change == "none" else f"+{change}")
    return Episode(
        id=episode_id,
        source=SOURCE,
        contexts=contexts,
        distractors=_distractors(rng, names, target, attribute, answers[0], spec.num_distractors, contradiction),
        question=question,
        answers=answers,
        supporting_facts=support,
        category=category,
        metadata={"item_id": episode_id, "difficulty": spec.difficulty, "subject": subject, "entity": target,
                  "attribute": attribute, "change": change, "value_history": history, "multihop": multihop,
                  "contradiction": contradiction and spec.num_distractors > 0, "heldout": spec.heldout,
                  "id_pool": spec.pool},
    )


def synthetic_episodes(n: int, seed: int, spec: SyntheticSpec) -> list[Episode]:
    """Episodes 0..n-1 of the stream defined by (`seed`, `spec`)."""
    return [synthetic_episode(i, seed, spec) for i in progress(list(range(n)), desc=SOURCE)]
