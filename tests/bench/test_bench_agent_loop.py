"""bench/agent_loop.py on tiny sizes: the replay does exactly the collector's generation work."""

import importlib
import sys

import torch

from agemem import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "bench"))
agent_loop = importlib.import_module("agent_loop")


def test_collector_and_direct_engine_calls_generate_the_same_tokens():
    threads = torch.get_num_threads()
    try:  # one thread, as the benchmark runs (two on a shared 2-core machine can be many times slower)
        result = agent_loop.run(model="tiny", episodes=1, group_size=2, repeats=1, threads=1)
    finally:
        torch.set_num_threads(threads)
    assert result["identical_outputs"]
    assert result["calls"] > 0 and result["prompts"] >= 2 and result["generated_tokens"] > 0
    assert set(result["seconds"]["wall"]) == {"collector", "engine"}
    assert result["ratio_wall"] > 0 and result["ratio_cpu"] > 0
    assert 0 < result["engine_share_of_collector"] <= 1
    padding = result["generation_padding"]
    assert padding["padded_positions"] >= padding["real_positions"] == result["prompt_tokens"]
    assert 0 <= padding["waste"] < 1
