"""`task=train` end to end on the tiny model (1 rank, ZeRO-2, CPU): metrics, checkpoints, kill-and-resume,
fallback from a truncated checkpoint, config changes on resume, the HF export, W&B offline.

The runs are shared: `reference_run` (conftest) trains 4 steps uninterrupted; `killed_and_resumed` trains the same
4 steps but is SIGKILLed after its step-2 checkpoint — exactly at the end of the first epoch — and resumed.
"""

import re
import shutil
from pathlib import Path

import pytest
import torch
from train_runs import (
    REFERENCE,
    REFERENCE_STEPS,
    TASKS_PER_STEP,
    TRAIN_SIZE,
    checkpoint_weights,
    exported_weights,
    max_abs_diff,
    read_jsonl,
    run_train,
    run_until_then_kill,
    trainer_state,
)

from agemem.models import ModelConfig, load_model, load_tokenizer
from agemem.tools.schemas import TOOL_NAMES

VERL_METRICS = ["actor/pg_loss", "actor/kl_loss", "actor/pg_clipfrac", "actor/grad_norm", "actor/lr",
                "reward/total/mean", "rollout/response_length/mean", "rollout/num_turns/mean", "perf/throughput",
                "timing_s/gen", "timing_s/reward", "timing_s/update", "timing_s/step"]
REWARD_COMPONENTS = ["task", "context", "memory", "penalty", "total"]
PHASES = ["timing_s/gen", "timing_s/reward", "timing_s/advantages", "timing_s/update", "timing_s/weight_sync",
          "timing_s/eval"]


def wandb_run_ids(out: Path) -> list[str]:
    """The run id of every local W&B run folder (`offline-run-<date>_<time>-<id>`)."""
    return [re.fullmatch(r"(?:offline-)?run-\d{8}_\d{6}-(\w+)", p.name).group(1)
            for p in sorted((out / "wandb").glob("*run-*")) if p.is_dir()]


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory) -> tuple[Path, str, str]:
    """The reference run's settings, killed (SIGKILL) once `latest` names step 2, then resumed with resume=auto."""
    out = tmp_path_factory.mktemp("killed")
    killed_log = run_until_then_kill(out, "step_000002", *REFERENCE)
    resumed = run_train(out, *[o for o in REFERENCE if o != "resume=never"], "resume=auto")
    return out, killed_log, resumed.stdout + resumed.stderr


def test_metrics_use_verl_names_and_sane_timings(reference_run):
    records = read_jsonl(reference_run / "metrics.jsonl")
    assert [r["step"] for r in records] == list(range(1, REFERENCE_STEPS + 1))
    for record in records:
        missing = [k for k in VERL_METRICS if k not in record]
        missing += [f"reward/{c}/mean" for c in REWARD_COMPONENTS if f"reward/{c}/mean" not in record]
        missing += [f"tool_calls/{t}/mean" for t in TOOL_NAMES if f"tool_calls/{t}/mean" not in record]
        assert not missing, f"step {record['step']}: missing {missing}"
        assert all(record[k] >= 0 for k in PHASES) and record["timing_s/step"] > 0
        assert sum(record[k] for k in PHASES) <= record["timing_s/step"] + 1e-3
        assert record["perf/throughput"] > 0
        assert record["actor/lr"] == pytest.approx(5e-5)
        assert record["actor/grad_norm"] > 0
        assert record["actor/samples"] >= TASKS_PER_STEP * 2  # at least one model call per rollout
        assert record["reward/total/min"] <= record["reward/total/mean"] <= record["reward/total/max"]
        assert not any(k.startswith("critic/") for k in record)  # GRPO has no critic: no critic/* namespace


def test_checkpoints_keep_last_and_latest_pointer(reference_run):
    root = reference_run / "checkpoints"
    # keep_last=3 pruned step 1; `latest` names the newest, complete checkpoint.
    assert sorted(p.name for p in root.glob("step_*")) == ["step_000002", "step_000003", "step_000004"]
    assert (root / "latest").read_text() == "step_000004"
    assert not list(root.glob("latest.tmp*"))
    for step in (2, 3, 4):
        folder = root / f"step_{step:06d}"
        assert (folder / "manifest.json").is_file() and (folder / "rng" / "rank_0.pt").is_file()
        state = trainer_state(reference_run, step)
        assert state["global_step"] == step
        assert state["data_cursor"] == step * TASKS_PER_STEP
        assert state["epoch"] == step * TASKS_PER_STEP // TRAIN_SIZE
        assert state["config"]["trainer.lr"] == 5e-5 and state["config"]["world_size"] == 1
    # The final checkpoint holds the exported weights.
    assert max_abs_diff(exported_weights(reference_run), checkpoint_weights(reference_run, 4)) == 0.0


def test_hf_export_reloads_and_generates(reference_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = reference_run / "hf_model"
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    trained = checkpoint_weights(reference_run, REFERENCE_STEPS)
    state = model.state_dict()
    assert max(float((state[k] - trained[k]).abs().max()) for k in trained) == 0.0
    messages = [{"role": "user", "content": "Remember: E1234 lives in Oslo."}]
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    # The exported tokenizer and model are the trained ones: the same ids in, the same greedy ids out.
    original = load_tokenizer(ModelConfig())
    assert ids["input_ids"][0].tolist() == original.apply_chat_template(messages, add_generation_prompt=True,
                                                                        return_dict=True)["input_ids"]
    trained_model = load_model(ModelConfig()).eval()
    trained_model.load_state_dict(trained)
    greedy = {"max_new_tokens": 8, "min_new_tokens": 8, "do_sample": False, "pad_token_id": tokenizer.pad_token_id}
    with torch.no_grad():
        out = model.generate(**ids, **greedy)[0, ids["input_ids"].shape[1]:].tolist()
        expected = trained_model.generate(**ids, **greedy)[0, ids["input_ids"].shape[1]:].tolist()
    assert out == expected and len(out) == 8


def test_wandb_without_key_writes_an_offline_run(reference_run):
    run_id = trainer_state(reference_run, REFERENCE_STEPS)["logger_run_id"]
    folders = list((reference_run / "wandb").glob("offline-run-*"))
    assert len(folders) == 1 and wandb_run_ids(reference_run) == [run_id]
    assert list(folders[0].glob("*.wandb")), "the offline run has no history file"


def test_kill_and_resume_is_bit_identical(reference_run, killed_and_resumed):
    out, _, resumed_log = killed_and_resumed
    assert re.search(r"resumed from \S*step_000002 at step 2", resumed_log), resumed_log[-3000:]
    assert max_abs_diff(exported_weights(reference_run), exported_weights(out)) == 0.0
    assert max_abs_diff(checkpoint_weights(reference_run, 3), checkpoint_weights(out, 3)) == 0.0
    # Same rollouts, same rewards: every non-timing metric matches the uninterrupted run's.
    reference, resumed = read_jsonl(reference_run / "metrics.jsonl"), read_jsonl(out / "metrics.jsonl")
    for a, b in zip(reference, resumed):
        differing = [k for k in a if not k.startswith(("timing_s/", "perf/")) and a[k] != b.get(k)]
        assert not differing, f"step {a['step']}: {differing}"


def test_resume_at_an_epoch_boundary_counts_steps_once(killed_and_resumed):
    out, _, resumed_log = killed_and_resumed
    # Step 2 ended the first epoch (4 tasks, 2 per step); the resumed run trained steps 3 and 4 only.
    assert trainer_state(out, 2)["epoch"] == 1 and trainer_state(out, 2)["data_cursor"] == TRAIN_SIZE
    final = trainer_state(out, REFERENCE_STEPS)
    assert (final["global_step"], final["epoch"], final["data_cursor"]) == (4, 2, 2 * TRAIN_SIZE)
    assert re.findall(r"step (\d)/4 reward", resumed_log) == ["3", "4"]
    assert [r["step"] for r in read_jsonl(out / "metrics.jsonl")] == [1, 2, 3, 4]


def test_resumed_wandb_run_keeps_its_id(killed_and_resumed):
    out, _, _ = killed_and_resumed
    run_id = trainer_state(out, REFERENCE_STEPS)["logger_run_id"]
    assert trainer_state(out, 2)["logger_run_id"] == run_id
    assert wandb_run_ids(out) == [run_id, run_id]  # the killed run's folder and the resumed one's


def copy_checkpoints(reference_run: Path, out: Path) -> Path:
    shutil.copytree(reference_run / "checkpoints", out / "checkpoints")
    return out / "checkpoints"


def test_truncated_checkpoint_is_never_loaded(reference_run, tmp_path):
    root = copy_checkpoints(reference_run, tmp_path)
    shard = root / "step_000004" / "ds" / "mp_rank_00_model_states.pt"
    with shard.open("r+b") as f:
        f.truncate(shard.stat().st_size // 2)
    proc = run_train(tmp_path, *[o for o in REFERENCE if o not in ("resume=never", "logger=wandb")])
    output = proc.stdout + proc.stderr
    assert re.search(r"skipping checkpoint step_000004: .*truncated", output), output[-3000:]
    assert re.search(r"resumed from \S*step_000003 at step 3", output)
    # Step 4 was trained again, to the same weights; its checkpoint is whole again.
    assert max_abs_diff(exported_weights(reference_run), exported_weights(tmp_path)) == 0.0
    assert (root / "latest").read_text() == "step_000004"
    assert trainer_state(tmp_path, 4)["global_step"] == 4


def test_resume_with_a_changed_lr_is_an_error_naming_it(reference_run, tmp_path):
    copy_checkpoints(reference_run, tmp_path)
    overrides = [o for o in REFERENCE if o not in ("resume=never", "logger=wandb")]
    proc = run_train(tmp_path, *overrides, "trainer.lr=1e-4", expect_ok=False)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "cannot resume" in output and re.search(r"trainer\.lr: 5e-05 → 0\.0001", output), output[-3000:]
    assert not (tmp_path / "hf_model").exists()
