"""What agents need from the endpoint, checked with the real SDKs against the tiny V4 on the
native llama-server (real `deepseek4` architecture and V4 chat template, random weights).

A random model never chooses to open a tool call by itself, and V4's grammar lets text come
before a call even under `tool_choice: "required"` (measured: 48 tokens of text, no call). So
these tests open the call with an assistant prefill of the DSML opener; from there the grammar
forces the rest (the tool's name, its arguments, the closing tags) and the engine's DSML parser
must turn it into the API's own tool-call objects. Replies are gibberish: assertions are on
structure only.
"""

from __future__ import annotations

import json

import pytest

from support.tiny_v4 import SERVED
from support.tiny_v4_endpoint import metrics, tiny_v4_server  # noqa: F401  (fixture)

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")

DSML_OPENER = '<｜DSML｜tool_calls>\n<｜DSML｜invoke name="'
TOOL = {"type": "function", "function": {
    "name": "list_files", "description": "List the files in the project",
    "parameters": {"type": "object", "properties": {}}}}
CALL_BUDGET = 160  # tokens: the forced call is about 60 byte-level tokens of the tiny vocabulary
ASK = [{"role": "user", "content": "Which files are there?"}]


def _openai(server):
    return openai.OpenAI(base_url=server.endpoint, api_key="not-needed", max_retries=0, timeout=900)


@pytest.mark.engine
def test_a_required_tool_call_comes_back_parsed_full_and_streamed_and_a_result_continues(tiny_v4_server):
    client = _openai(tiny_v4_server)
    messages = [*ASK, {"role": "assistant", "content": DSML_OPENER}]
    reply = client.chat.completions.create(model=SERVED, messages=messages, tools=[TOOL],
                                           tool_choice="required", parallel_tool_calls=False,
                                           max_tokens=CALL_BUDGET)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    [call] = choice.message.tool_calls
    assert call.function.name == "list_files" and json.loads(call.function.arguments) == {}
    assert "DSML" not in (choice.message.content or "")

    chunks = list(client.chat.completions.create(model=SERVED, messages=messages, tools=[TOOL],
                                                 tool_choice="required", parallel_tool_calls=False,
                                                 max_tokens=CALL_BUDGET, stream=True))
    deltas = [d for c in chunks if c.choices for d in (c.choices[0].delta.tool_calls or [])]
    assert deltas and deltas[0].function.name == "list_files" and deltas[0].id
    assert json.loads("".join(d.function.arguments or "" for d in deltas)) == {}
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]
    assert not any("DSML" in (c.choices[0].delta.content or "") for c in chunks if c.choices)

    after = client.chat.completions.create(model=SERVED, max_tokens=4, tools=[TOOL], messages=[
        *ASK,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump(exclude_none=True)]},
        {"role": "tool", "tool_call_id": call.id, "content": "README.md\nsetup.py"},
    ])
    assert after.choices[0].message.role == "assistant" and after.usage.completion_tokens > 0


@pytest.mark.engine
def test_anthropic_messages_and_the_responses_api_on_the_same_port_and_model_id(tiny_v4_server):
    before = metrics(tiny_v4_server)
    client = anthropic.Anthropic(base_url=tiny_v4_server.base_url, api_key="not-needed", max_retries=0,
                                 timeout=900)
    message = client.messages.create(
        model=SERVED, max_tokens=CALL_BUDGET, tool_choice={"type": "any", "disable_parallel_tool_use": True},
        messages=[*ASK, {"role": "assistant", "content": DSML_OPENER}],
        tools=[{"name": "list_files", "description": "List the files in the project",
                "input_schema": {"type": "object", "properties": {}}}])
    uses = [b for b in message.content if b.type == "tool_use"]
    # The pinned llama-server's Anthropic route drops `disable_parallel_tool_use` (its
    # server_chat_convert_anthropic_to_oai maps only the choice's type), so the grammar may let
    # the random model call the tool more than once; each call must still come back parsed.
    assert message.stop_reason == "tool_use" and uses and {u.name for u in uses} == {"list_files"}
    assert all(u.input == {} and u.id for u in uses) and len({u.id for u in uses}) == len(uses)
    assert not any("DSML" in getattr(b, "text", "") for b in message.content)

    response = _openai(tiny_v4_server).responses.create(model=SERVED, input="Say hi.", max_output_tokens=4)
    assert response.status in ("completed", "incomplete") and response.model == SERVED
    assert response.output and response.output[-1].type == "message"
    assert metrics(tiny_v4_server)["tokens_predicted_total"] > before.get("tokens_predicted_total", 0)


@pytest.mark.engine
def test_reasoning_comes_back_where_each_api_puts_it(tiny_v4_server):
    """Thinking switched on per request (the test recipe serves it off): chat puts it in
    `reasoning_content`, Anthropic in a thinking block, Responses in a reasoning item, never
    in the answer's text. 12 tokens are all still thinking."""
    on = {"chat_template_kwargs": {"enable_thinking": True}}
    hi = [{"role": "user", "content": "Hi"}]
    client = _openai(tiny_v4_server)
    message = client.chat.completions.create(model=SERVED, messages=hi, max_tokens=12, extra_body=on).choices[0].message
    assert (message.model_extra or {}).get("reasoning_content") and not message.content

    blocks = anthropic.Anthropic(base_url=tiny_v4_server.base_url, api_key="not-needed", max_retries=0,
                                 timeout=900).messages.create(model=SERVED, max_tokens=12, messages=hi,
                                                              extra_body=on).content
    assert [b.type for b in blocks] == ["thinking"] and blocks[0].thinking

    output = client.responses.create(model=SERVED, input="Hi", max_output_tokens=12, extra_body=on).output
    assert [item.type for item in output] == ["reasoning"] and output[0].content[0].text
