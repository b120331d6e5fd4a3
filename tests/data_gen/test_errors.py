"""DataError and Rejection name the file, line and field."""

from data_gen.errors import DataError, Rejection


def test_errors_and_rejections_say_file_line_and_field():
    error = DataError("data.jsonl", 12, "qa[3].answer", "missing required field")
    assert str(error) == "data.jsonl:12: field 'qa[3].answer': missing required field"
    assert Rejection.from_error(error, "conv-1").describe() == str(error)
