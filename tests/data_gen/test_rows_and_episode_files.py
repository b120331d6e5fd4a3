"""Reading rows with their line numbers; malformed files fail naming file:line and field; episodes.jsonl
round-trips and is validated on write and on load."""

import json
import logging

import pytest

from data_gen.episode_files import load_episodes, write_episodes
from data_gen.errors import DataError
from data_gen.rows import Record, read_records


def test_rows_of_a_pretty_printed_json_list_know_their_lines(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text(json.dumps([{"a": 1}, {"a": [1, 2]}, {"a": 3}], indent=2))
    lines = path.read_text().splitlines()
    records = read_records(path)
    assert [r.index for r in records] == [0, 1, 2]
    for record in records:
        assert lines[record.line - 1].strip() == "{"
        assert lines[record.line].strip().startswith('"a"')
    assert [r.line for r in records] == [2, 5, 11]


def test_rows_of_json_lines_skip_blank_lines(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n')
    assert [(r.line, r.data["a"]) for r in read_records(path)] == [(1, 1), (3, 2)]


def test_a_one_line_json_list_is_read(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text('[{"a": 1}, {"a": 2}]')
    assert [r.data for r in read_records(path)] == [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize("text,line,field,words", [
    ("", 1, "(file)", "empty file"),
    ("  \n\n", 1, "(file)", "empty file"),
    ("[]", 1, "(file)", "no rows"),
    ('[\n  {"a": 1},\n  {"a": "tru', 3, "[1]", "truncated"),
    ('[\n  {"a": 1}\n', 3, "[1]", "truncated"),
    ('[\n  {"a": 1}\n  {"a": 2}\n]', 3, "[1]", "expected ','"),
    ('{"a": 1}\n{"a": 2\n', 2, "[1]", "truncated"),
    ('{"a": 1}\n[1, 2]\n', 2, "[1]", "expected a JSON object"),
])
def test_malformed_files_name_file_line_and_field(tmp_path, text, line, field, words):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(DataError, match=words) as caught:
        read_records(path)
    assert (caught.value.file, caught.value.line, caught.value.field) == (str(path), line, field)
    assert str(caught.value).startswith(f"{path}:{line}: field {field!r}")


def test_need_checks_presence_and_type():
    record = Record("f.json", 7, 0, {"n": 3, "flag": True, "s": "x"})
    assert record.need(record.data, "n", int, "n") == 3
    with pytest.raises(DataError, match=r"f.json:7: field 'm': missing required field"):
        record.need(record.data, "m", int, "m")
    with pytest.raises(DataError, match=r"field 's': expected an integer, got str"):
        record.need(record.data, "s", int, "s")
    with pytest.raises(DataError, match=r"field 'flag': expected an integer, got bool"):
        record.need(record.data, "flag", int, "flag")


def test_write_then_load_round_trips(tmp_path, make_episode):
    episodes = [make_episode("a"), make_episode("b", metadata={"é": [1, 2]})]
    path = tmp_path / "episodes.jsonl"
    assert write_episodes(path, episodes) == 2
    result = load_episodes(path)
    assert result.episodes == episodes and result.rejections == [] and result.rows == 2


def test_write_rejects_an_invalid_episode_naming_line_and_field(tmp_path, make_episode):
    path = tmp_path / "episodes.jsonl"
    path.write_text("previous content\n")
    with pytest.raises(DataError, match=r"episodes.jsonl:2: field 'answers': empty list"):
        write_episodes(path, [make_episode("a"), make_episode("b", answers=[])])
    assert path.read_text() == "previous content\n"  # the old file is left whole
    assert not (tmp_path / "episodes.jsonl.tmp").exists()


def test_write_rejects_duplicate_ids(tmp_path, make_episode):
    with pytest.raises(DataError, match=r":2: field 'id': duplicate id 'a' \(first on line 1\)"):
        write_episodes(tmp_path / "e.jsonl", [make_episode("a"), make_episode("a")])


def _bad_episodes_file(tmp_path, make_episode):
    good = make_episode("good").to_dict()
    rows = [
        json.dumps(good),
        json.dumps({k: v for k, v in make_episode("no-question").to_dict().items() if k != "question"}),
        json.dumps(make_episode("typed").to_dict() | {"contexts": "not a list"}),
        json.dumps(good),  # duplicate id
        '{"id": "cut", "source": "te',
    ]
    path = tmp_path / "episodes.jsonl"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_strict_load_raises_at_the_first_invalid_row(tmp_path, make_episode):
    path = _bad_episodes_file(tmp_path, make_episode)
    with pytest.raises(DataError, match=rf"{path}:2: field 'question': missing required field"):
        load_episodes(path)


def test_lenient_load_returns_and_logs_every_rejection(tmp_path, make_episode, caplog):
    path = _bad_episodes_file(tmp_path, make_episode)
    with caplog.at_level(logging.INFO, logger="agemem"):
        result = load_episodes(path, strict=False)
    assert [e.id for e in result.episodes] == ["good"]
    assert [(r.line, r.field) for r in result.rejections] == [(2, "question"), (3, "contexts"), (4, "id"), (5, "[4]")]
    assert result.rows == 5
    assert "loaded 1 episodes, rejected 4 rows" in caplog.text and f"{path}:3: field 'contexts'" in caplog.text


def test_a_truncated_line_is_one_rejected_row_in_a_lenient_load(tmp_path, make_episode):
    path = _bad_episodes_file(tmp_path, make_episode)
    result = load_episodes(path, strict=False)
    assert result.rows == 5 and len(result.rejections) == 4
    assert (result.rejections[-1].line, result.rejections[-1].field) == (5, "[4]")
    assert "truncated" in result.rejections[-1].reason


def test_an_empty_episodes_file_is_an_error(tmp_path):
    path = tmp_path / "episodes.jsonl"
    path.write_text("")
    with pytest.raises(DataError, match="empty file"):
        load_episodes(path, strict=False)
