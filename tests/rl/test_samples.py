"""Step samples from trajectories, collate's alignment, and micro-batch packing."""

import random
from dataclasses import replace

import pytest
import torch

from agemem.records import Action, Step, Trajectory
from agemem.rl import (
    StepSample,
    broadcast_to_steps,
    build_step_samples,
    collate,
    combine_duplicates,
    count_trainable_steps,
    merge_prefix_chains,
    pack_micro_batches,
    stepwise_advantages,
)


def _step(stage: int, prompt: list[int], response: list[int]) -> Step:
    return Step(
        stage=stage,
        round=0,
        prompt_ids=prompt,
        response_ids=response,
        response_logprobs=[-0.5 - 0.1 * i for i in range(len(response))],
        response_text="",
        finish_reason="stop",
        action=Action(kind="answer", answer="x") if stage == 3 else Action(kind="tool_calls"),
    )


def _trajectories() -> list[Trajectory]:
    first = Trajectory(
        "ep1",
        0,
        steps=[
            _step(1, [1, 2], [3]),
            _step(1, [1, 2, 3], [4, 5]),
            _step(2, [7], [8]),
            _step(3, [7, 9], [10, 11, 12]),
        ],
        reward=1.0,
    )
    # stage 2's second call generated nothing (e.g. no room left in the context): skipped
    second = Trajectory(
        "ep1", 1, steps=[_step(1, [1], [6]), _step(2, [7], []), _step(3, [7, 9], [13])], reward=0.0
    )
    return [first, second]


def test_build_step_samples_broadcasts_the_advantage_to_every_step():
    trajectories = _trajectories()
    steps = count_trainable_steps(trajectories)
    assert steps.tolist() == [4, 2]
    adv = stepwise_advantages(
        torch.tensor([t.reward for t in trajectories]), [t.episode_id for t in trajectories]
    )
    samples = build_step_samples(trajectories, adv)
    assert len(samples) == 6
    assert [s.stage for s in samples] == [1, 1, 2, 3, 1, 3]
    assert [s.group_index for s in samples] == [0, 0, 0, 0, 1, 1]
    assert [s.advantage for s in samples] == pytest.approx(broadcast_to_steps(adv, steps).tolist())
    assert samples[0].advantage > 0 > samples[-1].advantage
    assert samples[3].prompt_ids == [7, 9] and samples[3].response_ids == [10, 11, 12]
    assert samples[3].old_logprobs == pytest.approx([-0.5, -0.6, -0.7])
    assert all(s.episode_id == "ep1" and s.ref_logprobs is None for s in samples)
    samples[0].prompt_ids.append(99)  # samples hold copies, the records stay untouched
    assert trajectories[0].steps[0].prompt_ids == [1, 2]
    assert [s.advantage for s in build_step_samples(trajectories, [0.25, -2.0])] == [0.25] * 4 + [-2.0] * 2


def test_build_step_samples_takes_one_advantage_per_kept_step():
    """Mem-α's per-step GRPO: a list per trajectory, one value for each kept step (the empty step is not kept)."""
    trajectories = _trajectories()
    samples = build_step_samples(trajectories, [[0.1, 0.2, 0.3, 0.4], [-1.0, -2.0]])
    assert [s.advantage for s in samples] == [0.1, 0.2, 0.3, 0.4, -1.0, -2.0]
    assert [s.response_ids for s in samples][-2:] == [[6], [13]]
    with pytest.raises(ValueError, match="3 step advantages for 2 kept steps"):
        build_step_samples(trajectories, [[0.1, 0.2, 0.3, 0.4], [1.0, 2.0, 3.0]])


def test_build_step_samples_rejects_mismatches():
    trajectories = _trajectories()
    with pytest.raises(ValueError, match="2 trajectories"):
        build_step_samples(trajectories, [1.0])
    trajectories[1].steps[0].response_logprobs = []
    with pytest.raises(ValueError, match="log-probs"):
        build_step_samples(trajectories, [1.0, 0.0])


def test_collate_alignment_on_a_tiny_example():
    samples = [
        StepSample([5, 6, 7], [8, 9], [-0.1, -0.2], advantage=1.5, episode_id="a", group_index=0, stage=1),
        StepSample(
            [5], [10, 11, 12], [-1.0, -2.0, -3.0], advantage=-0.5, episode_id="a", group_index=1, stage=3
        ),
    ]
    batch = collate(samples, pad_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7, 8, 9], [5, 10, 11, 12, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]]
    assert batch["labels"].tolist() == [[6, 7, 8, 9, 0], [10, 11, 12, 0, 0]]
    # the mask sits on label positions: the logit at t predicts labels[t] = input_ids[t + 1]
    assert batch["loss_mask"].tolist() == [[0, 0, 1, 1, 0], [1, 1, 1, 0, 0]]
    expected_old = torch.tensor([[0, 0, -0.1, -0.2, 0], [-1.0, -2.0, -3.0, 0, 0]])
    assert torch.equal(batch["old_logprobs"], expected_old)
    assert batch["advantages"].tolist() == [1.5, -0.5]
    assert "ref_logprobs" not in batch
    for b, s in enumerate(samples):
        on = batch["loss_mask"][b].bool()
        assert batch["labels"][b][on].tolist() == s.response_ids
        assert torch.equal(batch["labels"][b, :-1], batch["input_ids"][b, 1:])


def test_collate_ref_logprobs_and_errors():
    a = StepSample([1], [2], [-0.3], 1.0, "a", 0, 1, ref_logprobs=[-0.4])
    b = StepSample([1, 2], [3, 4], [-0.3, -0.2], 1.0, "a", 1, 1, ref_logprobs=[-0.5, -0.6])
    batch = collate([a, b], pad_id=0)
    assert torch.equal(batch["ref_logprobs"], torch.tensor([[-0.4, 0, 0, 0], [0, -0.5, -0.6, 0]]))
    with pytest.raises(ValueError, match="ref_logprobs"):
        collate([a, StepSample([1], [2], [-0.3], 1.0, "a", 0, 1)], pad_id=0)
    with pytest.raises(ValueError, match="prompt"):
        collate([StepSample([], [2], [-0.3], 1.0, "a", 0, 1)], pad_id=0)


def test_pack_micro_batches_by_hand():
    # longest first: 20 (alone: over budget), 8 (8·2 > 10); then the fewest micro-batches with the least padding:
    # 5 alone and 3 + 3 + 2 padded to 3 (9 ≤ 10), rather than 5 + 3 and 3 + 2 (padded to 5 and 3)
    assert pack_micro_batches([5, 3, 8, 2, 20, 3], token_budget=10) == [[4], [2], [0], [1, 5, 3]]
    assert pack_micro_batches([], 10) == []
    with pytest.raises(ValueError):
        pack_micro_batches([1], 0)


@pytest.mark.parametrize("seed", range(5))
def test_pack_micro_batches_fit_and_cover(seed):
    rng = random.Random(seed)
    lengths = [rng.randint(1, 60) for _ in range(rng.randint(1, 50))]
    budget = rng.randint(20, 200)
    batches = pack_micro_batches(lengths, budget)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) == 1 or max(lengths[i] for i in b) * len(b) <= budget
    assert batches == pack_micro_batches(list(lengths), budget)


def _sample(prompt: list[int], response: list[int], episode: str = "ep", k: int = 0, adv: float = 1.0) -> StepSample:
    return StepSample(prompt, response, [-0.1 * t for t in response], adv, episode, k, 1)


def test_merge_prefix_chains_by_hand():
    samples = [
        _sample([1, 2], [3, 4]),
        _sample([1, 2, 3, 4, 9, 9], [5]),  # extends the first: 9 9 is context between the calls
        _sample([1, 2, 7], [8]),  # the context was cut (a filter): a new chain
        _sample([1, 2, 7, 8], [6], k=1),  # same ids, another rollout: never merged across trajectories
    ]
    merged = merge_prefix_chains(samples)
    assert [m.prompt_ids for m in merged] == [[1, 2], [1, 2, 7], [1, 2, 7, 8]]
    first = merged[0]
    assert first.response_ids == [3, 4, 9, 9, 5]
    assert first.loss_mask() == [1, 1, 0, 0, 1]
    assert first.old_logprobs == pytest.approx([-0.3, -0.4, 0.0, 0.0, -0.5])
    batch = collate(merged, pad_id=0)
    assert batch["loss_mask"][0].tolist() == [0, 1, 1, 0, 0, 1, 0]  # on label positions of 3, 4 and 5 only
    assert batch["loss_mask"].sum() == sum(len(s.response_ids) for s in samples)


def test_merged_samples_give_the_same_loss_and_gradient(model, tokenizer):
    """A token-mean loss over merged chains equals the loss over one sample per call, and so does its gradient."""
    from dataclasses import replace as dc_replace

    from agemem.memory.config import MemoryConfig
    from agemem.rl import policy_loss, token_logprobs
    from agemem.rollout.collector import CollectSettings, collect
    from agemem.rollout.config import RolloutConfig
    from agemem.rollout.expert import ExpertEngine
    from data_gen.synthetic import SyntheticSpec, synthetic_episodes
    from stages.config import CurriculumConfig

    settings = CollectSettings(CurriculumConfig(context_budget=2048, max_rounds=2, prompt_style="compact"),
                               MemoryConfig(similarity="lexical", summarizer="extractive"), RolloutConfig())
    demos = collect(synthetic_episodes(4, 0, SyntheticSpec(difficulty=0, num_distractors=1)), 1,
                    ExpertEngine(tokenizer), settings, tokenizer)
    samples = build_step_samples(demos, [0.5, -1.0, 2.0, -0.25])
    rng = random.Random(0)
    samples = [dc_replace(s, old_logprobs=[-rng.random() for _ in s.response_ids]) for s in samples]
    merged = merge_prefix_chains(samples)
    assert len(merged) < len(samples)

    def loss_and_grads(batch_samples):
        model.zero_grad()
        batch = collate(batch_samples, tokenizer.pad_token_id)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss, _ = policy_loss(token_logprobs(logits, batch["labels"]), batch["old_logprobs"],
                              batch["advantages"], batch["loss_mask"], agg="token-mean")
        loss.backward()
        return loss.item(), [p.grad.clone() for p in model.parameters()]

    loss_steps, grads_steps = loss_and_grads(samples)
    loss_merged, grads_merged = loss_and_grads(merged)
    assert loss_merged == pytest.approx(loss_steps, rel=1e-5)
    for a, b in zip(grads_steps, grads_merged):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_combine_duplicates_by_hand():
    samples = [
        _sample([1, 2], [3], adv=0.5),
        _sample([1, 2], [4], adv=0.0),  # no signal: dropped
        _sample([1, 2], [3], k=1, adv=0.25),  # a copy of the first (another rollout): advantages add up
        _sample([5], [6], adv=1.0),
        _sample([5], [6], k=1, adv=-1.0),  # cancels the previous one: dropped
        _sample([1, 2], [3, 4], adv=2.0),
    ]
    combined = combine_duplicates(samples)
    assert [(s.prompt_ids, s.response_ids, s.advantage) for s in combined] == [([1, 2], [3], 0.75),
                                                                             ([1, 2], [3, 4], 2.0)]
    merged_mask = replace(_sample([1], [2, 3]), response_mask=[1, 0])
    assert len(combine_duplicates([merged_mask, _sample([1], [2, 3])])) == 2  # another mask: another sample


def test_combined_duplicates_give_the_same_loss_and_gradient(model, tokenizer):
    """On-policy (ratio 1), copies trained once with summed advantages give the loss and gradient of the copies,
    with the original samples' denominator."""
    from agemem.memory.config import MemoryConfig
    from agemem.rl import loss_denominator, policy_loss, token_logprobs
    from agemem.rollout.collector import CollectSettings, collect
    from agemem.rollout.config import RolloutConfig
    from agemem.rollout.expert import ExpertEngine
    from data_gen.synthetic import SyntheticSpec, synthetic_episodes
    from stages.config import CurriculumConfig

    settings = CollectSettings(CurriculumConfig(context_budget=2048, max_rounds=2, prompt_style="compact"),
                               MemoryConfig(similarity="lexical", summarizer="extractive"), RolloutConfig())
    # The expert is deterministic: its 3 rollouts of a task are copies, with different advantages here.
    demos = collect(synthetic_episodes(2, 0, SyntheticSpec(difficulty=0, num_distractors=1)), 3,
                    ExpertEngine(tokenizer), settings, tokenizer)
    samples = merge_prefix_chains(build_step_samples(demos, [0.5, -1.0, 0.5, 2.0, 0.0, 1.0]))
    with torch.no_grad():  # on-policy old log-probs: the ratio is exactly 1
        batch = collate(samples, tokenizer.pad_token_id)
        logprobs = token_logprobs(model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits,
                                  batch["labels"])
    samples = [replace(s, old_logprobs=_masked_logprobs(logprobs[b], batch["loss_mask"][b], s))
               for b, s in enumerate(samples)]
    combined = combine_duplicates(samples)
    assert len(combined) < len(samples) / 2
    denominator = loss_denominator(collate(samples, tokenizer.pad_token_id)["loss_mask"], "token-mean")

    def loss_and_grads(batch_samples):
        model.zero_grad()
        batch = collate(batch_samples, tokenizer.pad_token_id)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss, _ = policy_loss(token_logprobs(logits, batch["labels"]), batch["old_logprobs"], batch["advantages"],
                              batch["loss_mask"], agg="token-mean", global_denominator=denominator)
        loss.backward()
        return loss.item(), [p.grad.clone() for p in model.parameters()]

    loss_all, grads_all = loss_and_grads(samples)
    loss_combined, grads_combined = loss_and_grads(combined)
    assert loss_combined == pytest.approx(loss_all, rel=1e-4, abs=1e-7)
    for a, b in zip(grads_all, grads_combined):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def _masked_logprobs(row_logprobs: torch.Tensor, row_mask: torch.Tensor, sample: StepSample) -> list[float]:
    """One old log-prob per response id of a merged sample: the model's on trained ids, 0 on context ids."""
    span = slice(len(sample.prompt_ids) - 1, len(sample.prompt_ids) - 1 + len(sample.response_ids))
    return (row_logprobs[span] * row_mask[span]).tolist()


def test_official_step_filter_keeps_stage_relevant_calls_answers_and_the_last_step():
    from agemem.records import ToolCall
    from agemem.rl.samples import kept_steps

    def call(stage: int, *names: str) -> Step:
        return replace(_step(stage, [1], [2]), action=Action(kind="tool_calls",
                                                             tool_calls=[ToolCall(n, {}) for n in names]))

    traj = Trajectory("ep", 0, steps=[
        call(1, "Add_memory"),  # relevant to stage 1: kept
        call(1, "Filter_context"),  # a stage-2 tool in stage 1: dropped
        replace(_step(1, [1], [2]), action=Action(kind="answer", answer="done")),  # an answer: kept
        call(2, "Retrieve_memory"),  # not a stage-2 tool: dropped
        call(2, "Delete_memory", "Summary_context"),  # one relevant call is enough: kept
        replace(_step(2, [1], [2]), action=Action(kind="format_error", error="x")),  # dropped
        call(3, "Retrieve_memory"),  # kept
        call(3, "Add_memory"),  # not a stage-3 tool, but the last step: kept
    ])
    assert [i for i, _ in kept_steps(traj, "official")] == [0, 2, 4, 6, 7]
    assert [i for i, _ in kept_steps(traj, "all")] == list(range(8))
    assert count_trainable_steps([traj], "official").tolist() == [5]
    assert [s.stage for s in build_step_samples([traj], [1.0], "official")] == [1, 1, 2, 3, 3]
    with pytest.raises(ValueError, match=r"algorithm.step_filter='paper'.*\['all', 'official'\]"):
        kept_steps(traj, "paper")
