"""PromptRenderer.count_message: per-message token counts through the tokenizer's own chat template.

For a context that starts with its system message, the counts sum to the rendered context, and the prompt adds the
generation prompt (`generation_tokens()`) on top. On the tiny model (ChatML) the system/user/assistant counts are
exactly the old hand-rendered `<|im_start|>{role}\\n{content}<|im_end|>\\n` ones.
"""

import random

import pytest
from tokenizers import AddedToken

from agemem.models import load_tokenizer
from agemem.rollout.collector import PromptRenderer

CONTENTS = [
    "",
    " ",
    "\n",
    "Alice moved to Paris.",
    "  leading and trailing spaces  ",
    "\nnewlines\n\nin the middle\n",
    "Zoë déménage à Montréal — « vite » ! Ünïcödé ß ø å",
    "東京に引っ越した。北京。서울로 이사했다.",
    "emoji 🙂🚀👩‍👩‍👧 and math ∑∫√ ≤ ≥",
    "עברית ועربية mixed with English",
    '<think>store it</think><tool_call>[{"name": "Add_memory", "arguments": {"content": "Bob is 31."}}]</tool_call>',
    '<tool_call>\n{"name": "Retrieve_memory", "arguments": {"query": "Bob", "top_k": 3}}\n</tool_call>',
    "<answer>Paris</answer>",
    "[retrieved memories]\n- Alice lives in Lyon. (Memory ID: mem_1)\n- Bob is 31. (Memory ID: mem_2)",
    "[format error]\nno <tool_call> or <answer> block",
    "[summary of 3 messages]\nAlice moved to Paris; Bob is 31.",
    "literal chat markup <|im_start|>user\nhi<|im_end|>\n and <|endoftext|>",
    "tabs\tand\r\ncarriage returns",
    "x" * 500,
    "Alice moved to Paris in 2019 and later to Lyon. " * 20,
]


def random_contents(n: int, seed: int = 0) -> list[str]:
    """Seeded random texts over letters, whitespace, punctuation, unicode and the tokenizer's tags."""
    pieces = list("abcdefghijklmnopqrstuvwxyzABC0123456789 \n\t.,;:!?\"'{}[]()<>|/\\-_=+*&^%$#@~`") + [
        "é", "ß", "東", "🙂", "—", "<tool_call>", "</tool_call>", "<think>", "</think>", "<answer>", "</answer>",
        "<tool_response>", "<|im_end|>", "<|im_start|>", "  ", "\n\n",
    ]
    rng = random.Random(seed)
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 60))) for _ in range(n)]


ALL_CONTENTS = CONTENTS + random_contents(120)


def ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def old_chatml_count(tokenizer, message) -> int:
    """The count before issue 15: ChatML rendered by hand."""
    return len(ids(tokenizer, f"<|im_start|>{message['role']}\n{message['content']}<|im_end|>\n"))


def conversations(contents: list[str], n: int, seed: int, tool_runs: bool = False) -> list[list[dict[str, str]]]:
    """Seeded random contexts that start with a system message, as the STM holds them: user inputs, assistant
    replies, tool results after a reply (one at a time unless `tool_runs`)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        messages = [{"role": "system", "content": rng.choice(contents)}]
        for _ in range(rng.randint(0, 8)):
            last = messages[-1]["role"]
            roles = ["user", "assistant"]
            if last == "assistant" or (tool_runs and last == "tool"):
                roles.append("tool")
            messages.append({"role": rng.choice(roles), "content": rng.choice(contents)})
        out.append(messages)
    return out


def rendered_tokens(renderer: PromptRenderer, messages, generation: bool) -> int:
    text = renderer.tokenizer.apply_chat_template(
        messages, tools=renderer.tools, tokenize=False, add_generation_prompt=generation)
    return len(ids(renderer.tokenizer, text))


# ---------------------------------------------------------------- the tiny model's ChatML template


@pytest.mark.parametrize("role", ["system", "user", "assistant"])
def test_tiny_counts_equal_the_old_chatml_formula(tokenizer, role):
    renderer = PromptRenderer(tokenizer, tools_in_prompt=False)
    for content in ALL_CONTENTS:
        message = {"role": role, "content": content}
        assert renderer.count_message(message) == old_chatml_count(tokenizer, message), content


@pytest.mark.parametrize("role", ["user", "assistant"])
def test_tiny_counts_with_tools_in_the_prompt_equal_the_old_formula_outside_the_system_turn(tokenizer, role):
    """The tool schemas sit in the system turn: only the system message's count carries them."""
    renderer = PromptRenderer(tokenizer, tools_in_prompt=True)
    for content in ALL_CONTENTS:
        message = {"role": role, "content": content}
        assert renderer.count_message(message) == old_chatml_count(tokenizer, message), content
    system = {"role": "system", "content": "Manage your memory."}
    assert renderer.count_message(system) == rendered_tokens(renderer, [system], generation=False)
    assert renderer.count_message(system) > old_chatml_count(tokenizer, system)


def test_tiny_tool_messages_count_as_the_template_renders_them(tokenizer):
    """The project's template renders a tool result as a user turn wrapping <tool_response>; the old count
    hand-rendered `<|im_start|>tool\\n…`, which is not what the model sees."""
    renderer = PromptRenderer(tokenizer, tools_in_prompt=False)
    for content in ALL_CONTENTS:
        message = {"role": "tool", "content": content}
        block = f"<|im_start|>user\n<tool_response>\n{content}\n</tool_response><|im_end|>\n"
        assert renderer.count_message(message) == len(ids(tokenizer, block)), content


@pytest.mark.parametrize("tools_in_prompt", [False, True])
def test_tiny_counts_sum_to_the_prompt_length(tokenizer, tools_in_prompt):
    renderer = PromptRenderer(tokenizer, tools_in_prompt=tools_in_prompt)
    assert renderer.generation_tokens() == len(ids(tokenizer, "<|im_start|>assistant\n"))
    for messages in conversations(ALL_CONTENTS, 60, seed=1):
        counted = sum(renderer.count_message(m) for m in messages)
        assert counted == rendered_tokens(renderer, messages, generation=False)
        assert counted + renderer.generation_tokens() == len(renderer.prompt_ids(messages))


def test_tiny_tool_runs_are_over_counted_by_one_turn_frame_per_extra_result(tokenizer):
    """The template merges a run of tool results into one user turn; each is counted as its own turn, so a run
    of n results is over-counted by n-1 times a fixed frame (the budget errs high)."""
    renderer = PromptRenderer(tokenizer, tools_in_prompt=False)
    head = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
            {"role": "assistant", "content": "<tool_call>[]</tool_call>"}]
    two = [*head, {"role": "tool", "content": "a"}, {"role": "tool", "content": "b"}]
    frame = sum(map(renderer.count_message, two)) - rendered_tokens(renderer, two, generation=False)
    assert frame > 0
    rng = random.Random(2)
    for n in range(1, 6):
        messages = [*head, *({"role": "tool", "content": rng.choice(ALL_CONTENTS)} for _ in range(n))]
        counted = sum(renderer.count_message(m) for m in messages)
        assert counted - rendered_tokens(renderer, messages, generation=False) == (n - 1) * frame


# ---------------------------------------------------------------- other templates on the tiny tokenizer

LLAMA3_TEMPLATE = (  # Meta-Llama-3-8B-Instruct's template
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
LLAMA3_SPECIAL = ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]

QWEN_DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."


def qwen_template(chatml: str) -> str:
    """The project's template made Qwen2.5-like: with no system message first, a default one is injected (into
    the tools turn too)."""
    default = QWEN_DEFAULT_SYSTEM
    with_tools = "{%- if messages[0].role == 'system' %}{{- messages[0].content + '\\n\\n' }}{%- endif %}"
    assert with_tools in chatml
    chatml = chatml.replace(with_tools, with_tools.replace(
        "{%- endif %}", "{%- else %}{{- '" + default + "\\n\\n' }}{%- endif %}"))
    plain = "{{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}\n{%- endif %}"
    assert plain in chatml
    return chatml.replace(plain, plain.replace(
        "{%- endif %}", "{%- else %}{{- '<|im_start|>system\\n" + default + "<|im_end|>\\n' }}\n{%- endif %}"))


@pytest.fixture()
def llama_tokenizer(model_cfg):
    """The tiny tokenizer with Llama-3's special tokens and chat template (a fresh copy: it is changed)."""
    tokenizer = load_tokenizer(model_cfg)
    tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in LLAMA3_SPECIAL],
                         special_tokens=True)
    tokenizer.bos_token = "<|begin_of_text|>"
    tokenizer.chat_template = LLAMA3_TEMPLATE
    return tokenizer


@pytest.fixture()
def qwen_tokenizer(model_cfg):
    tokenizer = load_tokenizer(model_cfg)
    tokenizer.chat_template = qwen_template(tokenizer.chat_template)
    return tokenizer


def test_llama3_template_counts_are_its_blocks(llama_tokenizer):
    """Each message counts as its `<|start_header_id|>role<|end_header_id|>\\n\\n{content|trim}<|eot_id|>`
    block; the BOS the template puts before the first message goes to the system message."""
    renderer = PromptRenderer(llama_tokenizer, tools_in_prompt=False)
    assert len(ids(llama_tokenizer, "<|begin_of_text|><|start_header_id|>")) == 2  # really special tokens
    for content in ALL_CONTENTS:
        for role in ("system", "user", "assistant", "tool"):
            block = f"<|start_header_id|>{role}<|end_header_id|>\n\n{content.strip()}<|eot_id|>"
            if role == "system":
                block = "<|begin_of_text|>" + block
            assert renderer.count_message({"role": role, "content": content}) == len(ids(llama_tokenizer, block))
    odd = {"role": "user", "content": "  padded  "}  # the template trims; the old ChatML count did not know it
    assert renderer.count_message(odd) != old_chatml_count(llama_tokenizer, odd)


@pytest.mark.parametrize("tools_in_prompt", [False, True])
def test_llama3_template_counts_sum_to_the_prompt_length(llama_tokenizer, tools_in_prompt):
    renderer = PromptRenderer(llama_tokenizer, tools_in_prompt=tools_in_prompt)
    generation = len(ids(llama_tokenizer, "<|start_header_id|>assistant<|end_header_id|>\n\n"))
    assert renderer.generation_tokens() == generation
    for messages in conversations(ALL_CONTENTS, 60, seed=3, tool_runs=True):  # Llama-3 never merges messages
        counted = sum(renderer.count_message(m) for m in messages)
        assert counted + generation == len(renderer.prompt_ids(messages))


def test_a_template_whose_context_render_is_no_prefix_counts_by_whole_renders(tokenizer, model_cfg):
    """A template that closes the conversation with fixed text (so the reference's render is no prefix of the
    render with the message appended) is counted by the difference of the whole renders' token counts."""
    trailer = load_tokenizer(model_cfg)
    trailer.chat_template = (
        "{% for m in messages %}{{ '<|im_start|>' + m.role + '\n' + m.content + '<|im_end|>\n' }}{% endfor %}"
        "{{ '<|endoftext|>' }}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
    renderer = PromptRenderer(trailer, tools_in_prompt=False)
    for content in ALL_CONTENTS[:40]:
        message = {"role": "user", "content": content}
        assert renderer.count_message(message) == old_chatml_count(trailer, message)
    for messages in conversations(ALL_CONTENTS, 20, seed=5, tool_runs=True):
        counted = sum(renderer.count_message(m) for m in messages)  # the trailer goes to the system message
        assert counted + renderer.generation_tokens() == len(renderer.prompt_ids(messages))


@pytest.mark.parametrize("tools_in_prompt", [False, True])
def test_qwen_default_system_template(qwen_tokenizer, tools_in_prompt):
    """A context with its system message is counted exactly; one without gets the injected default system turn
    on top, and that is exactly the count of the default system message."""
    renderer = PromptRenderer(qwen_tokenizer, tools_in_prompt=tools_in_prompt)
    default = renderer.count_message({"role": "system", "content": QWEN_DEFAULT_SYSTEM})
    for messages in conversations(ALL_CONTENTS, 40, seed=4):
        counted = sum(renderer.count_message(m) for m in messages)
        assert counted + renderer.generation_tokens() == len(renderer.prompt_ids(messages))
        body = messages[1:] or [{"role": "user", "content": "q"}]
        counted = sum(renderer.count_message(m) for m in body)
        assert counted + default + renderer.generation_tokens() == len(renderer.prompt_ids(body))
