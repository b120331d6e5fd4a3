"""Schema of the `data` config group: where episodes come from (data_gen owns the fields below)."""

from dataclasses import dataclass, field


@dataclass
class DataConfig:
    """Episode source and its options."""

    # Source converter: synthetic | hotpotqa | locomo | longmemeval, or Mem-alpha chunk-stream instances:
    # mem_alpha_synthetic | mem_alpha_hotpotqa | mem_alpha_locomo | mem_alpha_longmemeval.
    source: str = "synthetic"
    # Input file of the source (null for synthetic).
    path: str | None = None
    # true: the first malformed source row is an error (file:line, field); false: it is rejected and reported.
    strict: bool = True
    # Split to write: all | train | val | test (each episode's split, from a hash of its item id, is in metadata).
    split: str = "all"
    # Fraction of items hashed into the validation split.
    val_fraction: float = 0.1
    # Fraction of items hashed into the test split (test membership depends on this fraction only).
    test_fraction: float = 0.1
    # Stage-2 distractors per episode: synthetic makes this many; sources without any get this many BM25-mined.
    num_distractors: int = 3
    # Corpus file for BM25 distractor mining (HotpotQA title→sentences JSON, JSON list/lines of strings or
    # {"text"} objects); null mines from the other items of the same input.
    distractor_corpus: str | None = None
    # LoCoMo: questions per conversation, in file order; 0 keeps all.
    questions_per_conversation: int = 0
    # Synthetic: number of episodes.
    size: int = 1000
    # Synthetic: 0 one fact … 3 multi-hop with updates, deletions and rumours (data_gen/synthetic.py DIFFICULTY).
    difficulty: int = 1
    # Synthetic: stage-1 facts per episode, the answer's included; 0 takes the difficulty's default.
    num_facts: int = 0
    # Synthetic: entity ids E<n> are drawn with low <= n < high.
    entity_id_range: list[int] = field(default_factory=lambda: [1000, 8000])
    # Synthetic: draw entity ids from heldout_entity_id_range instead (entities never seen in training).
    heldout: bool = False
    # Synthetic: the held-out entity ids; must not overlap entity_id_range.
    heldout_entity_id_range: list[int] = field(default_factory=lambda: [8000, 10000])
    # Synthetic: > 0 holds out this fraction of entity_id_range's ids instead (picked by a hash: the same digits
    # as training ids, never used in training); held-out tasks then draw only from those ids.
    heldout_id_fraction: float = 0.0
    # Synthetic: > 0 reserves the next fraction of entity_id_range's ids (the same hash) for data.reserved_ids=true
    # runs: other training data never uses them (task=demo's RL phases train on ids its SFT model never saw).
    reserved_id_fraction: float = 0.0
    # Synthetic: draw entity ids only from the reserved ones (data.reserved_id_fraction).
    reserved_ids: bool = False
    # Mem-alpha chunk streams: fewest tokens per chunk (fewer only where no cut of the messages allows it).
    chunk_min_tokens: int = 500
    # Mem-alpha chunk streams: most tokens per chunk.
    chunk_max_tokens: int = 2000
    # Mem-alpha instances: most tokens (chars / 4) of one chunk stream; a longer one is cut to whole chunks.
    max_instance_tokens: int = 30000
    # Mem-alpha instances: most chunks per stream; 0: only max_instance_tokens limits it.
    chunks_per_instance: int = 10
    # Mem-alpha instances: most questions per instance, the first in source order; 0 keeps all.
    questions_per_instance: int = 0
