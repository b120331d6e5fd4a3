"""agemem: train LLM agents that manage their own long- and short-term memory with step-wise GRPO."""

from pathlib import Path

__version__ = "0.1.0"

# The project checkout (editable install); caches such as the tiny model live under it, ignored by git.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
