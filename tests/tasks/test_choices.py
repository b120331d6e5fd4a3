"""Every choice option is validated at start-up, and the trainer refuses sampling it cannot train on."""

import dataclasses

import pytest

from agemem.rollout.config import RolloutConfig
from agemem.tasks.config import Config, check_choices, choice_fields
from agemem.train.setup import check_training_sampling


def _with(cfg: Config, key: str, value: object) -> Config:
    *path, last = key.split(".")
    if not path:
        return dataclasses.replace(cfg, **{last: value})
    head, rest = path[0], ".".join([*path[1:], last])
    return dataclasses.replace(cfg, **{head: _with(getattr(cfg, head), rest, value)})


def test_the_defaults_are_valid_choices():
    check_choices(Config())


@pytest.mark.parametrize("key", sorted(choice_fields()))
def test_a_wrong_choice_names_its_key_and_the_valid_values(key):
    valid = choice_fields()[key]
    with pytest.raises(ValueError) as error:
        check_choices(_with(Config(), key, "no-such-option"))
    assert str(error.value) == f"{key}='no-such-option': must be one of {list(valid)}"


def test_the_old_logprobs_choices():
    assert choice_fields()["algorithm.old_logprobs"] == ("engine", "recompute")
    check_choices(_with(Config(), "algorithm.old_logprobs", "recompute"))


def test_training_refuses_greedy_and_truncated_sampling():
    check_training_sampling(RolloutConfig(temperature=0.6))
    with pytest.raises(ValueError, match=r"rollout.temperature=0.0: greedy decoding is for evaluation"):
        check_training_sampling(RolloutConfig(temperature=0.0))
    with pytest.raises(ValueError, match=r"rollout.top_p=0.9, rollout.top_k=0: truncated sampling"):
        check_training_sampling(RolloutConfig(top_p=0.9))
    with pytest.raises(ValueError, match=r"rollout.top_k=50"):
        check_training_sampling(RolloutConfig(top_k=50))
