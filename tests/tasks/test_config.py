"""Hydra config: every group composes and every value its YAML sets reaches the typed config (the defaults, each
group option, each experiment preset), every field a preset sets is read by the code, typos fail by name, every
field and YAML key is documented."""

import ast
import dataclasses
import inspect
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from agemem import PROJECT_ROOT
from agemem.tasks.config import Config, register_configs

CONF = PROJECT_ROOT / "conf"
register_configs()


def _groups() -> dict[str, list[str]]:
    return {d.name: sorted(p.stem for p in d.glob("*.yaml")) for d in sorted(CONF.iterdir()) if d.is_dir()}


def _compose(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        return compose(config_name="config", overrides=overrides)


def _flatten(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flatten(f"{prefix}.{key}" if prefix else key, inner))
        return out
    return {prefix: value}


def _file_values(path: Path) -> dict[str, Any]:
    """Every value a conf/ YAML file sets, by its dotted key in the root config: a group file's keys sit under the
    group unless the file says `# @package _global_`. Its defaults list, Hydra's settings and `???` left out."""
    data = {k: v for k, v in OmegaConf.to_container(OmegaConf.load(path)).items() if k not in ("defaults", "hydra")}
    prefix = "" if path.parent == CONF or "# @package _global_" in path.read_text() else path.parent.name
    return {k: v for k, v in _flatten(prefix, data).items() if v != "???"}


def _choices(path: Path) -> dict[str, str]:
    """group → option of a file's defaults list (`group: option` and `override /group: option` entries)."""
    entries = OmegaConf.to_container(OmegaConf.load(path)).get("defaults", [])
    return {key.removeprefix("override ").lstrip("/"): option
            for entry in entries if isinstance(entry, dict) for key, option in entry.items() if option is not None}


def _preset_chain(path: Path) -> list[Path]:
    """An experiment preset and the presets it includes (plain `- <other preset>` entries of its defaults list),
    included ones first: the order Hydra merges them in before the preset's own values (`_self_` last)."""
    entries = OmegaConf.to_container(OmegaConf.load(path)).get("defaults", [])
    included = [path.parent / f"{e}.yaml" for e in entries if isinstance(e, str) and e != "_self_"]
    return [chained for other in included for chained in _preset_chain(other)] + [path]


def _expected(choices: dict[str, str]) -> dict[str, Any]:
    """What composing config.yaml with `group=option` choices must give, written out from the YAML files alone:
    each chosen group file, then config.yaml's own values, then the experiment preset's (its group choices first;
    a preset that includes another takes the other's choices and values first)."""
    root = CONF / "config.yaml"
    chosen = {**_choices(root), **choices}
    presets = _preset_chain(CONF / "experiment" / f"{chosen.pop('experiment')}.yaml") if "experiment" in chosen else []
    for preset in presets:
        chosen.update(_choices(preset))
    expected: dict[str, Any] = {}
    for group, option in chosen.items():
        expected.update(_file_values(CONF / group / f"{option}.yaml"))
    expected.update(_file_values(root))
    for preset in presets:
        expected.update(_file_values(preset))
    return expected


def _typed(choices: dict[str, str]) -> Config:
    """The typed config of `group=option` overrides (a real model's required path filled in)."""
    overrides = [f"{group}={option}" for group, option in choices.items()]
    cfg = _compose(overrides)
    if OmegaConf.is_missing(cfg.model, "path"):
        cfg = _compose([*overrides, "model.path=/models/somewhere"])
    return OmegaConf.to_object(cfg)


def _value(cfg: Config, key: str) -> Any:
    value: Any = cfg
    for part in key.split("."):
        value = getattr(value, part)
    return value


def _assert_yaml_values_reach_the_config(choices: dict[str, str]) -> None:
    cfg = _typed(choices)
    assert isinstance(cfg, Config)
    expected = _expected(choices)
    assert len(expected) > 20
    wrong = [f"{k}: YAML {v!r}, config {_value(cfg, k)!r}" for k, v in expected.items() if _value(cfg, k) != v]
    assert not wrong, "values that did not reach the composed config:\n" + "\n".join(wrong)


def test_default_config_composes_into_the_schema_with_every_yaml_value():
    _assert_yaml_values_reach_the_config({})
    assert _value(_typed({}), "trainer.total_steps") == 3  # the CPU default's own value (config.yaml), spot-checked


@pytest.mark.parametrize("group,option", [(g, o) for g, opts in _groups().items() for o in opts])
def test_every_group_option_composes_with_its_values(group, option):
    _assert_yaml_values_reach_the_config({group: option})


def test_every_experiment_preset_is_checked():
    assert {"agemem_qwen2_5_7b", "agemem_qwen3_4b", "agemem_official_code", "cpu_demo",
            "mem_alpha_cpu_demo"} <= set(_groups()["experiment"])
    # A preset that includes another: the other's group choices and values, then its own.
    demo = _expected({"experiment": "mem_alpha_cpu_demo"})
    assert demo["data.source"] == "mem_alpha_synthetic" and demo["reward.reader"] == "extractive"
    assert demo["task"] == "demo" and demo["data.size"] == 2400
    assert _expected({"experiment": "agemem_qwen3_4b"})["trainer.gradient_checkpointing"] is True


def _attributes_read() -> set[str]:
    """Every attribute name the code reads (`x.name`), in the library, the stages, data_gen and run.py."""
    files = [*PROJECT_ROOT.glob("agemem/**/*.py"), *PROJECT_ROOT.glob("stages/*.py"),
             *PROJECT_ROOT.glob("data_gen/*.py"), PROJECT_ROOT / "run.py"]
    return {node.attr for path in files for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load)}


@pytest.mark.parametrize("preset", _groups()["experiment"])
def test_every_field_a_preset_sets_is_read_by_the_code(preset):
    """A preset value on a field nothing reads would be ignored however well it composes."""
    read = _attributes_read()
    unread = [key for key in _file_values(CONF / "experiment" / f"{preset}.yaml") if key.split(".")[-1] not in read]
    assert not unread, f"{preset} sets fields that no code reads: {unread}"


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
