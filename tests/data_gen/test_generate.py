"""`task=generate`: episodes.jsonl + stats.json, byte-identical for the same seed; errors name file:line:field.
Also the stats summary (data_gen/stats.py)."""

import json
import subprocess
import sys

import pytest

from agemem import PROJECT_ROOT
from agemem.tasks.config import Config
from agemem.tasks.generate import run_generate
from data_gen.config import DataConfig
from data_gen.episode_files import load_episodes
from data_gen.errors import DataError, Rejection
from data_gen.stats import TokenCounter, format_stats, generation_stats


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run.py", "task=generate", *args], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=300, check=False)


def _generate(out, seed=0, **data) -> tuple[bytes, bytes]:
    run_generate(Config(task="generate", seed=seed, out=str(out), data=DataConfig(**data)))
    return (out / "episodes.jsonl").read_bytes(), (out / "stats.json").read_bytes()


def test_generate_from_a_hotpotqa_file_via_the_command_line(tmp_path, fixtures):
    out = tmp_path / "out"
    result = _run("data=hotpotqa", f"data.path={fixtures / 'hotpotqa_small.json'}", f"out={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    episodes = load_episodes(out / "episodes.jsonl").episodes
    assert [e.id for e in episodes] == ["hq-full", "hq-partial", "hq-numeric"]
    stats = json.loads((out / "stats.json").read_text())
    assert (stats["rows_read"], stats["episodes"], stats["rejected"]) == (4, 3, 1)
    assert stats["by_category"] == {"hotpotqa": {"bridge": 2, "comparison": 1}}
    assert stats["rejections"][0]["item_id"] == "hq-nosupport"
    assert stats["tokens"]["stage1_contexts"]["max"] > 0
    assert "rejected rows (1)" in result.stdout
    assert f"wrote 3 episodes to {out / 'episodes.jsonl'}" in result.stdout
    assert str(out / "stats.json") in result.stdout


def test_a_malformed_file_fails_generation_naming_file_line_and_field(tmp_path, fixtures):
    items = json.loads((fixtures / "hotpotqa_small.json").read_text())
    del items[1]["answer"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(items, indent=2))
    lines = path.read_text().splitlines()
    line, nosupport = (next(i for i, text in enumerate(lines) if f'"{key}"' in text) for key in ("hq-partial", "hq-nosupport"))
    with pytest.raises(DataError, match=rf"^{path}:{line}: field 'answer': missing required field$"):
        _generate(tmp_path / "out", source="hotpotqa", path=str(path))
    assert not (tmp_path / "out" / "episodes.jsonl").exists()
    _generate(tmp_path / "lenient", source="hotpotqa", path=str(path), strict=False)
    stats = json.loads((tmp_path / "lenient" / "stats.json").read_text())
    assert [(r["line"], r["field"]) for r in stats["rejections"]] == [(line, "answer"), (nosupport, "supporting_facts")]


def test_same_seed_gives_byte_identical_output(tmp_path, capsys):
    first = _generate(tmp_path / "a", seed=5, size=300, difficulty=3)
    assert first == _generate(tmp_path / "b", seed=5, size=300, difficulty=3)
    assert first[0] != _generate(tmp_path / "c", seed=6, size=300, difficulty=3)[0]
    assert "wrote 300 episodes" in capsys.readouterr().out


def test_split_selection_writes_only_that_split(tmp_path, fixtures):
    _generate(tmp_path, size=200, split="test", test_fraction=0.25)
    episodes = load_episodes(tmp_path / "episodes.jsonl").episodes
    assert 20 < len(episodes) < 80 and {e.metadata["split"] for e in episodes} == {"test"}
    with pytest.raises(ValueError, match="data.split='val' holds none"):
        _generate(tmp_path / "none", size=5, split="val", val_fraction=0.0)


def test_stats_count_per_source_category_split_and_stage(make_episode):
    episodes = [make_episode("a", metadata={"split": "train"}),
                make_episode("b", category="multi_hop", distractors=[], metadata={"split": "test"})]
    rejections = [Rejection("in.json", 9, "answer", "missing required field", "x")]
    count = TokenCounter(lambda texts: [text.split() for text in texts])  # one token per word
    stats = generation_stats(episodes, rejections, rows=3, count=count, chunk_bounds=(1, 10))
    assert (stats["rows_read"], stats["episodes"], stats["rejected"]) == (3, 2, 1)
    assert stats["by_category"] == {"test": {"multi_hop": 1, "single_hop": 1}}
    assert stats["by_split"] == {"test": 1, "train": 1}
    assert stats["tokens"]["stage1_contexts"]["max"] == 4 and stats["tokens"]["stage2_distractors"]["min"] == 0
    assert stats["rejections_by_field"] == {"answer": 1}
    table = format_stats(stats)
    assert "in.json:9: field 'answer': missing required field" in table and "multi_hop" in table
