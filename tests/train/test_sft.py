"""task=sft: a few steps on expert demonstrations lower the loss; the final model's held-out success is logged;
the result is a checkpoint and an HF folder."""

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest
from transformers import AutoModelForCausalLM

from agemem import PROJECT_ROOT
from agemem.tasks.config import Config
from agemem.tasks.sft import run_sft

SFT_SUCCESS = 0.0  # validation and held-out success after the 8 steps of the first test


def test_a_few_sft_steps_lower_the_loss_stop_past_the_threshold_and_export(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DS_ACCELERATOR": "cpu"}
    cmd = [sys.executable, "run.py", "task=sft", f"out={tmp_path}", f"hydra.run.dir={tmp_path}/hydra",
           "data.difficulty=0", "data.size=60", "curriculum.num_distractors=1", "sft.demo_tasks=12",
           "sft.batch_size=16", "sft.max_steps=20", "sft.eval_every=4", "sft.eval_tasks=2", "sft.lr=3e-3",
           # validation at step 4 reaches the threshold 0, so SFT trains 4 steps more (the rate decaying) and stops at 8
           "sft.success_threshold=0", "sft.steps_past_threshold=4",
           "rollout.max_new_tokens=8", "trainer.heldout_tasks=3"]
    result = subprocess.run(cmd, check=False, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    losses = [r["sft/loss"] for r in records if "sft/loss" in r]
    assert len(losses) == 8 and losses[-1] < 0.7 * losses[0], losses
    assert [r["step"] for r in records if "eval/success" in r] == [4, 8]
    # Past the threshold the rate decays linearly to 0 over the 4 extra steps.
    assert [r["sft/lr"] for r in records if "sft/lr" in r] == pytest.approx([3e-3] * 5 + [2.25e-3, 1.5e-3, 7.5e-4])
    # Greedy and deterministic, pinned (re-pin when stages, rewards or the tiny model change): 8 steps are far too
    # few for the tiny model to answer anything.
    assert records[-2]["step"] == 8 and records[-2]["eval/success"] == SFT_SUCCESS
    assert records[-1]["step"] == 8 and records[-1]["eval/heldout_success"] == SFT_SUCCESS
    assert (tmp_path / "checkpoints" / "latest").read_text() == "step_000008"
    assert (tmp_path / "checkpoints" / "step_000008" / "manifest.json").is_file()
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "hf_model")
    assert model.config.model_type == "qwen3"
    assert "outputs:" in result.stdout


def test_a_mistyped_lr_schedule_fails_naming_the_key():
    cfg = Config()
    with pytest.raises(ValueError, match="sft.lr_schedule='cosin'"):
        run_sft(replace(cfg, sft=replace(cfg.sft, lr_schedule="cosin")))


def test_unseen_id_validation_uses_held_out_ids_but_not_the_held_out_tasks():
    """Validation tasks from the held-out id pool (never in training) that are not the held-out test tasks."""
    from agemem.eval.validation import heldout_episodes
    from agemem.tasks.sft import validation_episodes
    from data_gen.splits import train_val_episodes

    cfg = Config()
    cfg = replace(cfg, data=replace(cfg.data, source="synthetic", difficulty=0, size=400, heldout_id_fraction=0.1),
                  trainer=replace(cfg.trainer, heldout_tasks=50))
    train, val = train_val_episodes(cfg.data, cfg.seed)
    seen = replace(cfg, sft=replace(cfg.sft, eval_tasks=5))
    assert validation_episodes(seen, val) == val[:5]
    unseen = replace(cfg, sft=replace(cfg.sft, eval_tasks=40, eval_unseen_ids=True))
    tasks = validation_episodes(unseen, val)
    test = heldout_episodes(cfg.data, 50, cfg.trainer.heldout_seed, "trainer.heldout_tasks=50")
    assert len(tasks) == 40 and all(e.metadata["heldout"] for e in tasks)
    assert not {e.metadata["entity"] for e in tasks} & {e.metadata["entity"] for e in train}
    assert not {(tuple(e.contexts), e.question) for e in tasks} & {(tuple(e.contexts), e.question) for e in test}
    with pytest.raises(ValueError, match="sft.eval_unseen_ids=true needs data.source=synthetic"):
        validation_episodes(replace(unseen, data=replace(unseen.data, source="hotpotqa")), val)
    with pytest.raises(ValueError, match="trainer.heldout_tasks=50 needs data.source=synthetic"):
        heldout_episodes(replace(cfg.data, source="hotpotqa"), 50, 0, "trainer.heldout_tasks=50")


def test_sft_stops_past_the_threshold_or_at_stop_success():
    from agemem.tasks.sft import sft_stop_step
    from agemem.train.sft_config import SFTConfig

    plain = SFTConfig(success_threshold=0.35)
    assert sft_stop_step(plain, 360, 0.349, None) is None
    assert sft_stop_step(plain, 380, 0.35, None) == 380  # at the threshold itself
    past = SFTConfig(success_threshold=0.35, steps_past_threshold=60, stop_success=0.5)
    assert sft_stop_step(past, 380, 0.36, None) == 440
    assert sft_stop_step(past, 400, 0.20, 440) == 440  # a dip inside the window changes nothing
    assert sft_stop_step(past, 420, 0.5, 440) == 420  # stop_success ends the window early
    assert sft_stop_step(past, 380, 0.6, None) == 380  # a first validation above both stops at once
    assert sft_stop_step(SFTConfig(success_threshold=0.35, steps_past_threshold=60), 420, 0.9, 440) == 440
