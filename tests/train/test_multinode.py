"""Multi-node launch (issue 16): `torchrun --nnodes 2 --nproc_per_node 1` with a c10d rendezvous on 127.0.0.1,
started as two agents on one machine (nodes 0 and 1), trains as the 2-rank single-node run does.

The two agents stand for two machines: each starts one worker (both LOCAL_RANK 0, as on two hosts), the rendezvous
makes them one world of 2 ranks over gloo, and every rank writes to the one output folder (a shared filesystem on
a real cluster). ZeRO-3, the paper presets' stage, partitions the parameters across the two nodes. The run is
checked against the reference 1-rank run exactly as test_distributed.py checks the single-node 2-rank run (same
tolerance, same metrics). Measured once by hand: its exported weights and every metric but the timings equal the single-node
2-rank ZeRO-3 run's bit for bit (same world size, same shards, same collectives); a second run here would double
the test's time for that.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from train_runs import (
    SUCCESS,
    TINY,
    checkpoint_weights,
    exported_weights,
    free_port,
    max_abs_diff,
    read_jsonl,
    train_env,
    trainer_state,
)

from agemem import PROJECT_ROOT
from agemem.models import ModelConfig, load_model

NODES = 2


def node_command(out: Path, overrides: list[str], node: int, endpoint: str) -> list[str]:
    """Node `node`'s agent: torchrun with a c10d rendezvous. Node 0 hosts the rendezvous store, as the machine whose
    address is the endpoint does on a cluster (on one machine both agents' addresses match 127.0.0.1). c10d assigns
    the node ranks itself (torchrun ignores `--node_rank` with it); the result does not depend on them."""
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes", str(NODES), "--nproc_per_node", "1",
            "--rdzv_backend", "c10d", "--rdzv_endpoint", endpoint, "--rdzv_id", "agemem-multinode-test",
            "--rdzv_conf", f"is_host={str(node == 0).lower()}",
            "run.py", "task=train", f"out={out}", f"hydra.run.dir={out}/hydra", *TINY, *overrides]


def run_train_multinode(out: Path, *overrides: str, timeout: float = 300) -> str:
    """Start both node agents at once and wait for them; fail with their output unless the job succeeded."""
    out.mkdir(parents=True, exist_ok=True)
    endpoint = f"127.0.0.1:{free_port()}"
    env = train_env(out / "home")
    for key in ("MASTER_ADDR", "MASTER_PORT"):  # the rendezvous sets them for the workers
        env.pop(key, None)
    logs = [out / f"node{node}.log" for node in range(NODES)]
    procs = []
    for node, log in enumerate(logs):
        with log.open("w") as handle:
            procs.append(subprocess.Popen(node_command(out, list(overrides), node, endpoint), cwd=PROJECT_ROOT,
                                          env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True))
    deadline = time.monotonic() + timeout
    try:
        for proc in procs:
            proc.wait(timeout=max(deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        pass  # reported below with the logs
    finally:
        for proc in procs:
            if proc.poll() is None:  # the agent and its worker
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    codes = [proc.returncode for proc in procs]
    output = "\n".join(f"--- node {node} (rc {code}) ---\n{log.read_text()[-4000:]}"
                       for node, (log, code) in enumerate(zip(logs, codes, strict=True)))
    # ENV.md: a rare abort at exit on one rank after the job finished; the job's own marker decides.
    ok = all(code == 0 for code in codes) or (SUCCESS in output and "without an active exception" in output)
    assert ok, f"multi-node train run failed or ran past {timeout}s:\n{output}"
    return output


@pytest.mark.distributed
def test_two_nodes_match_two_ranks_on_one_node(reference_run, tmp_path):
    run_train_multinode(tmp_path, "trainer.total_steps=2", "deepspeed=zero3", "resume=never")
    # One world of 2 ranks was formed from the two agents (a lone agent waits for its peer, then times out).
    assert trainer_state(tmp_path, 2)["config"]["world_size"] == NODES
    two_nodes = exported_weights(tmp_path)
    one_rank = checkpoint_weights(reference_run, 2)
    assert max_abs_diff(two_nodes, one_rank) < 1e-5  # the bound the single-node 2-rank run meets
    initial = load_model(ModelConfig()).state_dict()
    assert max_abs_diff(two_nodes, initial) > 5e-5  # the weights did move, by far more than the tolerance
    reference = read_jsonl(reference_run / "metrics.jsonl")[:2]
    for a, b in zip(reference, read_jsonl(tmp_path / "metrics.jsonl"), strict=True):
        for key in ("reward/total/mean", "reward/total/max", "reward/total/min", "actor/samples",
                    "rollout/num_turns/mean", "rollout/response_length/mean", "actor/grad_norm", "actor/pg_loss"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), f"step {a['step']} {key}"
