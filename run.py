"""The command line: `python run.py task=<task> [group=preset ...] [key=value ...]`; `--help` lists everything."""

import importlib
import logging
import os
import sys

# Set before torch/deepspeed load: CPU-safe defaults (ENV.md); explicit settings from the caller win.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import hydra
from omegaconf import DictConfig, OmegaConf

from agemem.tasks.config import Config, check_choices, register_configs

# task name → "module:function" taking the typed config; imported lazily so each task loads only what it needs.
TASKS = {
    "smoke": "agemem.tasks.smoke:run_smoke",
    "generate": "agemem.tasks.generate:run_generate",
    "rollout": "agemem.tasks.rollout:run_rollout",
    "train": "agemem.tasks.train:run_train",
    "sft": "agemem.tasks.sft:run_sft",
    "demo": "agemem.tasks.demo:run_demo",
    "eval": "agemem.tasks.eval:run_eval",
    "report": "agemem.tasks.report:run_report",
}

log = logging.getLogger("agemem")
register_configs()


@hydra.main(version_base=None, config_path="conf", config_name="config")
def main(dict_cfg: DictConfig) -> None:
    cfg: Config = OmegaConf.to_object(dict_cfg)  # typed dataclasses from here on
    if cfg.task not in TASKS:
        raise ValueError(f"task={cfg.task!r}: must be one of {sorted(TASKS)}")
    check_choices(cfg)
    module_name, function_name = TASKS[cfg.task].split(":")
    getattr(importlib.import_module(module_name), function_name)(cfg)


if __name__ == "__main__":
    sys.exit(main())
