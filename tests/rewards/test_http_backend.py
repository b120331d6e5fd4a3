"""The HTTP judge against a real OpenAI-compatible server on 127.0.0.1 (http.server in a thread).

Failures (HTTP 500, timeouts, malformed bodies, refused connections) are retried with backoff, then the rule
fallback is used with one warning per batch; nothing raises. Replies are cached on disk; the API key never reaches
a log. No test asserts on wall-clock time (it flakes on a busy machine): concurrency is checked with a barrier
that only opens when enough requests are in flight at once, timeouts with a server that holds its reply until the
test ends.
"""

import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from omegaconf import OmegaConf

from agemem.rewards import score_batch
from agemem.rewards.config import HTTPJudgeConfig, JudgeConfig, RewardConfig
from agemem.rewards.judges import ANSWER, CACHE, FALLBACK, LLM, JudgeRequest, build_judge
from agemem.rewards.judges.http_backend import HTTPBackend

SECRET = "sk-test-SECRET-6f1d2c"
KEY_ENV = "AGEMEM_TEST_JUDGE_KEY"


def completion(text):
    return {"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant",
            "content": text}, "finish_reason": "stop"}]}


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        srv = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with srv.lock:
            srv.requests.append({"path": self.path, "auth": self.headers["Authorization"], "body": body})
            n = len(srv.requests)
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
        finished = False
        try:
            status, payload, delay = srv.behaviour(n, body, self.headers)
            time.sleep(delay)
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            # Out of flight before the reply leaves: once the client has it, it may send its next request at once.
            with srv.lock:
                srv.in_flight -= 1
                finished = True
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)
        finally:
            if not finished:
                with srv.lock:
                    srv.in_flight -= 1

    def log_message(self, *args):
        pass


class JudgeServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # do not wait for handlers still sleeping in the timeout test

    def __init__(self, behaviour):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.behaviour, self.requests, self.lock = behaviour, [], threading.Lock()
        self.in_flight = self.max_in_flight = 0

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


@pytest.fixture
def serve(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(KEY_ENV, SECRET)
    servers = []

    def start(behaviour):
        server = JudgeServer(behaviour)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def always(reply="0.8", status=200, delay=0.0):
    return lambda n, body, headers: (status, completion(reply) if status == 200 else {"error": "x"}, delay)


def http_cfg(server_or_url, tmp_path=None, **overrides):
    url = server_or_url if isinstance(server_or_url, str) else server_or_url.base_url
    values = {"base_url": url, "model": "judge-m", "api_key_env": KEY_ENV, "max_concurrency": 8, "timeout_s": 0.3,
              "max_retries": 2, "backoff_s": 0.01, "cache_path": str(tmp_path / "cache.sqlite") if tmp_path else ""}
    values.update(overrides)
    return HTTPJudgeConfig(**values)


def judge_for(cfg):
    return build_judge(JudgeConfig(kind="llm_http", rule_metric="exact_match", http=cfg))


def requests(n=1):
    return [JudgeRequest(ANSWER, f"Question {i}?", ("Paris",), ("Paris",)) for i in range(n)]


class Together:
    """A behaviour that holds each request until `parties` requests are in flight at once (a barrier), then replies
    `reply`; if they never are, the barrier breaks after `wait_s` and the requests get HTTP 503 instead."""

    def __init__(self, parties: int, reply: str = "0.8", wait_s: float = 20.0):
        self.barrier, self.reply, self.wait_s = threading.Barrier(parties), reply, wait_s

    def __call__(self, n, body, headers):
        try:
            self.barrier.wait(timeout=self.wait_s)
        except threading.BrokenBarrierError:
            return 503, {"error": "not enough requests in flight together"}, 0
        return 200, completion(self.reply), 0


def test_all_prompts_in_flight_together(serve):
    server = serve(Together(8))
    judge = judge_for(http_cfg(server, timeout_s=60, max_retries=0))
    verdicts = judge.score(requests(8))
    assert [(v.score, v.source) for v in verdicts] == [(0.8, LLM)] * 8  # the barrier opened: all 8 at once
    assert server.max_in_flight == 8 and judge.backend.attempts == 8
    sent = server.requests[0]
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] == f"Bearer {SECRET}"
    assert sent["body"]["model"] == "judge-m" and sent["body"]["messages"][0]["role"] == "system"


def test_concurrency_is_bounded(serve):
    server = serve(Together(2, "0.5"))  # pairs pass the barrier: a third request in flight would show
    verdicts = judge_for(http_cfg(server, max_concurrency=2, timeout_s=60, max_retries=0)).score(requests(6))
    assert [v.source for v in verdicts] == [LLM] * 6
    assert server.max_in_flight == 2 and len(server.requests) == 6


def test_http_500_is_retried_then_succeeds(serve):
    server = serve(lambda n, body, headers: (500, {"error": "busy"}, 0) if n <= 2 else (200, completion("0.6"), 0))
    judge = judge_for(http_cfg(server))
    assert [(v.score, v.source) for v in judge.score(requests(1))] == [(0.6, LLM)]
    assert judge.backend.attempts == 3


def test_persistent_500_falls_back_with_a_warning(serve, caplog):
    server = serve(always(status=500))
    judge = judge_for(http_cfg(server))
    with caplog.at_level(logging.WARNING):
        verdicts = judge.score(requests(2))
    assert [(v.score, v.source) for v in verdicts] == [(1.0, FALLBACK)] * 2  # exact match of "Paris"
    assert len(server.requests) == 6 and judge.backend.failures == 2  # 1 + max_retries=2, per prompt
    assert "2 of 2 requests" in caplog.text and "after up to 3 attempt(s) each: HTTP 500 ×2" in caplog.text
    assert "rule fallback" in caplog.text


def test_an_endpoint_that_is_down_costs_one_warning_per_batch_not_one_per_request(serve, caplog):
    server = serve(lambda n, body, headers: (500, {"error": "busy"}, 0) if n % 2 else (401, {"error": "key"}, 0))
    judge = judge_for(http_cfg(server, max_retries=1))
    with caplog.at_level(logging.WARNING):
        verdicts = judge.score(requests(40))
    assert {v.source for v in verdicts} == {FALLBACK} and judge.backend.failures == judge.fallbacks == 40
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 2, warnings  # the backend's count of causes, the judge's count of fallbacks
    assert "40 of 40 requests" in warnings[0] and "HTTP 500 ×" in warnings[0] and "HTTP 401 ×" in warnings[0]
    assert "40 of 40 requests used the rule fallback" in warnings[1]


def test_timeout_is_retried_then_falls_back(serve, caplog):
    release = threading.Event()
    server = serve(lambda n, body, headers: (release.wait(30), (200, completion("0.8"), 0))[1])
    judge = judge_for(http_cfg(server, timeout_s=0.2, max_retries=1))
    try:
        with caplog.at_level(logging.WARNING):
            verdicts = judge.score(requests(1))
    finally:
        release.set()  # the held requests end; had the client waited for them, the verdict would be LLM's 0.8
    assert verdicts[0].source == FALLBACK and judge.backend.attempts == 2
    # The socket's timeout or the attempt's own, whichever fires first: both are timeouts.
    assert "1 of 1 requests" in caplog.text and "timeout" in caplog.text.lower()


def test_malformed_bodies_are_retried(serve):
    bodies = {1: b"<html>not json", 2: {"choices": []}, 3: {"choices": [{"message": {"content": None}}]}}
    server = serve(lambda n, body, headers: (200, bodies[n], 0) if n in bodies else (200, completion("0.4"), 0))
    judge = judge_for(http_cfg(server, max_retries=3))
    assert [(v.score, v.source) for v in judge.score(requests(1))] == [(0.4, LLM)]
    assert len(server.requests) == 4


def test_always_malformed_falls_back_with_a_warning(serve, caplog):
    server = serve(lambda n, body, headers: (200, b"{oops", 0))
    with caplog.at_level(logging.WARNING):
        verdicts = judge_for(http_cfg(server)).score(requests(1))
    assert verdicts[0].source == FALLBACK and len(server.requests) == 3
    assert "malformed response body" in caplog.text


def test_client_errors_are_not_retried(serve, caplog):
    server = serve(always(status=401))
    with caplog.at_level(logging.WARNING):
        verdicts = judge_for(http_cfg(server)).score(requests(1))
    assert verdicts[0].source == FALLBACK and len(server.requests) == 1
    assert "HTTP 401" in caplog.text


def test_refused_connection_falls_back(serve):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    judge = judge_for(http_cfg(f"http://127.0.0.1:{port}/v1", max_retries=1))
    assert judge.score(requests(1))[0].source == FALLBACK


def test_cache_prevents_repeated_calls(serve, tmp_path):
    server = serve(always("0.7"))
    cfg = http_cfg(server, tmp_path)
    first = judge_for(cfg).score(requests(3))
    assert len(server.requests) == 3 and {v.source for v in first} == {LLM}
    second = judge_for(cfg).score(requests(3))  # a fresh judge, same cache file
    assert len(server.requests) == 3 and [v.score for v in second] == [0.7] * 3 and {v.source for v in second} == {CACHE}
    judge_for(http_cfg(server, tmp_path, model="other-model")).score(requests(3))
    assert len(server.requests) == 6  # the model is part of the key


def test_api_key_never_logged_or_stored(serve, tmp_path, caplog):
    def leaky(n, body, headers):  # a server that echoes the key back in its error bodies
        if n % 3 == 1:
            return 500, {"error": f"bad key {headers['Authorization']}"}, 0
        if n % 3 == 2:
            return 200, f"not json {headers['Authorization']}".encode(), 0
        return 200, completion(f"unsure, {headers['Authorization']}"), 0  # unparsable: its text is logged

    server = serve(leaky)
    cfg = http_cfg(server, tmp_path)
    judge = judge_for(cfg)
    with caplog.at_level(logging.DEBUG):
        judge.score(requests(2))
    assert {r["auth"] for r in server.requests} == {f"Bearer {SECRET}"}
    assert "[redacted]" in caplog.text and SECRET not in caplog.text  # the echoed reply was logged, masked
    assert SECRET.encode() not in (tmp_path / "cache.sqlite").read_bytes()
    assert SECRET not in OmegaConf.to_yaml(OmegaConf.structured(cfg)) and SECRET not in repr(vars(judge.backend))


def test_missing_key_sends_none_and_warns_by_name(serve, monkeypatch, caplog):
    monkeypatch.delenv(KEY_ENV)
    server = serve(always("0.3"))
    with caplog.at_level(logging.WARNING):
        verdicts = HTTPBackend(http_cfg(server)).complete([("s", "u")])
    assert verdicts == ["0.3"] and server.requests[0]["auth"] is None
    assert KEY_ENV in caplog.text


def test_score_batch_with_the_http_judge(serve, b):
    server = serve(always("0.9", delay=0.05))
    traj = b.trajectory(b.step(3, answer="Paris"), answer="Paris", answer_context_tokens=100)
    trajs = [traj, b.trajectory(b.step(3, answer="Rome"), answer="Rome", answer_context_tokens=100)]
    batch = score_batch(trajs, {"e1": b.episode()}, RewardConfig(), judge_for(http_cfg(server)))
    assert [r.task for r in batch] == [0.9, 0.9] and len(server.requests) == 2
    assert batch.metrics["reward/judge_fallbacks"] == 0 and batch.metrics["timing_s/reward_judge"] > 0
