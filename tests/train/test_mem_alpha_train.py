"""`experiment=mem_alpha_cpu` end to end (SPEC.md §6): chunk-stream rollouts of the tiny model, the offline reader,
r1–r4 per step, per-step GRPO over each instance's chunk-step samples, DeepSpeed ZeRO-2 on CPU; a run killed after
its first checkpoint resumes to the same weights as an uninterrupted one."""

import pytest
from train_runs import exported_weights, max_abs_diff, read_jsonl, run_train, run_until_then_kill

from agemem.models import ModelConfig, load_model

MEM_ALPHA = ["experiment=mem_alpha_cpu", "data.size=8", "trainer.total_steps=2", "trainer.save_every=1",
             "trainer.eval_every=2", "trainer.eval_tasks=2", "rollout.max_new_tokens=16", "resume=auto"]


@pytest.fixture(scope="module")
def mem_alpha_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mem_alpha")
    proc = run_train(out, *MEM_ALPHA)
    (out / "run.log").write_text(proc.stdout + proc.stderr)
    return out


def test_mem_alpha_run_logs_every_reward_term(mem_alpha_run):
    rows = read_jsonl(mem_alpha_run / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2]
    for key in ("reward/r1/mean", "reward/r2/mean", "reward/r3/mean", "reward/r4/mean", "reward/total/mean",
                "reward/memory_tokens/mean", "actor/pg_loss", "actor/grad_norm", "timing_s/reward"):
        assert key in rows[0], key
    assert "eval/qa_accuracy" in rows[1] and "eval/compression" in rows[1]
    # The untrained tiny model never writes a valid call: r1 = r2 = r4 = 0 and an empty memory (r3 = 1) in every
    # rollout, so every r_t is 0.05, every advantage exactly 0 and the update leaves the weights as they were.
    assert all(r["reward/total/mean"] == pytest.approx(0.05) and r["reward/r2/mean"] == 0 for r in rows)
    assert all(r["actor/advantages/mean"] == 0 and r["actor/grad_norm"] == 0 for r in rows)
    initial = {k: v for k, v in load_model(ModelConfig()).state_dict().items()}
    assert max_abs_diff(exported_weights(mem_alpha_run), initial) == 0


def test_a_killed_mem_alpha_run_resumes_bit_identically(mem_alpha_run, tmp_path):
    run_until_then_kill(tmp_path, "step_000001", *MEM_ALPHA)
    run_train(tmp_path, *MEM_ALPHA)
    assert max_abs_diff(exported_weights(tmp_path), exported_weights(mem_alpha_run)) == 0.0
    resumed = {r["step"]: r for r in read_jsonl(tmp_path / "metrics.jsonl")}
    reference = {r["step"]: r for r in read_jsonl(mem_alpha_run / "metrics.jsonl")}
    assert resumed[2]["reward/total/mean"] == reference[2]["reward/total/mean"]
