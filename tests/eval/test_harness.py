"""The evaluation harness in process: each agent on a few episodes end to end (tiny model, real collector), the
oracle at the top on the shared HotpotQA dev items, the no-memory flow's budget cut, the per-episode rows, the row
file and the summary, and errors that name the setting at fault."""

import json
from dataclasses import replace

import pytest

from agemem.eval.agents import AGENTS, agent_settings, get_agent, scripted_engine
from agemem.eval.benchmarks import BENCHMARKS, benchmark_episodes, get_benchmark
from agemem.eval.config import BenchmarkConfig
from agemem.eval.episode_metrics import episode_rows
from agemem.eval.harness import eval_settings, evaluate_batch
from agemem.eval.results import append_rows, check_resume_config, format_table, read_rows, summarize
from agemem.memory import MemoryConfig
from agemem.records import FINISH_STOP, Episode, Generation, Trajectory
from agemem.rewards.judges import RuleJudge
from agemem.rollout.collector import CollectSettings, collect
from agemem.rollout.config import RolloutConfig
from agemem.rollout.hf_engine import HFEngine
from agemem.rollout.oracle import OracleEngine
from agemem.tools.schemas import TOOL_NAMES
from data_gen.config import DataConfig
from stages.baselines import NO_TOOLS, material_messages
from stages.config import CurriculumConfig

SYNTHETIC = DataConfig(difficulty=0, num_distractors=1)


def _settings(**curriculum) -> CollectSettings:
    return CollectSettings(CurriculumConfig(**{"context_budget": 1024, "max_rounds": 2, "tools_in_prompt": False,
                                               **curriculum}),
                           MemoryConfig(similarity="lexical", summarizer="extractive"),
                           RolloutConfig(temperature=1.0, max_new_tokens=16))


def _evaluate(name, benchmark, episodes, tokenizer, model=None, samples=0, stage2=False, **curriculum):
    agent = get_agent(name)
    settings = eval_settings(_settings(**curriculum), agent, samples, stage2)
    engine = (scripted_engine(benchmark, tokenizer, episodes, settings.curriculum) if agent.scripted
              else HFEngine(model, tokenizer.pad_token_id))
    rows = evaluate_batch(episodes, engine, settings, tokenizer, samples=samples, seed=0,
                          benchmark=get_benchmark(benchmark), agent=agent, judge=RuleJudge())
    return rows, settings, engine


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_each_agent_runs_synthetic_episodes_end_to_end(name, tokenizer, model):
    episodes = benchmark_episodes(BenchmarkConfig(), SYNTHETIC, 3, seed=0).episodes
    rows, _, _ = _evaluate(name, "synthetic", episodes, tokenizer, model)
    assert [r["id"] for r in rows] == [e.id for e in episodes]
    for row in rows:
        assert 0 <= row["judge"] <= 1 and row["em"] in (0.0, 1.0) and row["model_calls"] >= 1
        assert row["prompt_tokens"] == pytest.approx(row["prompt_tokens_per_call"] * row["model_calls"])
        assert {f"tool_calls/{t}" for t in TOOL_NAMES} <= set(row)
        assert ("memory_quality" in row) == ("joint" in row) == AGENTS[name].memory
    if name == "oracle":  # the scripted expert: every task right, stored, without a format error
        assert all(r["em"] == r["judge"] == r["memory_quality"] == 1.0 and r["format_error_rate"] == 0 for r in rows)
    if name == "no_memory":  # no tool ever runs
        assert all(r["tool_calls/total"] == 0 for r in rows)


def test_oracle_reaches_the_top_on_every_hotpotqa_item(shared_data, tokenizer):
    path = shared_data / "hotpotqa" / "hotpot_dev_distractor_100.jsonl"
    built = benchmark_episodes(BenchmarkConfig(name="hotpotqa"), DataConfig(path=str(path)), 0, seed=0)
    assert len(built.episodes) + len(built.rejections) == built.items == 100  # every item accounted for
    rows, _, _ = _evaluate("oracle", "hotpotqa", built.episodes, tokenizer)
    assert [r["id"] for r in rows] == [e.id for e in built.episodes]
    for row in rows:
        assert row["judge"] == row["em"] == row["f1"] == row["memory_quality"] == row["joint"] == 1.0, row["id"]
        assert row["format_error_rate"] == 0 and row["tool_calls/Add_memory"] >= 1


def test_oracle_scores_locomo_categories_and_longmemeval_by_their_rules(tokenizer):
    talk = ["[8 May 2023] Ann: I adopted a cat named Tom.", "[8 May 2023] Bob: Nice! I run every morning."]
    episodes = [
        Episode("c:qa0", "locomo", talk, [], "What is the cat's name?", ["Tom"], [talk[0]], "single_hop"),
        Episode("c:qa1", "locomo", talk, [], "Who runs, and who has a cat?", ["Bob, Ann"], talk, "multi_hop"),
        Episode("c:qa2", "locomo", talk, [], "What did Ann paint?", ["not mentioned"], [], "adversarial"),
    ]
    rows, _, _ = _evaluate("oracle", "locomo", episodes, tokenizer)
    assert [r["f1"] for r in rows] == [1.0, 1.0, 1.0]
    lme = [Episode("q1", "longmemeval", talk, [], "[2023/05/09] What is my cat called?", ["Tom"], [talk[0]],
                   "single-session-user")]
    rows, _, _ = _evaluate("oracle", "longmemeval", lme, tokenizer)
    assert rows[0]["accuracy"] == 1.0 and "abstention_accuracy" not in rows[0]


def test_oracle_refuses_a_question_whose_gold_it_cannot_tell_apart(tokenizer, make_episode):
    episodes = [make_episode("a"), make_episode("b", answers=["Rome"])]
    with pytest.raises(ValueError, match="different gold answers"):
        _evaluate("oracle", "hotpotqa", episodes, tokenizer)


def test_no_memory_keeps_the_newest_material_that_fits_the_budget(tokenizer, model, make_episode):
    contexts = [f"Fact number {i}: the colour of box {i} is {c}." for i, c in enumerate(["red", "blue"] * 20)]
    episode = make_episode("long", contexts=contexts, distractors=["Noise about box 3."])
    agent = get_agent("no_memory")
    for budget, stage2 in ((300, False), (100_000, True)):
        settings = eval_settings(_settings(context_budget=budget, max_rounds=1), agent, 0, stage2)
        traj = collect([episode], 1, HFEngine(model, tokenizer.pad_token_id), settings, tokenizer)[0]
        prompt = traj.steps[0].prompt_ids
        kept = [m["content"] for m in traj.stm_final if m["role"] == "user"][:-1]
        material = [m["content"] for m in material_messages(episode, 1 if stage2 else 0)]
        assert kept == material[len(material) - len(kept):]  # a suffix: cut from the oldest
        if budget == 300:
            assert 0 < len(kept) < len(contexts) and len(prompt) <= budget
            context = traj.stm_final[:-1]  # what the call saw: system, the kept material, the question
            one_more = [context[0], {"role": "user", "content": material[-len(kept) - 1]}, *context[1:]]
            text = tokenizer.apply_chat_template(one_more, tokenize=False, add_generation_prompt=True)
            assert len(tokenizer(text, add_special_tokens=False)["input_ids"]) > budget  # not cut more than needed
        else:
            assert kept == material and kept[-1].endswith("Noise about box 3.")
        assert traj.ltm_final == [] and [s.stage for s in traj.steps] == [3]


class ScriptedReplies:
    """An engine that replies with the given texts, one per call, in order."""

    def __init__(self, tokenizer, replies):
        self.tokenizer, self.replies = tokenizer, list(replies)

    def generate(self, prompts, sampling):
        out = []
        for _ in prompts:
            ids = self.tokenizer(self.replies.pop(0), add_special_tokens=False)["input_ids"]
            out.append(Generation(ids + [self.tokenizer.eos_token_id], [0.0] * (len(ids) + 1), FINISH_STOP))
        return out


def test_no_memory_runs_no_tool_and_asks_again(tokenizer, make_episode):
    call = '<tool_call>[{"name": "Add_memory", "arguments": {"content": "x"}}]</tool_call>'
    settings = eval_settings(_settings(max_rounds=2), get_agent("no_memory"), 0, False)
    engine = ScriptedReplies(tokenizer, [call, "<answer>Paris</answer>"])
    traj = collect([make_episode()], 1, engine, settings, tokenizer)[0]
    assert traj.answer == "Paris" and len(traj.steps) == 2 and traj.tool_results() == []
    assert {"role": "tool", "content": NO_TOOLS} in traj.stm_final and not traj.rounds_exceeded
    engine = ScriptedReplies(tokenizer, [call, call])
    traj = collect([make_episode()], 1, engine, settings, tokenizer)[0]
    assert traj.answer is None and traj.rounds_exceeded


def test_stage2_shows_distractors_only_when_on(tokenizer, make_episode):
    episode = make_episode(distractors=["Bob likes tea.", "Carol likes coffee."])
    for stage2, shown in ((False, 0), (True, 2)):
        settings = eval_settings(_settings(num_distractors=2), get_agent("oracle"), 0, stage2)
        traj = collect([episode], 1, scripted_engine("hotpotqa", tokenizer, [episode], settings.curriculum),
                       settings, tokenizer)[0]
        assert sum(s.stage == 2 for s in traj.steps) == shown
        assert traj.answer == "Paris"


def test_sampled_rows_average_each_episode_and_do_not_depend_on_the_batch(tokenizer, model):
    episodes = benchmark_episodes(BenchmarkConfig(), SYNTHETIC, 3, seed=0).episodes
    together, _, _ = _evaluate("agemem", "synthetic", episodes, tokenizer, model, samples=2)
    alone, _, _ = _evaluate("agemem", "synthetic", episodes[1:2], tokenizer, model, samples=2)
    assert alone[0]["predictions"] == together[1]["predictions"] and len(together[1]["predictions"]) == 2


def _traj(episode_id, answer, ltm=()):
    return Trajectory(episode_id=episode_id, group_index=0, answer=answer,
                      ltm_final=[{"id": f"m{i}", "content": c} for i, c in enumerate(ltm)])


def test_episode_rows_score_each_rollout_and_average_the_samples(make_episode):
    episode = make_episode("e", answers=["Paris"], supporting_facts=["Alice lives in Paris."])
    trajectories = [_traj("e", "Paris", ["Alice lives in Paris."]), _traj("e", None)]
    [row] = episode_rows([episode], trajectories, 2, BENCHMARKS["hotpotqa"], RuleJudge(), memory=True)
    assert row["predictions"] == ["Paris", None] and row["gold"] == "Paris" and row["category"] == "single_hop"
    assert row["judge"] == row["em"] == row["f1"] == row["memory_quality"] == row["joint"] == row["answered"] == 0.5
    assert row["model_calls"] == 0 and row["format_error_rate"] == 0
    [row] = episode_rows([episode], trajectories[:1], 1, BENCHMARKS["hotpotqa"], RuleJudge(), memory=False)
    assert "memory_quality" not in row and row["judge"] == 1.0
    with pytest.raises(ValueError, match="2 trajectories for 1 episodes × 1 samples"):
        episode_rows([episode], trajectories, 1, BENCHMARKS["hotpotqa"], RuleJudge(), memory=False)


def test_row_file_drops_a_line_cut_short_by_a_kill(tmp_path):
    path = tmp_path / "rows.jsonl"
    append_rows(path, [{"id": "a", "x": 1.0}, {"id": "b", "x": 0.0}])
    with path.open("a") as f:
        f.write('{"id": "c", "x"')
    assert [r["id"] for r in read_rows(path)] == ["a", "b"]
    assert path.read_text().endswith('"x": 0.0}\n')  # the cut line is gone: appending continues cleanly
    path.write_text('{"id": "a"}\nnot json\n{"id": "b"}\n')
    with pytest.raises(ValueError, match=r"rows.jsonl:2: not a JSON row"):
        read_rows(path)


def test_resume_config_mismatch_names_the_field(tmp_path):
    path = tmp_path / "eval_config.json"
    check_resume_config(path, {"agent.name": "agemem", "seed": 0}, has_rows=False)
    check_resume_config(path, {"agent.name": "agemem", "seed": 0}, has_rows=True)
    with pytest.raises(ValueError, match="agent.name='no_memory', but the rows .* agent.name='agemem'"):
        check_resume_config(path, {"agent.name": "no_memory", "seed": 0}, has_rows=True)
    check_resume_config(path, {"agent.name": "no_memory", "seed": 0}, has_rows=False)  # no rows: a fresh start
    assert json.loads(path.read_text())["agent.name"] == "no_memory"


def test_summary_takes_rows_in_episode_order_and_accounts_for_every_episode():
    rows = [{"id": f"e{i}", "category": "ab"[i % 2], "judge": float(i % 3 == 0), "f1": i / 10} for i in range(9)]
    order = [r["id"] for r in rows]
    first = summarize(rows, order, {"agent": "x"})
    assert summarize(rows[::-1], order, {"agent": "x"}) == first  # written in any order, the same summary
    assert first["episodes"] == 9 and first["agent"] == "x"
    overall = first["aggregates"]["overall"]
    assert overall["judge"]["n"] == 9 and overall["judge"]["mean"] == pytest.approx(3 / 9)
    assert set(first["aggregates"]["by_group"]) == {"a", "b"}
    table = format_table(first, ("judge", "f1"))
    assert table.splitlines()[1].startswith("judge") and "judge per category:" in table
    with pytest.raises(ValueError, match=r"missing \['e8'\]"):
        summarize(rows[:8], order, {})
    with pytest.raises(ValueError, match="1 duplicated"):
        summarize([*rows[:8], rows[0]], order, {})


def test_bad_settings_name_the_key(tmp_path):
    with pytest.raises(ValueError, match=r"benchmark.name='hotpot'.*hotpotqa"):
        get_benchmark("hotpot")
    with pytest.raises(ValueError, match=r"agent.name='ragg'.*no_memory"):
        get_agent("ragg")
    with pytest.raises(ValueError, match=r"data.source='locomo' conflicts with benchmark=hotpotqa"):
        benchmark_episodes(BenchmarkConfig(name="hotpotqa", path="x"), DataConfig(source="locomo"), 0, 0)
    with pytest.raises(ValueError, match=r"benchmark=locomo needs an input file: data.path="):
        benchmark_episodes(BenchmarkConfig(name="locomo"), DataConfig(), 0, 0)
    with pytest.raises(FileNotFoundError, match=r"data.path='.*nowhere.json'"):
        benchmark_episodes(BenchmarkConfig(name="locomo"), DataConfig(path=str(tmp_path / "nowhere.json")), 0, 0)
    with pytest.raises(ValueError, match=r"eval.num_episodes=-1"):
        benchmark_episodes(BenchmarkConfig(), SYNTHETIC, -1, 0)
    with pytest.raises(ValueError, match=r"eval.samples=-2"):
        eval_settings(_settings(), get_agent("agemem"), -2, False)


def test_agent_settings_pick_the_flow_prompt_and_tool_schemas():
    base = replace(_settings(), curriculum=CurriculumConfig(tools_in_prompt=True))
    assert agent_settings(AGENTS["no_memory"], base).curriculum.tools_in_prompt is False
    assert agent_settings(AGENTS["agemem"], base).curriculum.tools_in_prompt is True
    assert agent_settings(AGENTS["agemem"], base).episode_flow is AGENTS["agemem"].flow
    assert isinstance(scripted_engine("hotpotqa", None, [], CurriculumConfig()), OracleEngine)


class FixedReplies:
    """A judge backend that replies with one fixed text to every prompt, keeping the prompts."""

    model_id = "fixed"

    def __init__(self, reply):
        self.reply, self.prompts = reply, []

    def complete(self, prompts):
        self.prompts += list(prompts)
        return [self.reply] * len(prompts)


def test_an_llm_judge_scores_j_and_memory_quality_with_the_rubric(make_episode):
    from agemem.rewards.judges import LLMJudge

    backend = FixedReplies("Score: 0.7")
    episode = make_episode("e")
    trajectories = [_traj("e", "Paris", ["Alice lives in Paris."])]
    [row] = episode_rows([episode], trajectories, 1, BENCHMARKS["hotpotqa"], LLMJudge(backend, RuleJudge()), True)
    assert row["judge"] == row["memory_quality"] == 0.7 and row["em"] == 1.0  # EM/F1 stay the official rules
    assert row["joint"] == pytest.approx(0.7)
    assert "Judge whether an agent's answer to a question is correct" in backend.prompts[0][1]
    assert "Expected supporting facts:\n- Alice lives in Paris." in backend.prompts[1][1]
