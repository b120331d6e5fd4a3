"""Hydra config: every group composes, typos fail by name, every field and YAML key is documented."""

import dataclasses
import inspect
import re
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from agemem import PROJECT_ROOT
from agemem.config import Config, register_configs

CONF = PROJECT_ROOT / "conf"
register_configs()


def _groups() -> dict[str, list[str]]:
    return {d.name: sorted(p.stem for p in d.glob("*.yaml")) for d in sorted(CONF.iterdir()) if d.is_dir()}


def _compose(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        return compose(config_name="config", overrides=overrides)


def test_default_config_composes_into_the_schema():
    cfg = OmegaConf.to_object(_compose([]))
    assert isinstance(cfg, Config)


@pytest.mark.parametrize("group,option", [(g, o) for g, opts in _groups().items() for o in opts])
def test_every_group_option_composes(group, option):
    overrides = [f"{group}={option}"]
    if group == "model" and option != "tiny":
        overrides.append("model.path=/models/somewhere")  # required (???) for real models
    cfg = _compose(overrides)
    OmegaConf.to_object(cfg)  # typed: every key exists in the schema with the right type


def test_mistyped_key_fails_naming_it():
    with pytest.raises(Exception, match="modle"):
        _compose(["modle=tiny"])
    with pytest.raises(Exception, match="temprature"):
        _compose(["rollout.temprature=0.5"])


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run.py", *args], check=False, cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=300)


def test_command_line_typo_exits_nonzero_naming_the_key():
    result = _run("task=smoke", "modle=tiny")
    assert result.returncode != 0
    assert "modle" in result.stderr + result.stdout


def test_unknown_task_is_an_error_listing_the_valid_ones():
    result = _run("task=smok")
    assert result.returncode != 0 and "smoke" in result.stderr


def test_help_lists_groups_and_presets():
    result = _run("--help")
    assert result.returncode == 0
    for group, options in _groups().items():
        if not options:
            continue
        assert re.search(rf"^{group}: .*{options[0]}", result.stdout, flags=re.MULTILINE), group


def test_sweep_runs_every_job(tmp_path):
    result = _run("-m", "seed=1,2", "task=smoke", "smoke.max_new_tokens=4", f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.parent.name for p in tmp_path.glob("*/smoke.json")) == ["0", "1"]


def _config_dataclasses(cls, seen=None) -> set[type]:
    seen = set() if seen is None else seen
    seen.add(cls)
    for f in dataclasses.fields(cls):
        inner = f.default_factory if f.default_factory is not dataclasses.MISSING else None
        if inner is not None and dataclasses.is_dataclass(inner) and inner not in seen:
            _config_dataclasses(inner, seen)
    return seen


def test_every_config_field_has_a_comment():
    missing = []
    for cls in _config_dataclasses(Config):
        lines = inspect.getsource(cls).splitlines()
        for f in dataclasses.fields(cls):
            index = next(i for i, line in enumerate(lines) if re.match(rf"\s+{f.name}\s*:", line))
            if "#" not in lines[index] and not lines[index - 1].strip().startswith("#"):
                missing.append(f"{cls.__name__}.{f.name}")
    assert not missing, f"config fields without a one-line comment: {missing}"


def test_every_yaml_key_has_a_comment():
    missing = []
    for path in sorted(CONF.rglob("*.yaml")):
        lines = path.read_text().splitlines()
        block_indent = None  # inside a `|` block scalar: its lines are text, not keys
        for i, line in enumerate(lines):
            indent = len(line) - len(line.lstrip())
            if block_indent is not None and (not line.strip() or indent > block_indent):
                continue
            block_indent = None
            if re.match(r"\s*[A-Za-z_][\w.]*\s*:", line) and not line.strip().startswith("-"):
                previous = lines[i - 1].strip() if i else ""
                if not (previous.startswith("#") or "#" in line):
                    missing.append(f"{path.relative_to(CONF)}:{i + 1}: {line.strip()}")
                if re.search(r":\s*[|>]-?\s*$", line):
                    block_indent = indent
    assert not missing, "YAML keys without a comment above:\n" + "\n".join(missing)
