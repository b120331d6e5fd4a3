"""An OpenAI-compatible chat-completions endpoint as a judge backend, standard library only.

All prompts of a batch are in flight together (asyncio, at most `max_concurrency` at once; each blocking
`urllib` request runs on a worker thread). Each request has a timeout and is retried with exponential backoff on
HTTP 429/5xx, timeouts, connection errors and malformed bodies; when retries run out the prompt's reply is None
(the LLM judge then uses its rule fallback). The failures of a batch are counted and logged as ONE warning that
names their causes (an endpoint that is down costs a line per training step, not one per request). Nothing
raises.

The API key is read from the environment variable `api_key_env` names, at request time, and only ever placed in
the Authorization header: it is not stored on the object, logged, or written to the cache.
"""

import asyncio
import http.client
import json
import logging
import os
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Coroutine, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, TypeVar

from agemem.rewards.config import HTTPJudgeConfig
from agemem.rewards.judges.protocol import ChatPrompt

log = logging.getLogger(__name__)
T = TypeVar("T")


class RetryableError(Exception):
    """A failure worth another attempt (its message never contains request headers)."""


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, also when the caller already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def reply_text(body: bytes) -> str:
    """choices[0].message.content of a chat-completions response; RetryableError when the body is malformed."""
    try:
        content = json.loads(body)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise RetryableError(f"malformed response body ({type(err).__name__})") from None
    if not isinstance(content, str):
        raise RetryableError("malformed response body (content is not a string)")
    return content


def redact(text: str, headers: dict[str, str]) -> str:
    """`text` with the API key masked, should an endpoint echo it back into a reply (replies may be logged)."""
    key = headers.get("Authorization", "").removeprefix("Bearer ")
    return text.replace(key, "[redacted]") if key else text


class HTTPBackend:
    """Completes chat prompts at {base_url}/chat/completions (see the module docstring)."""

    def __init__(self, cfg: HTTPJudgeConfig):
        if cfg.max_concurrency < 1 or cfg.max_retries < 0 or cfg.timeout_s <= 0:
            raise ValueError("judge.http: max_concurrency ≥ 1, max_retries ≥ 0 and timeout_s > 0 are required")
        self.cfg = cfg
        self.url = cfg.base_url.rstrip("/") + "/chat/completions"
        self.attempts = 0  # HTTP requests made since construction (retries included)
        self.failures = 0  # prompts that got no reply after all retries
        self._warned_no_key = False

    @property
    def model_id(self) -> str:
        return self.cfg.model

    def complete(self, prompts: Sequence[ChatPrompt]) -> list[str | None]:
        return run_sync(self.acomplete(prompts)) if prompts else []

    async def acomplete(self, prompts: Sequence[ChatPrompt]) -> list[str | None]:
        """Async `complete`: every prompt in flight together, at most `max_concurrency` at once."""
        headers = self._headers()
        semaphore = asyncio.Semaphore(self.cfg.max_concurrency)
        workers = min(self.cfg.max_concurrency, len(prompts))

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="judge-http") as pool:

            async def one(prompt: ChatPrompt) -> tuple[str | None, str]:
                async with semaphore:
                    return await self._with_retries(prompt, headers, pool)

            results = await asyncio.gather(*(one(p) for p in prompts))
        causes = Counter(error for reply, error in results if reply is None)
        if causes:
            self.failures += sum(causes.values())
            log.warning("judge HTTP: %d of %d requests to %s got no reply after up to %d attempt(s) each: %s",
                        sum(causes.values()), len(prompts), self.url, self.cfg.max_retries + 1,
                        ", ".join(f"{cause} ×{n}" for cause, n in causes.most_common()))
        return [reply for reply, _ in results]

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        name = self.cfg.api_key_env
        key = os.environ.get(name) if name else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        elif name and not self._warned_no_key:
            self._warned_no_key = True
            log.warning("judge.http.api_key_env: environment variable %s is not set; sending no API key", name)
        return headers

    def _body(self, prompt: ChatPrompt) -> bytes:
        system, user = prompt
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        payload = {"model": self.cfg.model, "messages": messages, "temperature": 0.0, "max_tokens": self.cfg.max_tokens}
        return json.dumps(payload).encode()

    def _post(self, body: bytes, headers: dict[str, str]) -> str:
        """One blocking attempt (runs on a worker thread)."""
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.cfg.timeout_s) as response:
                data = response.read()
        except urllib.error.HTTPError as err:
            err.close()
            if err.code == 429 or err.code >= 500:
                raise RetryableError(f"HTTP {err.code}") from None
            raise ValueError(f"HTTP {err.code}") from None  # 4xx: asking again will not help
        except (urllib.error.URLError, OSError, http.client.HTTPException) as err:  # refused, reset, timed out
            raise RetryableError(f"connection error ({type(err).__name__})") from None
        return reply_text(data)

    async def _with_retries(self, prompt: ChatPrompt, headers: dict[str, str],
                            pool: Executor) -> tuple[str | None, str]:
        """The reply (None when every attempt failed) and the last failure's cause."""
        loop = asyncio.get_running_loop()
        body = self._body(prompt)
        error = "no attempt"
        for attempt in range(self.cfg.max_retries + 1):
            if attempt:
                delay = self.cfg.backoff_s * 2 ** (attempt - 1)
                log.debug("judge HTTP attempt %d failed (%s); retrying in %.2fs", attempt, error, delay)
                await asyncio.sleep(delay)
            self.attempts += 1
            try:
                future = loop.run_in_executor(pool, self._post, body, headers)
                return redact(await asyncio.wait_for(future, timeout=self.cfg.timeout_s), headers), ""
            except (asyncio.TimeoutError, TimeoutError):
                error = f"timeout after {self.cfg.timeout_s}s"
            except RetryableError as err:
                error = str(err)
            except ValueError as err:
                error = str(err)
                break
            except Exception as err:  # noqa: BLE001 - a judge failure must never stop training
                error = f"unexpected {type(err).__name__}"
                break
        log.debug("judge HTTP request to %s failed after %d attempt(s): %s", self.url, attempt + 1, error)
        return None, error
