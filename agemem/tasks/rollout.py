"""`task=rollout`: run the collector on episodes and write `trajectories.jsonl` with a per-stage table."""

import json
import logging

from tqdm import tqdm

from agemem.models import load_model, load_tokenizer
from agemem.rollout.collector import CollectSettings, collect
from agemem.rollout.factory import build_engine
from agemem.rollout.stats import format_stage_table, stage_stats
from agemem.tasks.config import Config
from agemem.tasks.runtime import output_dir, prepare_model, seed_everything
from data_gen.episode_files import load_episodes
from data_gen.sources import build_episodes

log = logging.getLogger("agemem")


def run_rollout(cfg: Config) -> None:
    prepare_model(cfg.model)  # before seeding: building the tiny model seeds torch itself
    seed_everything(cfg.seed)
    out = output_dir(cfg.out)
    if cfg.rollout.episodes_file:
        episodes = load_episodes(cfg.rollout.episodes_file).episodes
    else:
        episodes = build_episodes(cfg.data, cfg.seed).episodes
    episodes = episodes[: cfg.rollout.num_episodes]
    tokenizer = load_tokenizer(cfg.model)
    engine = build_engine(cfg.rollout, load_model(cfg.model), tokenizer)
    settings = CollectSettings(cfg.curriculum, cfg.memory, cfg.rollout)
    with tqdm(desc="model calls", unit="call") as bar:
        trajectories = collect(episodes, cfg.rollout.group_size, engine, settings, tokenizer, seed=cfg.seed,
                               progress=bar.update)
    path = out / "trajectories.jsonl"
    with path.open("w") as f:
        for traj in trajectories:
            f.write(json.dumps(traj.to_dict()) + "\n")
    print(format_stage_table(stage_stats(trajectories)))
    answered = sum(t.answer is not None for t in trajectories)
    print(f"{len(trajectories)} trajectories of {len(episodes)} episodes × {cfg.rollout.group_size}; "
          f"{answered} answered")
    print(f"outputs: {out.resolve()}  (trajectories.jsonl)")
