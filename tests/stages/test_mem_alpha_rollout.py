"""Mem-α's chunk-stream rollout through the real collector (SPEC.md §6): one write turn per chunk, the context
rebuilt from the memory each time, every turn a token-exact Step, the final memory on the trajectory."""

import json

import pytest

from agemem.memory.config import MemoryConfig
from agemem.records import FINISH_STOP, Episode, Generation
from agemem.rollout.collector import CollectSettings, PromptRenderer, collect
from agemem.rollout.config import RolloutConfig
from agemem.rollout.hf_engine import HFEngine
from agemem.tools.mem_alpha import MEM_ALPHA_TOOL_SCHEMAS
from stages.config import CurriculumConfig, MemAlphaConfig
from stages.mem_alpha import chunk_stream_flow, write_turn_messages

CHUNKS = ["E1's city is Paris.", "E2's job is nurse.", "E1's city is now Rome."]


def instance(episode_id: str = "i1") -> Episode:
    return Episode(id=episode_id, source="mem_alpha_synthetic", contexts=list(CHUNKS), distractors=[],
                   question="What is E1's city?", answers=["Rome"],
                   questions=[{"question": "What is E1's city?", "answers": ["Rome"]},
                              {"question": "What is E2's job?", "answers": ["nurse"]}])


def settings(tool_format="agemem", tools_in_prompt=False, max_new_tokens=64) -> CollectSettings:
    mem_alpha = MemAlphaConfig(tool_format=tool_format, tools_in_prompt=tools_in_prompt)
    curriculum = CurriculumConfig(tool_format=tool_format, tools_in_prompt=tools_in_prompt)
    rollout = RolloutConfig(temperature=0.0, max_new_tokens=max_new_tokens)
    return CollectSettings(curriculum, MemoryConfig(), rollout, system_prompt="",
                           episode_flow=chunk_stream_flow(mem_alpha, max_new_tokens),
                           tool_schemas=MEM_ALPHA_TOOL_SCHEMAS)


class ScriptedWriter:
    """An engine that stores each chunk as a semantic fact (and, on the last chunk, updates the core): replies
    are tokenised with the real tokenizer, so the collector records them exactly as a model's."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.prompts = []

    def generate(self, prompts, sampling):
        out = []
        for ids in prompts:
            self.prompts.append(list(ids))
            text = self.tokenizer.decode(ids)
            chunk = text.split("<new_chunk>\n")[-1].split("\n</new_chunk>")[0]
            calls = [{"name": "new_memory_insert", "arguments": {"memory_type": "semantic_memory",
                                                                 "content": chunk}}]
            if chunk == CHUNKS[-1]:
                calls.append({"name": "memory_update", "arguments": {"memory_type": "core_memory",
                                                                     "new_content": "Facts about E1 and E2."}})
            reply = f"<tool_call>{json.dumps(calls)}</tool_call>"
            token_ids = self.tokenizer(reply, add_special_tokens=False)["input_ids"]
            out.append(Generation(token_ids, [0.0] * len(token_ids), FINISH_STOP))
        return out

    def load_weights(self, named_tensors):
        pass


def test_one_write_turn_per_chunk_with_the_context_rebuilt_from_memory(tokenizer):
    engine = ScriptedWriter(tokenizer)
    [traj] = collect([instance()], 1, engine, settings(), tokenizer)
    assert [s.round for s in traj.steps] == [0, 1, 2] and all(s.stage == 1 for s in traj.steps)
    assert all(r.ok for s in traj.steps for r in s.tool_results)
    final = traj.memory_final
    assert [m["content"] for m in final["semantic"]] == CHUNKS and final["core"] == "Facts about E1 and E2."
    # Each prompt is exactly the chat template's rendering of [system with the memory so far, the chunk prompt].
    renderer = PromptRenderer(tokenizer, tools_in_prompt=False)
    from agemem.memory.mem_alpha import MemAlphaMemory

    memory = MemAlphaMemory()
    for step, chunk in zip(traj.steps, CHUNKS):
        assert step.prompt_ids == renderer.prompt_ids(write_turn_messages(memory, chunk, "agemem", 64))
        memory.insert("semantic_memory", chunk)
    # Chunk 2's context holds chunk 1 only through the memory: not as a conversation turn.
    second = tokenizer.decode(traj.steps[1].prompt_ids)
    assert second.count("<new_chunk>") == 1 and CHUNKS[0] in second.split("<new_chunk>")[0]


def test_a_malformed_write_turn_is_a_format_error_step_and_the_stream_goes_on(tokenizer, model):
    """The real (untrained) tiny model: whatever it writes is parsed, never raised; every chunk gets its turn and
    the engine's log-probs are recorded for every generated id."""
    engine = HFEngine(model, tokenizer.pad_token_id)
    trajectories = collect([instance("a"), instance("b")], 2, engine, settings(max_new_tokens=16), tokenizer,
                           seed=3)
    assert len(trajectories) == 4 and {t.group_id for t in trajectories} == {"a#0", "b#1"}
    for traj in trajectories:
        assert len(traj.steps) == len(CHUNKS) and traj.memory_final is not None
        for step in traj.steps:
            assert len(step.response_logprobs) == len(step.response_ids) > 0
            assert step.action.kind in ("tool_calls", "answer", "format_error")


def test_tool_schemas_are_rendered_when_asked(tokenizer):
    renderer = PromptRenderer(tokenizer, tools_in_prompt=True, schemas=MEM_ALPHA_TOOL_SCHEMAS)
    text = tokenizer.decode(renderer.prompt_ids([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]))
    if "new_memory_insert" not in text:
        pytest.skip("the tiny model's chat template does not render tool schemas")
    assert "Add_memory" not in text


def test_unknown_tool_format_names_the_key():
    from agemem.memory.mem_alpha import MemAlphaMemory

    with pytest.raises(ValueError, match="mem_alpha.tool_format"):
        write_turn_messages(MemAlphaMemory(), "chunk", "xml", 16)
