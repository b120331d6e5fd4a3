"""Checkpoint folders, the `latest` pointer, pruning, resume checks and the data order; the save itself on a real
one-rank DeepSpeed engine (update_driver.py)."""

import logging
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from agemem.tasks.config import Config
from agemem.tasks.runtime import resume_critical_config
from agemem.train import checkpoint as ckpt
from agemem.train.logger import MetricsLogger, read_metrics, truncate_after
from agemem.train.setup import batch_indices, check_sample_options, lr_lambda
from agemem.train.update import mini_batches


def make_checkpoint(root: Path, step: int, complete: bool = True) -> Path:
    """A checkpoint folder as save_checkpoint leaves it (a fake engine shard, state, RNG, manifest)."""
    folder = ckpt.step_dir(root, step)
    (folder / "ds").mkdir(parents=True)
    (folder / "ds" / "mp_rank_00_model_states.pt").write_bytes(bytes(range(256)) * 8)
    ckpt.save_trainer_files(folder, 0, {"global_step": step, "config": {}})
    if complete:
        ckpt.write_manifest(folder)
        ckpt.point_latest(root, folder)
    return folder


def test_complete_checkpoint_is_found_through_latest(tmp_path):
    make_checkpoint(tmp_path, 1)
    newest = make_checkpoint(tmp_path, 2)
    assert ckpt.is_complete(newest) == (True, "")
    assert (tmp_path / "latest").read_text() == "step_000002"
    assert ckpt.find_resume_folder(tmp_path) == newest
    assert not list(tmp_path.glob("latest.tmp*"))


def test_truncated_file_falls_back_to_the_previous_checkpoint_with_a_warning(tmp_path, caplog):
    previous = make_checkpoint(tmp_path, 1)
    newest = make_checkpoint(tmp_path, 2)
    shard = newest / "ds" / "mp_rank_00_model_states.pt"
    shard.write_bytes(shard.read_bytes()[:100])
    with caplog.at_level(logging.WARNING, logger="agemem"):
        assert ckpt.find_resume_folder(tmp_path) == previous
    assert "skipping checkpoint step_000002" in caplog.text and "truncated" in caplog.text


@pytest.mark.parametrize("damage", ["no_manifest", "missing_file", "bad_manifest"])
def test_incomplete_checkpoint_is_never_loaded(tmp_path, caplog, damage):
    previous = make_checkpoint(tmp_path, 1)
    newest = make_checkpoint(tmp_path, 2, complete=damage != "no_manifest")
    if damage == "missing_file":
        (newest / "rng" / "rank_0.pt").unlink()
    if damage == "bad_manifest":
        (newest / ckpt.MANIFEST).write_text('{"ds/mp_rank_00_model_')
    with caplog.at_level(logging.WARNING, logger="agemem"):
        assert ckpt.find_resume_folder(tmp_path) == previous
    assert "skipping checkpoint step_000002" in caplog.text


def test_no_checkpoint_resumes_nothing(tmp_path, caplog):
    assert ckpt.find_resume_folder(tmp_path / "absent") is None
    make_checkpoint(tmp_path, 1, complete=False)
    with caplog.at_level(logging.WARNING, logger="agemem"):
        assert ckpt.find_resume_folder(tmp_path) is None
    assert "skipping checkpoint step_000001: " in caplog.text


def test_latest_naming_a_deleted_folder_falls_back(tmp_path, caplog):
    previous = make_checkpoint(tmp_path, 1)
    (tmp_path / "latest").write_text("step_000009")
    with caplog.at_level(logging.WARNING, logger="agemem"):
        assert ckpt.find_resume_folder(tmp_path) == previous
    assert "step_000009" in caplog.text


def test_latest_wins_over_a_newer_folder_it_does_not_name(tmp_path, caplog):
    # A save killed after its manifest but before `latest` moved: either folder is whole; `latest` is chosen.
    named = make_checkpoint(tmp_path, 1)
    make_checkpoint(tmp_path, 2)
    ckpt.point_latest(tmp_path, named)
    with caplog.at_level(logging.WARNING, logger="agemem"):
        assert ckpt.find_resume_folder(tmp_path) == named
    assert "skipping checkpoint step_000002: `latest` names step_000001" in caplog.text


def test_prune_keeps_the_newest_complete_checkpoints(tmp_path):
    for step in (1, 2, 3, 4):
        make_checkpoint(tmp_path, step, complete=step != 2)
    make_checkpoint(tmp_path, 5, complete=False)  # newer than every complete one: left alone
    ckpt.prune(tmp_path, keep_last=2)
    assert sorted(p.name for p in tmp_path.glob("step_*")) == ["step_000003", "step_000004", "step_000005"]
    ckpt.prune(tmp_path, keep_last=0)  # 0 keeps every complete checkpoint
    assert len(list(tmp_path.glob("step_*"))) == 3


def test_check_resumable_names_every_changed_field():
    saved = {"trainer.lr": 1e-5, "seed": 0, "rollout.group_size": 8}
    ckpt.check_resumable(saved, dict(saved))
    with pytest.raises(ValueError) as error:
        ckpt.check_resumable(saved, {**saved, "trainer.lr": 2e-5, "world_size": 2})
    message = str(error.value)
    assert "trainer.lr: 1e-05 → 2e-05" in message and "world_size: None → 2" in message
    assert "seed" not in message and "resume=never" in message


def test_resume_critical_config_covers_what_changes_a_run():
    cfg = Config()
    fields = resume_critical_config(cfg)
    for key in ("seed", "trainer.lr", "trainer.tasks_per_step", "rollout.group_size", "algorithm.clip_low",
                "reward.w_task", "deepspeed.zero_stage"):
        assert key in fields, key
    # Free to change on resume: how long, how often to save/log, where.
    assert not any(k.startswith(("logger.", "trainer.save_every", "trainer.keep_last", "out")) for k in fields)
    assert "trainer.total_steps" not in fields  # constant LR: extending a run is allowed
    cosine = replace(cfg, trainer=replace(cfg.trainer, lr_schedule="cosine"))
    assert resume_critical_config(cosine)["trainer.total_steps"] == cfg.trainer.total_steps


def test_rng_states_round_trip(tmp_path):
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    ckpt.save_trainer_files(tmp_path, 0, {"global_step": 7})
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    random.seed(2), np.random.seed(2), torch.manual_seed(2)
    assert ckpt.load_trainer_files(tmp_path, 0) == {"global_step": 7}
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected
    with pytest.raises(FileNotFoundError, match="rank 1"):
        ckpt.restore_rng(tmp_path, 1)


def test_save_writes_manifest_then_latest_last(update_result):
    """The trainer's save_checkpoint on a real engine (1 rank, gloo; update_driver.py), over a leftover of a
    killed save of the same step: every rank's shards and files, a barrier, then the manifest, then `latest`."""
    save = update_result["save"]
    steps = [e for e in save["events"] if e != "barrier"]  # DeepSpeed's own save adds barriers of its own
    assert steps == ["engine", "save_trainer_files", "write_manifest", "point_latest", "prune"]
    events = save["events"]
    assert events[0] == events[-1] == "barrier"  # a save starts and ends with every rank together
    assert events[events.index("write_manifest") - 1] == "barrier"  # every rank wrote before the manifest
    assert not save["leftover_exists"] and save["complete"] == [True, ""]
    assert save["resume_folder"] == save["folder"]
    assert {"ds/mp_rank_00_model_states.pt", "manifest.json", "rng/rank_0.pt", "trainer_state.json"} <= \
        set(save["files"])
    state = save["state"]
    assert state["global_step"] == 3 and state["logger_run_id"] == "abc123"
    assert state["epoch"] == 3 * save["tasks_per_step"] // 4 and state["data_cursor"] == 3 * save["tasks_per_step"]
    assert state["config"] == save["expected_config"]


@pytest.mark.parametrize("n,batch", [(4, 2), (5, 2), (3, 3), (7, 4)])
def test_batch_indices_are_epochs_of_permutations(n, batch):
    steps = 3 * n  # several epochs, whatever the batch
    order = [i for step in range(steps) for i in batch_indices(n, step, batch, seed=0)]
    epochs = [order[e * n:(e + 1) * n] for e in range(steps * batch // n)]
    assert all(sorted(e) == list(range(n)) for e in epochs)  # every task once per epoch, across boundaries
    assert batch_indices(n, 5, batch, seed=0) == batch_indices(n, 5, batch, seed=0)
    if n > 3:
        assert len({tuple(e) for e in epochs}) > 1  # a new shuffle each epoch


def test_lr_schedule_warms_up_then_decays():
    cfg = Config()
    cfg = replace(cfg, trainer=replace(cfg.trainer, warmup_steps=2, total_steps=6, lr_schedule="cosine"))
    multiplier = lr_lambda(cfg.trainer)
    assert [round(multiplier(s), 4) for s in range(7)] == [0.3333, 0.6667, 1.0, 0.8536, 0.5, 0.1464, 0.0]
    with pytest.raises(ValueError, match="constant"):
        lr_lambda(replace(cfg.trainer, lr_schedule="step"))
    with pytest.raises(ValueError, match="trainer.warmup_steps=-1"):
        lr_lambda(replace(cfg.trainer, warmup_steps=-1))
    # With 3 optimizer steps per training step (PPO mini-batches) the schedule still counts training steps.
    per_update = lr_lambda(cfg.trainer, updates_per_step=3)
    assert [round(per_update(u), 4) for u in range(0, 21, 3)] == [round(multiplier(s), 4) for s in range(7)]
    assert per_update(4) == per_update(3) == multiplier(1)


def test_ppo_mini_batches_cut_contiguously_and_options_are_checked():
    samples = list(range(7))
    assert mini_batches(samples, 3) == [[0, 1, 2], [3, 4], [5, 6]]
    assert mini_batches(samples[:2], 4) == [[0], [1], [], []]  # every rank makes the same number of steps
    alg = Config().algorithm
    with pytest.raises(ValueError, match="ppo_mini_batches"):
        check_sample_options(replace(alg, ppo_mini_batches=0))
    with pytest.raises(ValueError, match="combine_duplicates=true needs one optimizer step"):
        check_sample_options(replace(alg, combine_duplicates=True, ppo_epochs=2))
    check_sample_options(replace(alg, ppo_epochs=2, ppo_mini_batches=4))


def test_metrics_log_is_cut_back_to_the_checkpoint(tmp_path):
    logger = MetricsLogger(Config().logger, tmp_path, None, {}, enabled=True)
    for step in (1, 2, 3):
        logger.log(step, {"actor/pg_loss": float(step)})
    truncate_after(logger.path, 2)
    assert [r["step"] for r in read_metrics(logger.path)] == [1, 2]
    assert len(logger.run_id) == 8
    with pytest.raises(ValueError, match="wandb"):
        MetricsLogger(replace(Config().logger, backend="tensorboard"), tmp_path, None, {}, enabled=True)
