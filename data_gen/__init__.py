"""Training and evaluation episodes from real data (HotpotQA, LoCoMo, LongMemEval) and synthetic templates."""

from data_gen.schema import Episode

__all__ = ["Episode"]
