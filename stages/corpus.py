"""The protocol's text, for training the tiny model's tokenizer: the system prompts, each stage's inputs, the tool
calls and results an agent exchanges on synthetic tasks, and fact-like sentences. A tokenizer trained on it learns
the protocol's words as single tokens, so a tiny model's sequences stay short (agemem/models/tiny.py trains it;
`agemem.tasks.runtime.prepare_model` passes this corpus in).
"""

import json
import random

from agemem.tools.schemas import TOOL_NAMES, TOOL_SCHEMAS
from data_gen.synthetic import DIFFICULTY, SyntheticSpec, synthetic_episode
from stages.integrated_reasoning import QUESTION_INPUT
from stages.ltm_construction import OFFICIAL_INPUT, PAPER_INPUT
from stages.prompts import SYSTEM_PROMPTS
from stages.stm_control import DISTRACTOR_INPUT
from stages.turn import PROMPT_STYLES, input_text

_WORDS = [
    "the", "a", "an", "of", "in", "on", "at", "to", "from", "with", "by", "for", "and", "or", "is", "was",
    "are", "were", "has", "have", "had", "will", "be", "not", "no", "yes", "what", "who", "where", "when",
    "which", "how", "many", "much", "city", "country", "person", "company", "year", "born", "lives",
    "works", "moved", "founded", "capital", "color", "favourite", "number", "name", "age", "code", "room",
    "team", "project", "friend", "sister", "brother", "mother", "father", "pet", "dog", "cat", "book",
    "movie", "song", "place", "date", "time", "day", "month", "week", "now", "later", "before", "after",
    "first", "second", "third", "last", "new", "old", "memory", "context", "query", "answer", "question",
    "fact", "update", "delete", "add", "retrieve", "summary", "filter", "information", "note", "relevant",
    "irrelevant", "distractor", "rumour", "claim", "previously", "currently", "changed", "actually",
    "instead", "because", "entity", "value", "attribute", "owner", "located", "price", "height", "weight",
    "score", "result", "true", "false", "unknown", "mentioned", "January", "February", "March", "April",
    "May", "June", "July", "August", "September", "October", "November", "December", "Monday", "Sunday"
]


def _turn(role: str, content: str) -> str:
    return f"<|im_start|>{role}\n{content}<|im_end|>\n"


def _tool_turn(content: str) -> str:
    return _turn("user", f"<tool_response>\n{content}\n</tool_response>")


def _call_turn(thought: str, name: str, arguments: dict[str, str]) -> str:
    call = json.dumps([{"name": name, "arguments": arguments}])
    return _turn("assistant", f"<think>{thought}</think><tool_call>{call}</tool_call>")


def task_corpus(seed: int, n_episodes: int = 600) -> list[str]:
    """Chat turns in the shape of synthetic-task trajectories (both prompt styles): the stage inputs, the tool
    calls an agent makes on them and the tool results, so that the BPE learns the protocol's words as tokens
    and a tiny model's sequences stay short."""
    rng = random.Random(seed)
    lines = [_turn("system", prompt) for prompt in SYSTEM_PROMPTS.values()]
    for i in range(n_episodes):
        spec = SyntheticSpec(difficulty=i % len(DIFFICULTY), id_range=(1000, 10000))
        episode, style = synthetic_episode(i, seed, spec), PROMPT_STYLES[i % len(PROMPT_STYLES)]
        lines.append(_turn("user", input_text(OFFICIAL_INPUT, style, content="\n".join(episode.contexts))))
        for j, content in enumerate(episode.contexts):
            lines += [_turn("user", input_text(PAPER_INPUT, style, content=content)),
                      _call_turn("store", "Add_memory", {"content": content}),
                      _tool_turn(f"[memory tool result]\nmemory_added:mem_{j + 1}"),
                      _turn("assistant", "<answer>done</answer>")]
        for content in episode.distractors:
            lines += [_turn("user", input_text(DISTRACTOR_INPUT, style, content=content)),
                      _call_turn("irrelevant", "Filter_context", {"criteria": content.split()[1]}),
                      _tool_turn(f"[context tool result]\nremoved {rng.randint(0, 3)} messages")]
        memories = "\n".join(f"- {c} (Memory ID: mem_{j + 1})" for j, c in enumerate(episode.contexts))
        lines += [_turn("user", input_text(QUESTION_INPUT, style, question=episode.question)),
                  _call_turn("recall", "Retrieve_memory", {"query": episode.question}),
                  _tool_turn(f"[retrieved memories]\n{memories}"),
                  _turn("assistant", f"<think>answer</think><answer>{episode.answers[0]}</answer>")]
    return lines


def tokenizer_corpus(seed: int, n_lines: int = 4000) -> list[str]:
    """Generated training text for the BPE: tool calls, chat turns, fact-like sentences and synthetic-task
    trajectories (`task_corpus`).

    Deterministic in `seed`; every special token and tool name occurs many times.
    """
    rng = random.Random(seed)
    lines = [json.dumps(schema) for schema in TOOL_SCHEMAS] + task_corpus(seed)
    for _ in range(n_lines):
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 12)))
        number = str(rng.randint(0, 99999))
        name = rng.choice(TOOL_NAMES)
        call = json.dumps([{"name": name, "arguments": {"content": words, "memory_id": f"mem_{number}"}}])
        lines.append(
            rng.choice(
                [
                    f"<|im_start|>user\n{words.capitalize()} {number}.<|im_end|>\n",
                    f"<|im_start|>assistant\n<think>{words}</think><tool_call>{call}</tool_call><|im_end|>\n",
                    f"<|im_start|>assistant\n<think>{words}</think><answer>{words} {number}</answer><|im_end|>\n",
                    (f"<|im_start|>user\n<tool_response>\n[memory tool result]\nmemory_added:mem_{number}\n"
                     f"</tool_response><|im_end|>\n"),
                    f"[retrieved memories]\n- {words} {number} (Memory ID: mem_{number})\n",
                    f"<|im_start|>system\n{words}<|im_end|>\n",
                ]
            )
        )
    return lines
