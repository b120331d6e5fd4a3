"""`python run.py task=report report.inputs=[<run dir>,...] [out=<dir>]`: report.md with the tables, bar plots and
training curves of evaluation and training runs (agemem/eval/report.py)."""

from agemem.eval.report import write_report
from agemem.tasks.config import Config
from agemem.tasks.runtime import output_dir


def run_report(cfg: Config) -> None:
    if not cfg.report.inputs:
        raise ValueError("report.inputs is empty: give the run folders, e.g. report.inputs=[outputs/eval/a,outputs/eval/b]")
    out = output_dir(cfg.out)
    path = write_report(list(cfg.report.inputs), out, cfg.report.file)
    print(path.read_text(encoding="utf-8"))
    print(f"outputs: {out.resolve()}  ({cfg.report.file} and its PNGs)")
