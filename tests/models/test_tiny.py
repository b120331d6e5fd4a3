"""The tiny offline model: deterministic build, a chat template that renders tools, and clear path errors."""

import json
from dataclasses import asdict

import pytest
import torch
from transformers import AutoTokenizer

from agemem import PROJECT_ROOT
from agemem.models import ModelConfig, ModelPathError, load_model, load_tokenizer, resolve_model_dir
from agemem.models.config import TinyModelConfig
from agemem.models.tiny import build_model, build_tokenizer, corpus_digest, ensure_tiny_model, tiny_model_dir
from agemem.tasks.runtime import prepare_model
from agemem.tools.schemas import TOOL_NAMES, TOOL_SCHEMAS
from stages.corpus import tokenizer_corpus

MESSAGES = [
    {"role": "system", "content": "You manage memory."},
    {"role": "user", "content": "Alice moved to Paris in 2019."},
    {
        "role": "assistant",
        "content": "<think>store it</think>",
        "tool_calls": [{"type": "function", "function": {"name": "Add_memory", "arguments": {"content": "Alice: Paris"}}}],
    },
    {"role": "tool", "content": "[memory tool result]\nmemory_added:mem_1"},
]


def test_chat_template_renders_tools_calls_and_results(tokenizer, tmp_path):
    text = tokenizer.apply_chat_template(MESSAGES, tools=TOOL_SCHEMAS, tokenize=False, add_generation_prompt=True)
    for name in TOOL_NAMES:
        assert json.dumps(name) in text
    assert '<tool_call>\n{"name": "Add_memory", "arguments": {"content": "Alice: Paris"}}\n</tool_call>' in text
    assert "<|im_start|>user\n<tool_response>\n[memory tool result]\nmemory_added:mem_1\n</tool_response><|im_end|>" in text
    assert text.endswith("<|im_start|>assistant\n")
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    again = reloaded.apply_chat_template(MESSAGES, tools=TOOL_SCHEMAS, tokenize=False, add_generation_prompt=True)
    assert again == text
    assert reloaded(text, add_special_tokens=False)["input_ids"] == tokenizer(text, add_special_tokens=False)["input_ids"]


def test_special_tokens_and_digits_are_single_tokens(tokenizer):
    for special in ["<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>", "<answer>", "</answer>"]:
        assert len(tokenizer(special, add_special_tokens=False)["input_ids"]) == 1
    assert tokenizer.tokenize("31415") == list("31415")
    text = 'Caf\u00e9 \u6771\u4eac <tool_call>[{"name": "Add_memory"}]</tool_call>'
    assert tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"]) == text


def test_build_is_deterministic_in_the_seed():
    small = TinyModelConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                            num_key_value_heads=1, head_dim=16)
    corpus = tokenizer_corpus(small.seed)
    tok_a, tok_b = build_tokenizer(small, corpus), build_tokenizer(small, corpus)
    assert tok_a.get_vocab() == tok_b.get_vocab()
    a, b = build_model(small, tok_a), build_model(small, tok_b)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    other = build_model(TinyModelConfig(**{**small.__dict__, "seed": 1}), tok_a)
    assert not torch.equal(a.model.embed_tokens.weight, other.model.embed_tokens.weight)


def test_tiny_model_loads_from_the_cache(model_cfg, tmp_path):
    folder = resolve_model_dir(model_cfg)
    assert folder == tiny_model_dir(model_cfg.tiny, PROJECT_ROOT / ".cache" / "models")  # the default cache
    digest = corpus_digest(tokenizer_corpus(model_cfg.tiny.seed))
    assert json.loads((folder / "BUILD_COMPLETE").read_text()) == {**asdict(model_cfg.tiny), "corpus": digest}
    model = load_model(model_cfg)
    assert model.config.head_dim == 64 and model.config.model_type == "qwen3"
    small = TinyModelConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                            num_key_value_heads=1, head_dim=16)
    elsewhere = ModelConfig(cache_dir=str(tmp_path), tiny=small)  # model.cache_dir
    with pytest.raises(ModelPathError, match="tiny offline model, which is not built"):
        resolve_model_dir(elsewhere)  # the models floor loads; a task builds it (the corpus is the stages' text)
    prepare_model(elsewhere)
    assert resolve_model_dir(elsewhere) == tiny_model_dir(small, tmp_path)
    assert (tiny_model_dir(small, tmp_path) / "BUILD_COMPLETE").is_file()


def test_a_changed_corpus_rebuilds_the_tiny_model(tmp_path):
    small = TinyModelConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                            num_key_value_heads=1, head_dim=16)
    corpus = tokenizer_corpus(small.seed)
    folder = ensure_tiny_model(small, tmp_path, corpus)
    built = (folder / "tokenizer.json").stat().st_mtime_ns
    assert ensure_tiny_model(small, tmp_path, corpus) == folder  # the same corpus: reused, not rebuilt
    assert (folder / "tokenizer.json").stat().st_mtime_ns == built
    changed = [*corpus, "<|im_start|>user\nA new prompt template<|im_end|>\n"]
    assert ensure_tiny_model(small, tmp_path, changed) == folder  # same folder, rebuilt for the new corpus
    assert json.loads((folder / "BUILD_COMPLETE").read_text())["corpus"] == corpus_digest(changed)
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]  # no temporary or stale folder is left


def test_missing_or_invalid_model_path_is_a_clear_error(tmp_path):
    with pytest.raises(ModelPathError, match="no such directory"):
        load_tokenizer(ModelConfig(path=str(tmp_path / "nope")))
    with pytest.raises(ModelPathError, match="no config.json"):
        load_model(ModelConfig(path=str(tmp_path)))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelPathError, match="not a loadable model config"):
        load_model(ModelConfig(path=str(tmp_path)))


def test_local_model_path_loads_any_saved_causal_lm(model_cfg, tmp_path):
    load_model(model_cfg).save_pretrained(tmp_path)
    load_tokenizer(model_cfg).save_pretrained(tmp_path)
    cfg = ModelConfig(name="local", path=str(tmp_path))
    assert load_tokenizer(cfg).chat_template and load_model(cfg).config.model_type == "qwen3"
