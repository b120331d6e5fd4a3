"""Judge throughput: the HTTP judge against a loopback server with an injected latency, and the cache-hit path.

    python bench/judge_http.py [--latency 0.2] [--concurrency 1,8,32] [--per-slot 8] [--repeats 2]
        [--out bench/results/bench.json]

A real HTTP server on 127.0.0.1 (stdlib `ThreadingHTTPServer`, one thread per connection) answers the OpenAI
chat-completions shape with the reply "0.8" after sleeping `--latency` seconds. The judge is the project's own,
built by `agemem.rewards.judges.build_judge` with `judge.kind=llm_http` (`HTTPBackend`: urllib on worker threads
under an asyncio semaphore of `judge.http.max_concurrency`), with its reply cache off. At each concurrency c it
scores one batch of `--per-slot` x c distinct answer requests (`judge.score`, as the reward code calls it);
requests/s is set against the ideal c / latency (figure: their ratio, 1.0 when the client adds nothing to the
server's latency). The cache-hit path: a judge with its SQLite reply cache (`agemem/rewards/judges/cache.py`) in a
temporary folder scores the largest batch once (misses, stored) and again (all hits: no request leaves); reported as
verdicts/s and its ratio to the uncached HTTP judge at the highest concurrency. Every verdict is checked (0.8 from
the LLM, then from the cache). The share of a training step spent on rewards is measured by bench/train_step.py.
Writes section `judge_http` of bench/results/bench.json with the command.
"""

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import measure  # sets the CPU environment before torch is imported
from typing_extensions import Self

REPLY = "0.8"


class _ChatCompletions(BaseHTTPRequestHandler):
    """POST /v1/chat/completions: read the body, wait the server's latency, answer REPLY."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(self.server.latency)
        with self.server.lock:
            self.server.requests += 1
        body = json.dumps({"id": "bench", "object": "chat.completion", "model": "judge", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": REPLY}, "finish_reason": "stop"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class LoopbackJudgeServer(ThreadingHTTPServer):
    """An OpenAI-compatible judge endpoint on a free loopback port, served from a thread while in a `with`."""

    daemon_threads = True
    request_queue_size = 256  # the listen backlog: the default 5 would refuse a burst of 32 connections

    def __init__(self, latency: float):
        super().__init__(("127.0.0.1", 0), _ChatCompletions)
        self.latency = latency
        self.requests = 0
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join()


def judge_requests(n: int, tag: str) -> list:
    """n distinct answer-judging requests (distinct prompts: no two share a cache key)."""
    from agemem.rewards.judges import ANSWER, JudgeRequest

    return [JudgeRequest(ANSWER, f"Which city is entity E{i} ({tag}) in?", ("Paris",), (f"Lyon {i}",))
            for i in range(n)]


def http_judge(base_url: str, concurrency: int, cache_path: str = ""):
    from agemem.rewards.config import HTTPJudgeConfig, JudgeConfig
    from agemem.rewards.judges import build_judge

    return build_judge(JudgeConfig(kind="llm_http", http=HTTPJudgeConfig(
        base_url=base_url, api_key_env="", max_concurrency=concurrency, cache_path=cache_path)))


def check(verdicts: list, source: str) -> None:
    wrong = [v for v in verdicts if (v.score, v.source) != (float(REPLY), source)]
    if wrong:
        raise RuntimeError(f"{len(wrong)} of {len(verdicts)} verdicts are not {REPLY} from {source}: {wrong[:3]}")


def run(latency: float = 0.2, concurrency: tuple[int, ...] = (1, 8, 32), per_slot: int = 8,
        repeats: int = 2) -> dict:
    """Requests/s of the HTTP judge at each concurrency, and of its cache-hit path; the result section."""
    from agemem.rewards.judges import CACHE, LLM

    levels = []
    with LoopbackJudgeServer(latency) as server:
        for c in concurrency:
            judge, n = http_judge(server.base_url, c), per_slot * c
            seconds = []
            for repeat in range(repeats):
                requests = judge_requests(n, f"c{c}r{repeat}")
                with measure.Timed() as t:
                    verdicts = judge.score(requests)
                check(verdicts, LLM)
                seconds.append(t.wall)
            rate = n / statistics.median(seconds)
            levels.append({"concurrency": c, "requests": n, "seconds": measure.rounded(seconds),
                           "requests_per_s": round(rate, 2), "ideal_per_s": round(c / latency, 2),
                           "ratio_to_ideal": round(rate * latency / c, 3)})
            print(f"  concurrency {c}: {rate:.1f} requests/s (ideal {c / latency:.0f})", file=sys.stderr)
        top = max(concurrency)
        with tempfile.TemporaryDirectory() as folder:
            judge, n = http_judge(server.base_url, top, str(Path(folder) / "cache.sqlite")), per_slot * top
            requests = judge_requests(n, "cache")
            with measure.Timed() as miss:
                check(judge.score(requests), LLM)
            sent = server.requests
            hits = []
            for _ in range(max(repeats, 3)):
                with measure.Timed() as t:
                    check(judge.score(requests), CACHE)
                hits.append(t.wall)
            if server.requests != sent:
                raise RuntimeError("the cache-hit passes sent requests to the server")
    uncached = next(level for level in levels if level["concurrency"] == top)["requests_per_s"]
    hit_rate = n / statistics.median(hits)
    return {
        "latency_s": latency, "levels": levels, "server_requests": server.requests,
        "cache": {"requests": n, "concurrency": top, "miss_pass_s": round(miss.wall, 4),
                  "miss_pass_per_s": round(n / miss.wall, 2), "hit_seconds": measure.rounded(hits, 5),
                  "hits_per_s": round(hit_rate, 1), "ratio_to_uncached": round(hit_rate / uncached, 1)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the server waits before replying")
    parser.add_argument("--concurrency", default="1,8,32", help="judge.http.max_concurrency levels")
    parser.add_argument("--per-slot", type=int, default=8, help="requests per batch = per-slot x concurrency")
    parser.add_argument("--repeats", type=int, default=2, help="batches per level (median reported)")
    parser.add_argument("--out", type=Path, default=measure.BENCH_JSON)
    args = parser.parse_args()
    levels = tuple(int(c) for c in args.concurrency.split(","))
    result = {"command": measure.command("judge_http.py"), "env": measure.environment(1),
              **run(args.latency, levels, args.per_slot, args.repeats)}
    for level in result["levels"]:
        print(f"judge http, concurrency {level['concurrency']}: {level['requests_per_s']} requests/s = "
              f"{level['ratio_to_ideal']}x the ideal {level['ideal_per_s']}")
    cache = result["cache"]
    print(f"judge cache hits: {cache['hits_per_s']} verdicts/s = {cache['ratio_to_uncached']}x uncached HTTP")
    measure.write_section(args.out, "judge_http", result)


if __name__ == "__main__":
    sys.exit(main())
