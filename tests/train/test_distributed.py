"""The DeepSpeed config (pure) for every preset, metric reduction, and the 2-rank runs (torchrun, gloo, CPU):
ZeRO-1, -2 and -3 on 2 ranks end with the same parameters as 1 rank on the same data.

The 2-rank runs train 2 steps of the reference run's setting; the reference (1 rank, ZeRO-2) kept its step-2
checkpoint. Rollouts are seeded per task (not per rank), so both see the same trajectories; what remains is float
rounding (other batch shapes in generation, gradients summed across ranks), amplified by Adam only where a
gradient is near zero: well under the 1e-5 tolerance at lr 5e-5, while every weight moves ~1e-4.
"""

import json

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from train_runs import checkpoint_weights, exported_weights, max_abs_diff, read_jsonl, run_train

from agemem import PROJECT_ROOT
from agemem.collective import reduce_metrics
from agemem.models import ModelConfig, load_model
from agemem.tasks.config import Config, register_configs
from agemem.train.config import DeepSpeedConfig, TrainerConfig
from agemem.train.distributed import bf16_enabled, build_ds_config

CONF = PROJECT_ROOT / "conf"
PRESETS = sorted(p.stem for p in (CONF / "deepspeed").glob("*.yaml"))
register_configs()


def compose_config(overrides: list[str]) -> Config:
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        return OmegaConf.to_object(compose(config_name="config", overrides=overrides))


def test_every_preset_is_checked():
    assert {"zero1", "zero2", "zero3", "zero3_offload"} <= set(PRESETS)


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("bf16", [False, True])
def test_build_ds_config_for_every_preset(preset, bf16):
    cfg = compose_config([f"deepspeed={preset}"])
    ds = build_ds_config(cfg.deepspeed, cfg.trainer, bf16)
    assert json.loads(json.dumps(ds)) == ds  # plain JSON
    assert build_ds_config(cfg.deepspeed, cfg.trainer, bf16) == ds  # pure
    zero = ds["zero_optimization"]
    assert zero["stage"] == cfg.deepspeed.zero_stage == int(preset[4])
    # Micro-batching and accumulation are the trainer's own: DeepSpeed sees 1 and 1.
    assert ds["train_micro_batch_size_per_gpu"] == 1 and ds["gradient_accumulation_steps"] == 1
    assert ds["gradient_clipping"] == cfg.trainer.grad_clip
    assert ds["bf16"] == {"enabled": bf16} and "fp16" not in ds
    offload = preset.endswith("offload")
    assert ("offload_optimizer" in zero) == offload == ("offload_param" in zero)
    assert ds["zero_force_ds_cpu_optimizer"] == offload  # torch AdamW unless offloading (ENV.md)
    assert zero.get("stage3_gather_16bit_weights_on_model_save", False) == (zero["stage"] == 3)


def test_build_ds_config_rejects_what_deepspeed_would_misread():
    trainer = TrainerConfig()
    with pytest.raises(ValueError, match=r"zero_stage=4.*\[0, 1, 2, 3\]"):
        build_ds_config(DeepSpeedConfig(zero_stage=4), trainer, False)
    with pytest.raises(ValueError, match="zero_stage=3"):
        build_ds_config(DeepSpeedConfig(zero_stage=2, offload_param=True), trainer, False)
    with pytest.raises(ValueError, match="auto"):
        bf16_enabled(DeepSpeedConfig(bf16="yes"))
    assert bf16_enabled(DeepSpeedConfig(bf16="true")) and not bf16_enabled(DeepSpeedConfig(bf16="false"))


def test_reduce_metrics_on_one_process_keeps_values():
    local = {"actor/pg_loss": 0.5, "reward/total/max": 2.0, "reward/total/min": -1.0, "actor/samples": 6.0}
    assert reduce_metrics(local, ("actor/samples",)) == local


@pytest.mark.distributed
@pytest.mark.parametrize("stage", [1, 2, 3])
def test_two_ranks_match_one_rank(reference_run, tmp_path, stage):
    run_train(tmp_path, "trainer.total_steps=2", f"deepspeed=zero{stage}", "resume=never", nproc=2)
    two_ranks = exported_weights(tmp_path)
    one_rank = checkpoint_weights(reference_run, 2)
    assert max_abs_diff(two_ranks, one_rank) < 1e-5
    initial = load_model(ModelConfig()).state_dict()
    assert max_abs_diff(two_ranks, initial) > 5e-5  # the weights did move, by far more than the tolerance
    # The same rollouts and rewards; per-rank counts summed, extremes reduced by max/min.
    reference = read_jsonl(reference_run / "metrics.jsonl")[:2]
    for a, b in zip(reference, read_jsonl(tmp_path / "metrics.jsonl"), strict=True):
        for key in ("reward/total/mean", "reward/total/max", "reward/total/min", "actor/samples",
                    "rollout/num_turns/mean", "rollout/response_length/mean", "actor/grad_norm", "actor/pg_loss"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), f"step {a['step']} {key}"
