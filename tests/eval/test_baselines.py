"""The memory baselines (rag, mem0, amem) and lenient answers: each agent on a few episodes end to end through the
real collector (tiny model, rule and model extraction), what each stores and retrieves, and lenient answers."""

import pytest

from agemem.eval.agents import build_agent, get_agent
from agemem.eval.benchmarks import benchmark_episodes, get_benchmark
from agemem.eval.config import AgentConfig, BenchmarkConfig
from agemem.eval.harness import eval_settings, evaluate_batch
from agemem.memory import MemoryConfig
from agemem.records import Episode, Generation
from agemem.rewards.judges import RuleJudge
from agemem.rollout.collector import CollectSettings, collect
from agemem.rollout.config import RolloutConfig
from agemem.rollout.hf_engine import HFEngine
from data_gen.config import DataConfig
from stages.baselines import jaccard, keywords, split_facts, strip_think
from stages.config import CurriculumConfig

TALK = ["Alice moved to Paris in 2019. She works as a baker.", "Bob lives in Rome. He plays the violin.",
        "Alice moved to Paris in 2020. Her bakery is called Miette."]
EPISODE = Episode("e1", "test", TALK, [], "Where did Alice move?", ["Paris"], [TALK[0]], "single_hop")


class TextEngine:
    """Answers every call with a fixed text (its tokens from the tokenizer); records the prompts it saw."""

    def __init__(self, tokenizer, text):
        self.tokenizer, self.text, self.prompts = tokenizer, text, []

    def generate(self, prompts, sampling):
        self.prompts += [self.tokenizer.decode(p) for p in prompts]
        ids = self.tokenizer(self.text, add_special_tokens=False)["input_ids"]
        return [Generation(list(ids), [0.0] * len(ids), "stop") for _ in prompts]


def _settings():
    return CollectSettings(CurriculumConfig(context_budget=1024, max_rounds=2, tools_in_prompt=False),
                           MemoryConfig(similarity="lexical", summarizer="extractive"),
                           RolloutConfig(temperature=1.0, max_new_tokens=16))


def _run(cfg: AgentConfig, engine, tokenizer, episodes=(EPISODE,), benchmark="synthetic"):
    agent = build_agent(cfg)
    settings = eval_settings(_settings(), agent, 0, False)
    trajectories = collect(list(episodes), 1, engine, settings, tokenizer, seed=0)
    rows = evaluate_batch(list(episodes), engine, settings, tokenizer, samples=0, seed=0,
                          benchmark=get_benchmark(benchmark), agent=agent, judge=RuleJudge())
    return trajectories, rows


@pytest.mark.parametrize("name", ["rag", "mem0", "amem"])
@pytest.mark.parametrize("llm", [False, True])
def test_memory_baselines_run_synthetic_episodes_end_to_end(name, llm, tokenizer, model):
    if llm and name == "rag":
        with pytest.raises(ValueError, match="llm_extraction"):
            build_agent(AgentConfig(name=name, llm_extraction=True))
        return
    episodes = benchmark_episodes(BenchmarkConfig(), DataConfig(difficulty=0, num_distractors=1), 2,
                                  seed=0).episodes
    trajectories, rows = _run(AgentConfig(name=name, llm_extraction=llm), HFEngine(model, tokenizer.pad_token_id),
                              tokenizer, episodes)
    assert [r["id"] for r in rows] == [e.id for e in episodes]
    for traj, row, episode in zip(trajectories, rows, episodes):
        assert traj.ltm_final and 0 <= row["memory_quality"] <= 1 and row["tool_calls/total"] == 0
        stage1 = [s for s in traj.steps if s.stage == 1]
        assert len(stage1) == (len(episode.contexts) if llm else 0)  # one extraction call per message
        assert any(s.stage == 3 for s in traj.steps)
        assert row["model_calls"] == len(traj.steps)


def test_rag_stores_every_message_and_puts_the_top_k_before_the_question(tokenizer):
    engine = TextEngine(tokenizer, "<answer>Paris</answer>")
    (traj,), (row,) = _run(AgentConfig(name="rag", top_k=1), engine, tokenizer)
    assert [e["content"] for e in traj.ltm_final] == TALK
    assert traj.answer == "Paris" and row["judge"] == 1.0 and row["memory_quality"] == 1.0
    assert "Alice moved to Paris in 2019" in engine.prompts[-1] and "violin" not in engine.prompts[-1]


def test_mem0_updates_near_duplicates_and_adds_new_facts(tokenizer):
    assert split_facts("[information]\nAlice moved to Paris in 2019. She works as a baker. Ok.") == [
        "Alice moved to Paris in 2019.", "She works as a baker."]
    assert jaccard("Alice moved to Paris in 2019.", "Alice moved to Paris in 2020.") == pytest.approx(5 / 7)
    (traj,), _ = _run(AgentConfig(name="mem0"), TextEngine(tokenizer, "<answer>Paris</answer>"), tokenizer)
    contents = [e["content"] for e in traj.ltm_final]
    assert "Alice moved to Paris in 2020." in contents and "Alice moved to Paris in 2019." not in contents
    assert len(contents) == 5  # 6 facts, one updated its near-duplicate
    (strict,), _ = _run(AgentConfig(name="mem0", dedup_threshold=0.9), TextEngine(tokenizer, "<answer>x</answer>"),
                        tokenizer)
    assert len(strict.ltm_final) == 6


def test_amem_links_notes_and_retrieves_them_with_their_links(tokenizer):
    assert keywords("Alice moved to Paris. Alice bakes bread in Paris.", 2) == ["alice", "paris"]
    engine = TextEngine(tokenizer, "<answer>Paris</answer>")
    (traj,), _ = _run(AgentConfig(name="amem", top_k=1), engine, tokenizer)
    notes = {e["id"]: e for e in traj.ltm_final}
    first, _, third = traj.ltm_final
    assert first["id"] in third["metadata"]["links"] and third["id"] in first["metadata"]["links"]  # both ways
    assert "alice" in first["metadata"]["keywords"] and len(notes) == 3
    assert "(linked)" in engine.prompts[-1]  # the top note came with its linked note


def test_model_written_notes_and_facts_are_parsed(tokenizer):
    engine = TextEngine(tokenizer, "Keywords: alice, paris\nAlice lives in Paris now.")
    (traj,), _ = _run(AgentConfig(name="amem", llm_extraction=True), engine, tokenizer)
    assert traj.ltm_final[0]["metadata"]["keywords"] == ["alice", "paris"]
    assert "(note: Alice lives in Paris now.)" in traj.ltm_final[0]["content"]
    (facts,), _ = _run(AgentConfig(name="mem0", llm_extraction=True), engine, tokenizer)
    assert [e["content"] for e in facts.ltm_final] == ["Keywords: alice, paris", "Alice lives in Paris now."]


@pytest.mark.parametrize("name", ["agemem", "no_memory", "rag", "mem0", "amem"])
def test_lenient_answers_take_untagged_text_for_any_agent(name, tokenizer):
    text = "<think>the first message</think> Paris"
    (strict,), (strict_row,) = _run(AgentConfig(name=name), TextEngine(tokenizer, text), tokenizer)
    (lenient,), (row,) = _run(AgentConfig(name=name, lenient_answer=True), TextEngine(tokenizer, text), tokenizer)
    assert strict.answer is None and strict_row["judge"] == 0.0
    assert lenient.answer == "Paris" and row["judge"] == 1.0 and row["format_error_rate"] > 0
    (tagged,), _ = _run(AgentConfig(name=name, lenient_answer=True),
                        TextEngine(tokenizer, '<tool_call>[{"name": "x"}]'), tokenizer)
    assert tagged.answer is None  # a broken tool call is not an answer


def test_strip_think_and_agent_errors():
    assert strip_think("<think>a</think> b <|im_end|>") == "b" and strip_think("<think>open") == ""
    with pytest.raises(ValueError, match="top_k"):
        build_agent(AgentConfig(name="rag", top_k=0))
    with pytest.raises(ValueError, match="agent.name"):
        get_agent("mem1")
