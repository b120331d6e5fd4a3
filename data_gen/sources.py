"""The source registry: `data.source=<name>` picks how episodes are made.

Every source has the same signature, `(cfg: DataConfig, seed: int) -> ConversionResult`. File sources convert
`data.path` row by row (data_gen.row_conversion); then episodes that came without distractors get BM25-mined ones.
The `mem_alpha_*` sources make Mem-α chunk-stream instances (data_gen.mem_alpha), which have no distractors.
"""

from collections.abc import Callable
from pathlib import Path

from data_gen import hotpotqa, locomo, longmemeval, mem_alpha
from data_gen.config import DataConfig
from data_gen.distractors import corpus_from_episodes, fill_distractors, read_corpus
from data_gen.row_conversion import ConversionResult, Converter, convert_file
from data_gen.synthetic import SyntheticSpec, synthetic_episodes

Source = Callable[[DataConfig, int], ConversionResult]


def synthetic_spec(cfg: DataConfig) -> SyntheticSpec:
    """The generator settings of `cfg`; the held-out id range replaces the default one when `cfg.heldout`, unless
    ids are held out by hash within entity_id_range (`cfg.heldout_id_fraction` > 0)."""
    train, heldout = cfg.entity_id_range, cfg.heldout_entity_id_range
    for name, pair in (("entity_id_range", train), ("heldout_entity_id_range", heldout)):
        if len(pair) != 2 or pair[0] >= pair[1]:
            raise ValueError(f"data.{name}={pair}: expected [low, high) with low < high")
    if train[0] < heldout[1] and heldout[0] < train[1]:
        raise ValueError(f"data.heldout_entity_id_range={heldout} overlaps data.entity_id_range={train}: "
                         "held-out entities must never occur in training data")
    low, high = heldout if cfg.heldout and not cfg.heldout_id_fraction else train
    return SyntheticSpec(difficulty=cfg.difficulty, num_facts=cfg.num_facts, num_distractors=cfg.num_distractors,
                         id_range=(low, high), heldout=cfg.heldout, heldout_id_fraction=cfg.heldout_id_fraction,
                         reserved_id_fraction=cfg.reserved_id_fraction, reserved=cfg.reserved_ids)


def _synthetic(cfg: DataConfig, seed: int) -> ConversionResult:
    if cfg.size <= 0:
        raise ValueError(f"data.size={cfg.size}: must be > 0")
    return ConversionResult(episodes=synthetic_episodes(cfg.size, seed, synthetic_spec(cfg)), rows=cfg.size)


def _mine(cfg: DataConfig, result: ConversionResult) -> None:
    """BM25-mined distractors for the episodes that have none (in place)."""
    if cfg.distractor_corpus:
        corpus, name = read_corpus(cfg.distractor_corpus), str(cfg.distractor_corpus)
    else:
        corpus, name = corpus_from_episodes(result.episodes), "input"
    fill_distractors(result.episodes, corpus, cfg.num_distractors, name)


def _input_path(cfg: DataConfig, name: str) -> str:
    """`data.path`, checked to name an existing file."""
    if not cfg.path:
        raise ValueError(f"data.source={name} needs data.path=<input file>")
    if not Path(cfg.path).is_file():
        raise FileNotFoundError(f"data.path={cfg.path!r}: no such file")
    return cfg.path


def _file_source(name: str, id_key: str, make_converter: Callable[[DataConfig], Converter]) -> Source:
    """A source reading `data.path` with the converter `make_converter(cfg)` returns."""

    def build(cfg: DataConfig, seed: int) -> ConversionResult:
        del seed  # conversion is deterministic without one
        result = convert_file(_input_path(cfg, name), make_converter(cfg), cfg.strict, name, id_key)
        _mine(cfg, result)
        return result

    return build


def _mem_alpha_file_source(name: str) -> Source:
    """A Mem-α source reading `data.path` (deterministic without a seed; no distractors are mined)."""
    return lambda cfg, seed: mem_alpha.FILE_SOURCES[name](cfg, _input_path(cfg, name))


def _mem_alpha_synthetic(cfg: DataConfig, seed: int) -> ConversionResult:
    return mem_alpha.synthetic_instances(cfg, seed, synthetic_spec(cfg))


SOURCES: dict[str, Source] = {
    "synthetic": _synthetic,
    "hotpotqa": _file_source(hotpotqa.SOURCE, hotpotqa.ID_KEY, lambda cfg: hotpotqa.convert),
    "locomo": _file_source(locomo.SOURCE, locomo.ID_KEY, lambda cfg: locomo.converter(cfg.questions_per_conversation)),
    "longmemeval": _file_source(longmemeval.SOURCE, longmemeval.ID_KEY, lambda cfg: longmemeval.convert),
    mem_alpha.SYNTHETIC: _mem_alpha_synthetic,
    **{name: _mem_alpha_file_source(name) for name in mem_alpha.FILE_SOURCES},
}


def build_episodes(cfg: DataConfig, seed: int) -> ConversionResult:
    """Episodes of the configured source (before splitting)."""
    if cfg.source not in SOURCES:
        raise ValueError(f"data.source={cfg.source!r}: must be one of {sorted(SOURCES)}")
    return SOURCES[cfg.source](cfg, seed)
