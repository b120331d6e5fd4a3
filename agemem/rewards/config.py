"""Schemas of the `reward` and `judge` config groups (SPEC.md §4)."""

from dataclasses import dataclass, field


@dataclass
class LocalJudgeConfig:
    """A local HF causal LM as the judge (`judge.kind=llm_local`), batched greedy decoding."""

    # Local folder of the judge model (config.json + chat template); null uses the tiny offline model (tests).
    path: str | None = None
    # Parameter dtype: float32 or bfloat16.
    dtype: str = "bfloat16"
    # Where to run it: auto (cuda when available) | cpu | cuda.
    device: str = "auto"
    # Prompts decoded together per forward batch.
    batch_size: int = 32
    # Tokens generated per judge reply (the reply is one number).
    max_new_tokens: int = 16


@dataclass
class HTTPJudgeConfig:
    """An OpenAI-compatible chat-completions endpoint as the judge (`judge.kind=llm_http`)."""

    # Endpoint root; requests go to {base_url}/chat/completions.
    base_url: str = "http://127.0.0.1:8000/v1"
    # Model name sent in each request (also part of the cache key).
    model: str = "judge"
    # Name of the environment variable holding the API key; empty sends no key. The key itself is never stored.
    api_key_env: str = "OPENAI_API_KEY"
    # Requests in flight at once.
    max_concurrency: int = 16
    # Seconds before one attempt is abandoned.
    timeout_s: float = 60.0
    # Extra attempts after a failure (HTTP 429/5xx, timeout, connection error, malformed body).
    max_retries: int = 3
    # Wait before retry n (0-based) is backoff_s · 2^n seconds.
    backoff_s: float = 1.0
    # Tokens the endpoint may generate per reply.
    max_tokens: int = 16
    # On-disk cache of replies (SQLite file) keyed by model and prompt; empty disables it.
    cache_path: str = ".cache/judge/http_cache.sqlite"


@dataclass
class JudgeConfig:
    """Who scores answers, stored memories and retrieved memories."""

    # Judge backend: rule | llm_local | llm_http.
    kind: str = "rule"
    # Rule judge for R_task (and the LLM judges' fallback): exact_match | token_f1 | substring_match.
    rule_metric: str = "token_f1"
    # Rule judge: an entry supports a fact when it holds at least this fraction of the fact's content words.
    overlap_threshold: float = 0.5
    # Settings of kind=llm_local.
    local: LocalJudgeConfig = field(default_factory=LocalJudgeConfig)
    # Settings of kind=llm_http.
    http: HTTPJudgeConfig = field(default_factory=HTTPJudgeConfig)


@dataclass
class RewardConfig:
    """Which reward formula, its weights, and the constants of its terms (SPEC.md §4)."""

    # Formula: agemem_paper (uniform weights) | agemem_official (weighted, tool efficiency, clipped) | mem_alpha.
    preset: str = "agemem_paper"
    # agemem_paper weights: one (1.0 each, paper §4.1) | third (1/3 each, paper App. C.4).
    paper_weights: str = "one"
    # agemem_official: weight of the judge score when an answer was given.
    w_task: float = 0.5
    # agemem_official: weight of the tool-efficiency term.
    w_tool_efficiency: float = 0.2
    # agemem_official: weight of R_context.
    w_context: float = 0.15
    # agemem_official: weight of R_memory.
    w_memory: float = 0.15
    # R_task when no answer was given (paper eq. 17: P_no-answer; agemem_official adds it unweighted).
    no_answer_reward: float = -1.0
    # P_rounds (paper eq. 26): stage 3 ran out of rounds unanswered (official: its rounds reached max_rounds).
    penalty_rounds: float = -1.0
    # P_overflow (paper eq. 26): the context exceeded the budget itself (official: chars/4 of the final context).
    penalty_overflow: float = -0.5
    # agemem_paper's T_used of R_compression: tokenizer (answer_context_tokens) | chars (final context chars // 4);
    # agemem_official always uses chars / 4 of the final context.
    token_estimate: str = "tokenizer"
    # A stored entry counts as high-quality (R_storage) when its judge score is at least this.
    storage_threshold: float = 0.5
    # mem_alpha: weight β of the compression term r3 (SPEC.md §6).
    mem_alpha_beta: float = 0.05
    # mem_alpha: weight γ of the memory-content term r4 (SPEC.md §6).
    mem_alpha_gamma: float = 0.1
    # mem_alpha: the frozen reader of r1: extractive (offline: the retrieved memory text must contain the answer)
    # | llm_local (reward.reader_local) | llm_http (reward.reader_http) (agemem/rewards/mem_alpha_reader.py).
    reader: str = "extractive"
    # mem_alpha: semantic + episodic items the reader retrieves by BM25 for each question (core memory always).
    reader_top_k: int = 10
    # mem_alpha, reader=extractive: what counts as answered — the gold anywhere in the retrieved text (context) or in
    # a retrieved line that also holds every content word of the question (line: the right entity and attribute).
    reader_match: str = "context"
    # mem_alpha, reader=llm_local: the reader model (path null: the policy's starting weights, model.*).
    reader_local: LocalJudgeConfig = field(default_factory=lambda: LocalJudgeConfig(max_new_tokens=48))
    # mem_alpha, reader=llm_http: an OpenAI-compatible endpoint answering the questions.
    reader_http: HTTPJudgeConfig = field(default_factory=lambda: HTTPJudgeConfig(
        max_tokens=48, cache_path=".cache/judge/reader_cache.sqlite"))
