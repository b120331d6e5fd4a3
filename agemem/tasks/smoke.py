"""`task=smoke`: build the model, complete one chat prompt that carries the memory tools, print the result."""

import json
import logging
from dataclasses import replace

from agemem.models import load_model, load_tokenizer
from agemem.rollout.factory import build_engine, sampling_params
from agemem.tasks.config import Config
from agemem.tasks.runtime import output_dir, prepare_model, seed_everything
from agemem.tools.schemas import TOOL_SCHEMAS

log = logging.getLogger("agemem")


def run_smoke(cfg: Config) -> None:
    prepare_model(cfg.model)  # before seeding: building the tiny model seeds torch itself
    seed_everything(cfg.seed)
    out = output_dir(cfg.out)
    tokenizer = load_tokenizer(cfg.model)
    model = load_model(cfg.model)
    engine = build_engine(cfg.rollout, model, tokenizer)
    messages = [
        {"role": "system", "content": "You manage your own long-term and short-term memory with tools."},
        {"role": "user", "content": cfg.smoke.prompt},
    ]
    text = tokenizer.apply_chat_template(messages, tools=TOOL_SCHEMAS, tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    sampling = replace(
        sampling_params(cfg.rollout, (tokenizer.eos_token_id,), seed=cfg.seed), max_new_tokens=cfg.smoke.max_new_tokens
    )
    generation = engine.generate([prompt_ids], sampling)[0]
    completion = tokenizer.decode(generation.token_ids)
    result = {
        "model": cfg.model.name,
        "prompt_tokens": len(prompt_ids),
        "generated_tokens": len(generation.token_ids),
        "finish_reason": generation.finish_reason,
        "mean_logprob": sum(generation.logprobs) / max(1, len(generation.logprobs)),
        "completion": completion,
    }
    (out / "smoke.json").write_text(json.dumps(result, indent=2))
    print(f"model {cfg.model.name}: {len(prompt_ids)} prompt tokens → {len(generation.token_ids)} generated "
          f"({generation.finish_reason})\n{completion!r}")
    print(f"outputs: {out.resolve()}")
