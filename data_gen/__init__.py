"""Training and evaluation episodes from real data (HotpotQA, LoCoMo, LongMemEval) and synthetic templates.

`python run.py task=generate data=<source> data.path=<file> out=<dir>` writes episodes.jsonl and stats.json
(agemem.tasks.generate); consumers read them back, validated, with `load_episodes`. Sources: data_gen.sources.
"""

from agemem.records import ABSTAIN_ANSWER, Episode
from data_gen.episode_files import LoadResult, load_episodes, write_episodes
from data_gen.errors import DataError, Rejection

__all__ = ["ABSTAIN_ANSWER", "DataError", "Episode", "LoadResult", "Rejection", "load_episodes", "write_episodes"]
