"""Train/val/test splits by a stable hash of the item id.

The hash is SHA-256 (not Python's `hash`, which is salted per process), so an item's split never changes
between runs or machines. An item lands in test iff its hash falls below `test_fraction`, so the test set
depends on that fraction alone: changing `val_fraction` moves items only between val and train, never a test
item into train. Episodes that share material (LoCoMo questions of one conversation) share an item id, so
they always share a split.
"""

import hashlib
import logging

from agemem.records import Episode
from data_gen.config import DataConfig
from data_gen.sources import build_episodes

log = logging.getLogger("agemem")

SPLITS = ("train", "val", "test")


def _unit_hash(key: str) -> float:
    """A uniform number in [0, 1) determined by `key`."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") / 2**64


def split_of(item_id: str, val_fraction: float, test_fraction: float) -> str:
    """"train", "val" or "test" for `item_id`."""
    if not (0 <= val_fraction and 0 <= test_fraction and val_fraction + test_fraction <= 1):
        raise ValueError(f"split fractions val={val_fraction}, test={test_fraction}: each >= 0, sum <= 1")
    point = _unit_hash(item_id)
    return "test" if point < test_fraction else "val" if point < test_fraction + val_fraction else "train"


def item_id(episode: Episode) -> str:
    """The id splits hash: the source item the episode came from (metadata["item_id"]), else the episode id."""
    value = episode.metadata.get("item_id")
    return value if isinstance(value, str) and value else episode.id


def assign_splits(episodes: list[Episode], val_fraction: float, test_fraction: float) -> None:
    """Record each episode's split in `metadata["split"]` (in place: the episodes are this run's own)."""
    for episode in episodes:
        episode.metadata["split"] = split_of(item_id(episode), val_fraction, test_fraction)


def select_split(episodes: list[Episode], split: str) -> list[Episode]:
    """The episodes of one split ("all" keeps every one); splits must have been assigned."""
    if split == "all":
        return episodes
    if split not in SPLITS:
        raise ValueError(f"data.split={split!r}: must be one of {['all', *SPLITS]}")
    return [e for e in episodes if e.metadata["split"] == split]


def train_val_episodes(data: DataConfig, seed: int) -> tuple[list[Episode], list[Episode]]:
    """Train and validation episodes of the configured source (built with `seed`), split by a stable hash of the
    item id. Rejected rows are counted in a warning (task=generate lists the reasons)."""
    result = build_episodes(data, seed)
    if result.rejections:
        log.warning("%d rows of %s rejected (see task=generate for the reasons)", len(result.rejections), data.source)
    assign_splits(result.episodes, data.val_fraction, data.test_fraction)
    train, val = select_split(result.episodes, "train"), select_split(result.episodes, "val")
    if not train:
        raise ValueError(f"data.source={data.source!r} produced no training episodes")
    return train, val
