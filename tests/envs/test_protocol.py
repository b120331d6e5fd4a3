"""The protocol's shared book-keeping and the registry (no benchmark package needed)."""

import sys

import pytest

from agemem.envs import ENV_NAMES, make_env
from agemem.envs.protocol import EpisodeClock, not_started


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid: babyai, pddl, alfworld, scienceworld"):
        make_env("minecraft")
    assert ENV_NAMES == ("babyai", "pddl", "alfworld", "scienceworld")


@pytest.mark.parametrize(("name", "package", "module"), [("pddl", "pddlgym", "agemem.envs.pddl"),
                                                         ("babyai", "minigrid", "agemem.envs.babyai")])
def test_a_missing_package_names_itself_and_the_install(monkeypatch, name, package, module):
    monkeypatch.delitem(sys.modules, module, raising=False)
    for key in [package] + [k for k in sys.modules if k.startswith(package + ".")]:
        monkeypatch.setitem(sys.modules, key, None)  # `import package(.sub)` fails as if it were not installed
    with pytest.raises(ModuleNotFoundError, match=rf"{name!r} needs the package {package!r}.*\.\[envs\]"):
        make_env(name)


def test_clock_ends_at_the_step_limit_and_then_refuses_steps():
    clock = EpisodeClock(step_limit=2)
    clock.tick()
    assert not clock.finish("a", False, 0.0, False, None).done
    clock.tick()
    last = clock.finish("b", False, 0.0, False, None)
    assert last.done and not last.success and "step limit (2)" in last.observation
    with pytest.raises(RuntimeError, match="reset"):
        clock.tick()


def test_clock_progress_is_the_running_maximum_and_success_is_one():
    clock = EpisodeClock(step_limit=10)
    seen = []
    for progress in (0.25, 0.5, 0.0, 0.25):
        clock.tick()
        seen.append(clock.finish("", False, progress, False, None).progress)
    assert seen == [0.25, 0.5, 0.5, 0.5]
    clock.tick()
    final = clock.finish("", True, 0.0, False, None)
    assert final.done and final.success and final.progress == 1.0


def test_stepping_before_reset_raises():
    with pytest.raises(RuntimeError):
        not_started().tick()
