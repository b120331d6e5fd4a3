"""`python run.py task=generate data=<source> data.path=<file> out=<dir>`: episodes.jsonl + stats.json.

Builds the source's episodes, tags each with its split, keeps the configured split, writes them validated,
then prints the summary table and where the outputs went.
"""

import json
import logging

from agemem.models import load_tokenizer
from agemem.tasks.config import Config
from agemem.tasks.runtime import output_dir, prepare_model
from data_gen.episode_files import write_episodes
from data_gen.sources import build_episodes
from data_gen.splits import assign_splits, select_split
from data_gen.stats import format_stats, generation_stats, tokenizer_counter

log = logging.getLogger("agemem")


def run_generate(cfg: Config) -> None:
    """Generate and write the episodes of `cfg.data`; see the module docstring."""
    data = cfg.data
    out = output_dir(cfg.out)
    result = build_episodes(data, cfg.seed)
    assign_splits(result.episodes, data.val_fraction, data.test_fraction)
    episodes = select_split(result.episodes, data.split)
    if not episodes:
        raise ValueError(f"data.split={data.split!r} holds none of the {len(result.episodes)} episodes made; "
                         "use another split or larger split fractions")
    episodes_path = out / "episodes.jsonl"
    write_episodes(episodes_path, episodes)
    prepare_model(cfg.model)
    count = tokenizer_counter(load_tokenizer(cfg.model))
    stats = generation_stats(episodes, result.rejections, result.rows, count,
                             (data.chunk_min_tokens, data.chunk_max_tokens))
    stats = {"source": data.source, "input": data.path or "", "split": data.split, "seed": cfg.seed,
             "tokenizer": cfg.model.name, **stats}
    stats_path = out / "stats.json"
    stats_path.write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(format_stats(stats))
    print(f"\nwrote {len(episodes)} episodes to {episodes_path}\nstats: {stats_path}")
