"""The scripted Mem-α writer: one semantic insert per fact line, and, with a store rate below 1, a reproducible
inconsistent writer that passes over the rest (the demonstrations of the Mem-α CPU demo)."""

import json

import pytest

from agemem.rollout.engine import SamplingParams
from agemem.rollout.mem_alpha_expert import NOTHING, MemAlphaExpertEngine, expert_write


def _prompt(*lines: str) -> str:
    return "<new_chunk>\nold chunk\n</new_chunk> ... <new_chunk>\n" + "\n".join(lines) + "\n</new_chunk>"


def _stored(response: str) -> list[str]:
    if response == NOTHING:
        return []
    calls = json.loads(response.removeprefix("<tool_call>").removesuffix("</tool_call>"))
    assert {c["name"] for c in calls} == {"new_memory_insert"}
    assert {c["arguments"]["memory_type"] for c in calls} == {"semantic_memory"}
    return [c["arguments"]["content"] for c in calls]


def test_every_fact_line_of_the_last_chunk_is_stored_and_other_lines_are_not():
    response = expert_write(_prompt("Entity E12's age is 34.", "The weather was mild.", "Update: E7's score is now 9."),
                            "agemem")
    assert _stored(response) == ["E12's age is 34", "E7's score is now 9"]
    assert expert_write(_prompt("Nothing happened today."), "agemem") == NOTHING


def test_an_inconsistent_writer_stores_a_reproducible_share_of_the_facts():
    facts = [f"Entity E{1000 + i}'s age is {i % 97}." for i in range(400)]
    kept = {rate: [bool(_stored(expert_write(_prompt(f), "agemem", rate))) for f in facts]
            for rate in (0.0, 0.3, 0.6, 1.0)}
    assert sum(kept[0.0]) == 0 and sum(kept[1.0]) == 400
    assert 100 <= sum(kept[0.3]) <= 140 and 220 <= sum(kept[0.6]) <= 260
    # Reproducible, and nested: what a lower rate stores, a higher one stores too.
    assert kept[0.3] == [bool(_stored(expert_write(_prompt(f), "agemem", 0.3))) for f in facts]
    assert all(high for low, high in zip(kept[0.3], kept[0.6]) if low)
    # Per fact, not per chunk: a chunk of several facts may keep some of them.
    both = expert_write(_prompt(*facts[:8]), "agemem", 0.6)
    assert _stored(both) == [f.removeprefix("Entity ").rstrip(".") for f, k in zip(facts[:8], kept[0.6][:8]) if k]


def test_the_engine_writes_the_inconsistent_writers_responses_and_refuses_a_rate_outside_0_1(tokenizer):
    prompts = [_prompt(f"Entity E{2000 + i}'s height is {150 + i}.") for i in range(12)]
    engine = MemAlphaExpertEngine(tokenizer, "agemem", store_rate=0.5)
    generations = engine.generate([tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts],
                                  SamplingParams(max_new_tokens=64, temperature=0.0))
    texts = [expert_write(p, "agemem", 0.5) for p in prompts]
    assert [g.token_ids for g in generations] == [
        tokenizer(t, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] for t in texts]
    assert 0 < sum(t == NOTHING for t in texts) < 12
    with pytest.raises(ValueError, match="sft.expert_store_rate=1.5"):
        MemAlphaExpertEngine(tokenizer, "agemem", store_rate=1.5)
