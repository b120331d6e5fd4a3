"""The tiny offline model: a byte-level BPE tokenizer and a small Qwen3, both built deterministically from a seed.

Nothing is downloaded. The tokenizer is trained on generated text that covers the chat template, the tool-call
format and the kind of sentences the synthetic tasks use; digits are split one per token so that copying numbers
is learnable by a small model.
"""

import functools
import hashlib
import json
import random
from dataclasses import asdict
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

from agemem.models.config import TinyModelConfig
from agemem.tools.schemas import TOOL_NAMES, TOOL_SCHEMAS

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
]
CHAT_TEMPLATE = (Path(__file__).parent / "chat_template.jinja").read_text()
# Bump when the corpus or the build changes, so that cached builds are not reused across incompatible versions.
BUILD_VERSION = 2

_WORDS = [
    "the", "a", "an", "of", "in", "on", "at", "to", "from", "with", "by", "for", "and", "or", "is", "was",
    "are", "were", "has", "have", "had", "will", "be", "not", "no", "yes", "what", "who", "where", "when",
    "which", "how", "many", "much", "city", "country", "person", "company", "year", "born", "lives",
    "works", "moved", "founded", "capital", "color", "favourite", "number", "name", "age", "code", "room",
    "team", "project", "friend", "sister", "brother", "mother", "father", "pet", "dog", "cat", "book",
    "movie", "song", "place", "date", "time", "day", "month", "week", "now", "later", "before", "after",
    "first", "second", "third", "last", "new", "old", "memory", "context", "query", "answer", "question",
    "fact", "update", "delete", "add", "retrieve", "summary", "filter", "information", "note", "relevant",
    "irrelevant", "distractor", "rumour", "claim", "previously", "currently", "changed", "actually",
    "instead", "because", "entity", "value", "attribute", "owner", "located", "price", "height", "weight",
    "score", "result", "true", "false", "unknown", "mentioned", "January", "February", "March", "April",
    "May", "June", "July", "August", "September", "October", "November", "December", "Monday", "Sunday"
]


def _turn(role: str, content: str) -> str:
    return f"<|im_start|>{role}\n{content}<|im_end|>\n"


def _tool_turn(content: str) -> str:
    return _turn("user", f"<tool_response>\n{content}\n</tool_response>")


def _call_turn(thought: str, name: str, arguments: dict[str, str]) -> str:
    call = json.dumps([{"name": name, "arguments": arguments}])
    return _turn("assistant", f"<think>{thought}</think><tool_call>{call}</tool_call>")


def task_corpus(seed: int, n_episodes: int = 600) -> list[str]:
    """Chat turns in the shape of synthetic-task trajectories (both prompt styles): the stage inputs, the tool
    calls an agent makes on them and the tool results, so that the BPE learns the protocol's words as tokens
    and a tiny model's sequences stay short."""
    # Imported here: the model package must not load the rollout pipeline just to be imported.
    from agemem.rollout.collector import SYSTEM_PROMPTS
    from data_gen.synthetic import DIFFICULTY, SyntheticSpec, synthetic_episode
    from stages.integrated_reasoning import QUESTION_INPUT
    from stages.ltm_construction import OFFICIAL_INPUT, PAPER_INPUT
    from stages.stm_control import DISTRACTOR_INPUT
    from stages.turn import PROMPT_STYLES, input_text

    rng = random.Random(seed)
    lines = [_turn("system", prompt) for prompt in SYSTEM_PROMPTS.values()]
    for i in range(n_episodes):
        spec = SyntheticSpec(difficulty=i % len(DIFFICULTY), id_range=(1000, 10000))
        episode, style = synthetic_episode(i, seed, spec), PROMPT_STYLES[i % len(PROMPT_STYLES)]
        lines.append(_turn("user", input_text(OFFICIAL_INPUT, style, content="\n".join(episode.contexts))))
        for j, content in enumerate(episode.contexts):
            lines += [_turn("user", input_text(PAPER_INPUT, style, content=content)),
                      _call_turn("store", "Add_memory", {"content": content}),
                      _tool_turn(f"[memory tool result]\nmemory_added:mem_{j + 1}"),
                      _turn("assistant", "<answer>done</answer>")]
        for content in episode.distractors:
            lines += [_turn("user", input_text(DISTRACTOR_INPUT, style, content=content)),
                      _call_turn("irrelevant", "Filter_context", {"criteria": content.split()[1]}),
                      _tool_turn(f"[context tool result]\nremoved {rng.randint(0, 3)} messages")]
        memories = "\n".join(f"- {c} (Memory ID: mem_{j + 1})" for j, c in enumerate(episode.contexts))
        lines += [_turn("user", input_text(QUESTION_INPUT, style, question=episode.question)),
                  _call_turn("recall", "Retrieve_memory", {"query": episode.question}),
                  _tool_turn(f"[retrieved memories]\n{memories}"),
                  _turn("assistant", f"<think>answer</think><answer>{episode.answers[0]}</answer>")]
    return lines


def tokenizer_corpus(seed: int, n_lines: int = 4000) -> list[str]:
    """Generated training text for the BPE: tool calls, chat turns, fact-like sentences and synthetic-task
    trajectories (`task_corpus`).

    Deterministic in `seed`; every special token and tool name occurs many times.
    """
    rng = random.Random(seed)
    lines = [json.dumps(schema) for schema in TOOL_SCHEMAS] + task_corpus(seed)
    for _ in range(n_lines):
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 12)))
        number = str(rng.randint(0, 99999))
        name = rng.choice(TOOL_NAMES)
        call = json.dumps([{"name": name, "arguments": {"content": words, "memory_id": f"mem_{number}"}}])
        lines.append(
            rng.choice(
                [
                    f"<|im_start|>user\n{words.capitalize()} {number}.<|im_end|>\n",
                    f"<|im_start|>assistant\n<think>{words}</think><tool_call>{call}</tool_call><|im_end|>\n",
                    f"<|im_start|>assistant\n<think>{words}</think><answer>{words} {number}</answer><|im_end|>\n",
                    (f"<|im_start|>user\n<tool_response>\n[memory tool result]\nmemory_added:mem_{number}\n"
                     f"</tool_response><|im_end|>\n"),
                    f"[retrieved memories]\n- {words} {number} (Memory ID: mem_{number})\n",
                    f"<|im_start|>system\n{words}<|im_end|>\n",
                ]
            )
        )
    return lines


def build_tokenizer(cfg: TinyModelConfig) -> PreTrainedTokenizerFast:
    """Train the byte-level BPE and wrap it with the ChatML template."""
    tok = Tokenizer(models.BPE())
    # Digits one per token first, then bytes: numbers stay copyable digit by digit.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=cfg.vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(tokenizer_corpus(cfg.seed), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        additional_special_tokens=SPECIAL_TOKENS[3:],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_model(cfg: TinyModelConfig, tokenizer: PreTrainedTokenizerFast) -> Qwen3ForCausalLM:
    """A small Qwen3 with weights initialised from `cfg.seed`."""
    vocab = -(-len(tokenizer) // 64) * 64  # round up: matmul-friendly, unused rows never sampled by training
    config = Qwen3Config(
        vocab_size=vocab,
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_hidden_layers,
        num_attention_heads=cfg.num_attention_heads,
        num_key_value_heads=cfg.num_key_value_heads,
        head_dim=cfg.head_dim,
        max_position_embeddings=cfg.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(cfg.seed)
    return Qwen3ForCausalLM(config)


@functools.cache
def corpus_digest(seed: int) -> str:
    """SHA-256 of the tokenizer corpus, computed once per process (every model and tokenizer load asks for it)."""
    return hashlib.sha256("".join(tokenizer_corpus(seed)).encode()).hexdigest()


def tiny_model_dir(cfg: TinyModelConfig, cache_root: Path) -> Path:
    """Cache folder named by a hash of the config and of the tokenizer corpus, so that a changed config or a
    changed prompt template builds a new model instead of reusing a stale tokenizer."""
    key = json.dumps({**asdict(cfg), "build_version": BUILD_VERSION, "corpus": corpus_digest(cfg.seed)},
                     sort_keys=True)
    return cache_root / f"tiny-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def ensure_tiny_model(cfg: TinyModelConfig, cache_root: Path) -> Path:
    """Build the tiny model into the cache once; return its folder (loadable with `from_pretrained`)."""
    out = tiny_model_dir(cfg, cache_root)
    if (out / "BUILD_COMPLETE").exists():
        return out
    tmp = out.with_name(out.name + f".tmp{random.getrandbits(32):08x}")
    tokenizer = build_tokenizer(cfg)
    model = build_model(cfg, tokenizer)
    tokenizer.save_pretrained(tmp)
    model.save_pretrained(tmp)
    (tmp / "BUILD_COMPLETE").write_text(json.dumps(asdict(cfg)))
    # Rename last: a crash mid-build never leaves a half-written model under the final name.
    try:
        tmp.rename(out)
    except OSError:  # another process finished the same build first
        if not (out / "BUILD_COMPLETE").exists():
            raise
    return out
