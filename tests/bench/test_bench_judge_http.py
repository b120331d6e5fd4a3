"""bench/judge_http.py on tiny sizes: the real HTTP judge against the loopback server, then its cache."""

import importlib
import json
import sys
import urllib.request

from agemem import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "bench"))
judge_http = importlib.import_module("judge_http")


def test_loopback_server_answers_the_chat_completions_shape():
    with judge_http.LoopbackJudgeServer(0.0) as server:
        request = urllib.request.Request(server.base_url + "/chat/completions", data=b"{}", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            body = json.loads(response.read())
    assert body["choices"][0]["message"]["content"] == judge_http.REPLY
    assert server.requests == 1


def test_every_level_and_the_cache_are_measured():
    result = judge_http.run(latency=0.01, concurrency=(1, 4), per_slot=2, repeats=1)
    assert [(lv["concurrency"], lv["requests"]) for lv in result["levels"]] == [(1, 2), (4, 8)]
    assert all(lv["requests_per_s"] > 0 and lv["ideal_per_s"] == lv["concurrency"] / 0.01 for lv in result["levels"])
    # Each level's batch, then the cache's miss pass; the hit passes send nothing.
    assert result["server_requests"] == 2 + 8 + 8
    assert result["cache"]["requests"] == 8 and result["cache"]["hits_per_s"] > 0
