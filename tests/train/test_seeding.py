"""What makes a training run independent of the number of ranks: every trajectory samples from its own seed, so
its rollout does not depend on which other tasks share its generation batch (or its rank)."""

from dataclasses import replace

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from train_runs import TINY

from agemem import PROJECT_ROOT
from agemem.rollout.collector import CollectSettings, collect, trajectory_seed
from agemem.rollout.engine import SamplingParams
from agemem.rollout.hf_engine import HFEngine
from agemem.tasks.config import Config, register_configs
from data_gen.splits import train_val_episodes

register_configs()


@pytest.fixture()
def setting(model, tokenizer):
    with initialize_config_dir(config_dir=str(PROJECT_ROOT / "conf"), version_base=None):
        cfg: Config = OmegaConf.to_object(compose(config_name="config", overrides=TINY))
    episodes, _ = train_val_episodes(cfg.data, cfg.seed)
    settings = CollectSettings(cfg.curriculum, cfg.memory, cfg.rollout)
    return episodes[:3], HFEngine(model, tokenizer.pad_token_id), settings, tokenizer


def steps_of(trajectory):
    return [(s.prompt_ids, s.response_ids) for s in trajectory.steps]


def test_a_trajectory_does_not_depend_on_the_batch_it_is_collected_in(setting):
    episodes, engine, settings, tokenizer = setting
    together = collect(episodes, 2, engine, settings, tokenizer, episode_seeds=[10, 11, 12])
    alone = collect(episodes[1:2], 2, engine, settings, tokenizer, episode_seeds=[11])
    reordered = collect([episodes[2], episodes[1]], 2, engine, settings, tokenizer, episode_seeds=[12, 11])
    assert [steps_of(t) for t in together[2:4]] == [steps_of(t) for t in alone] == \
        [steps_of(t) for t in reordered[2:4]]
    for a, b in zip(together[2:4], alone):
        for sa, sb in zip(a.steps, b.steps):
            assert sa.response_logprobs == pytest.approx(sb.response_logprobs, abs=1e-5)
    # The seed matters, and the K rollouts of a task differ from one another.
    assert steps_of(collect(episodes[1:2], 1, engine, settings, tokenizer, episode_seeds=[99])[0]) != \
        steps_of(alone[0])
    assert steps_of(alone[0]) != steps_of(alone[1])


def test_episode_seeds_must_match_the_episodes(setting):
    episodes, engine, settings, tokenizer = setting
    with pytest.raises(ValueError, match="2 seeds for 3 episodes"):
        collect(episodes, 2, engine, settings, tokenizer, episode_seeds=[1, 2])


def test_trajectory_seeds_are_distinct():
    seeds = {trajectory_seed(e, k, t) for e in range(50) for k in range(8) for t in range(20)}
    assert len(seeds) == 50 * 8 * 20 and all(0 <= s < 2**63 for s in seeds)


@pytest.mark.parametrize("decoder", ["loop", "generate"])
def test_per_prompt_seeds_give_batch_independent_samples(model, tokenizer, decoder):
    engine = HFEngine(model, tokenizer.pad_token_id, decoder=decoder)
    prompts = [tokenizer("alpha beta gamma")["input_ids"], tokenizer("one")["input_ids"],
               tokenizer("a much longer prompt about memory")["input_ids"]]
    sampling = SamplingParams(temperature=1.0, max_new_tokens=10, seeds=(5, 6, 7))
    batch = engine.generate(prompts, sampling)
    for i, prompt in enumerate(prompts):
        single = engine.generate([prompt], replace(sampling, seeds=(sampling.seeds[i],)))[0]
        assert single.token_ids == batch[i].token_ids
        assert single.logprobs == pytest.approx(batch[i].logprobs, abs=1e-5)
    with pytest.raises(ValueError, match="2 seeds for 3 prompts"):
        engine.generate(prompts, replace(sampling, seeds=(1, 2)))
