"""What agents need from the endpoint, checked with the real SDKs against the tiny V4 (real
`deepseek4` architecture and V4 chat template, random weights) on both llama.cpp engines: the
native llama-server and the prebuilt xllamacpp wheel (a newer llama.cpp build, so its own parsers).

A random model never chooses to open a tool call by itself, and V4's grammar lets text come
before a call even under `tool_choice: "required"` (measured: 48 tokens of text, no call). So
these tests open the call with an assistant prefill of the DSML opener; from there the grammar
forces the rest (the tool's name, its arguments, the closing tags) and the engine's DSML parser
must turn it into the API's own tool-call objects. Replies are gibberish: assertions are on
structure only.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.tiny_v4 import SERVED
from support.tiny_v4_endpoint import (keyed_tiny_v4_server, llama_engine, metrics, on_both_engines,  # noqa: F401
                                      tiny_v4_server)

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")

DSML_OPENER = '<｜DSML｜tool_calls>\n<｜DSML｜invoke name="'
TOOL = {"type": "function", "function": {
    "name": "list_files", "description": "List the files in the project",
    "parameters": {"type": "object", "properties": {}}}}
CALL_BUDGET = 160  # tokens: the forced call is about 60 byte-level tokens of the tiny vocabulary
ASK = [{"role": "user", "content": "Which files are there?"}]
RESULT = "README.md\nsetup.py"  # what the tool "returned"
ANTHROPIC_TOOL = {"name": TOOL["function"]["name"], "description": TOOL["function"]["description"],
                  "input_schema": TOOL["function"]["parameters"]}
# The Anthropic request that must come back as a call: the opener prefilled, any tool, one call asked.
# Greedy (the recipe samples at temperature 1.0): a sampled run of the random model once made more
# calls than CALL_BUDGET holds, and a test must get the same reply every time. The anthropic SDK
# installed here has no `temperature` argument, so it goes in the body as the Messages API has it.
ANTHROPIC_CALL = {"model": SERVED, "max_tokens": CALL_BUDGET, "tools": [ANTHROPIC_TOOL],
                  "extra_body": {"temperature": 0}, "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
                  "messages": [*ASK, {"role": "assistant", "content": DSML_OPENER}]}
RESPONSES_TOOL = {"type": "function", **TOOL["function"]}


def _openai(server, key: str = "not-needed"):
    return openai.OpenAI(base_url=server.endpoint, api_key=key, max_retries=0, timeout=900)


def _anthropic(server, **auth):
    """The Anthropic SDK at the endpoint's root; `auth`: api_key= (sent as `x-api-key`) or
    auth_token= (sent as `Authorization: Bearer`, as `launch claude`'s ANTHROPIC_AUTH_TOKEN is)."""
    return anthropic.Anthropic(base_url=server.base_url, max_retries=0, timeout=900,
                               **(auth or {"api_key": "not-needed"}))


def _tool_uses(message) -> list:
    """The message's tool_use blocks, each parsed: list_files, input {}, its own id, no DSML text.
    The pinned llama-server's Anthropic route drops `disable_parallel_tool_use` (its
    server_chat_convert_anthropic_to_oai maps only the choice's type), so the grammar may let the
    random model call the tool more than once; each call must still come back parsed."""
    uses = [b for b in message.content if b.type == "tool_use"]
    assert message.stop_reason == "tool_use" and uses and {u.name for u in uses} == {"list_files"}, message
    assert all(u.input == {} and u.id for u in uses) and len({u.id for u in uses}) == len(uses)
    assert not any("DSML" in getattr(b, "text", "") for b in message.content)
    return uses


@pytest.mark.engine
@on_both_engines
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

    # A new client: not the connection the stream was read on (test_an_anthropic_tool_use_streams...).
    after = _openai(tiny_v4_server).chat.completions.create(model=SERVED, max_tokens=4, tools=[TOOL], messages=[
        *ASK,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump(exclude_none=True)]},
        {"role": "tool", "tool_call_id": call.id, "content": RESULT},
    ])
    assert after.choices[0].message.role == "assistant" and after.usage.completion_tokens > 0


@pytest.mark.engine  # native only: the streamed Anthropic and the Responses tests cover both on the prebuilt engine
def test_anthropic_messages_and_the_responses_api_on_the_same_port_and_model_id(tiny_v4_server):
    before = metrics(tiny_v4_server)
    _tool_uses(_anthropic(tiny_v4_server).messages.create(**ANTHROPIC_CALL))

    response = _openai(tiny_v4_server).responses.create(model=SERVED, input="Say hi.", max_output_tokens=4)
    assert response.status in ("completed", "incomplete") and response.model == SERVED
    assert response.output and response.output[-1].type == "message"
    assert metrics(tiny_v4_server)["tokens_predicted_total"] > before.get("tokens_predicted_total", 0)


@pytest.mark.engine
@on_both_engines
def test_reasoning_comes_back_where_each_api_puts_it(tiny_v4_server):
    """Thinking switched on per request (the test recipe serves it off): chat puts it in
    `reasoning_content`, Anthropic in a thinking block, Responses in a reasoning item, never
    in the answer's text. 12 tokens are all still thinking."""
    on = {"chat_template_kwargs": {"enable_thinking": True}}
    hi = [{"role": "user", "content": "Hi"}]
    client = _openai(tiny_v4_server)
    message = client.chat.completions.create(model=SERVED, messages=hi, max_tokens=12, extra_body=on).choices[0].message
    assert (message.model_extra or {}).get("reasoning_content") and not message.content

    blocks = _anthropic(tiny_v4_server).messages.create(model=SERVED, max_tokens=12, messages=hi,
                                                        extra_body=on).content
    assert [b.type for b in blocks] == ["thinking"] and blocks[0].thinking

    output = client.responses.create(model=SERVED, input="Hi", max_output_tokens=12, extra_body=on).output
    assert [item.type for item in output] == ["reasoning"] and output[0].content[0].text


@pytest.mark.engine
@on_both_engines
def test_an_anthropic_tool_use_streams_parsed_and_a_tool_result_continues(tiny_v4_server):
    """Streamed as Claude Code reads it: a tool_use block whose input_json deltas assemble to {},
    never the DSML in a text delta; then each tool_use answered by a tool_result continues."""
    client = _anthropic(tiny_v4_server)
    with client.messages.stream(**ANTHROPIC_CALL) as stream:
        events = list(stream)
        uses = _tool_uses(stream.get_final_message())
    started = [e.content_block for e in events if e.type == "content_block_start"]
    assert [b.id for b in started if b.type == "tool_use"] == [u.id for u in uses]
    deltas = [e.delta for e in events if e.type == "content_block_delta"]
    assert not any("DSML" in d.text for d in deltas if d.type == "text_delta")

    # A new client: the pinned llama-server can drop the connection a stream was read on, and the
    # SDK (no retries here) reused it for the next request, which never reached the engine (its log
    # showed no task for it; 1 run in 3 on a busy machine). Agents retry on such errors by default.
    after = _anthropic(tiny_v4_server).messages.create(
        model=SERVED, max_tokens=4, tools=[ANTHROPIC_TOOL], extra_body={"temperature": 0}, messages=[
        *ASK,
        {"role": "assistant", "content": [{"type": "tool_use", "id": u.id, "name": u.name, "input": u.input}
                                          for u in uses]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": u.id, "content": RESULT}
                                     for u in uses]},
    ])
    assert after.role == "assistant" and after.usage.output_tokens > 0


@pytest.mark.engine
@on_both_engines
def test_a_responses_function_call_comes_back_parsed_full_and_streamed_and_its_output_continues(tiny_v4_server):
    """The pinned llama-server turns a Responses request into a chat completion
    (server_chat_convert_responses_to_chatcmpl): an assistant `message` item in `input` is the
    prefill, and the parsed call comes back as a `function_call` item. It keeps no conversations:
    `previous_response_id` is refused (server-chat.cpp, first lines of that function), so the
    call and its output go back in `input` with the rest of the conversation."""
    client = _openai(tiny_v4_server)
    request = {"model": SERVED, "tools": [RESPONSES_TOOL], "tool_choice": "required", "parallel_tool_calls": False,
               "max_output_tokens": CALL_BUDGET, "temperature": 0,
               "input": [*ASK, {"type": "message", "role": "assistant", "content": DSML_OPENER}]}
    response = client.responses.create(**request)
    assert [item.type for item in response.output] == ["function_call"], response.output
    [call] = response.output
    assert call.name == "list_files" and json.loads(call.arguments) == {} and call.call_id

    events = list(client.responses.create(**request, stream=True))
    added = [e.item for e in events if e.type == "response.output_item.added"]
    assert [(item.type, item.name) for item in added] == [("function_call", "list_files")]
    arguments = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert json.loads(arguments) == {}
    [done] = [e.response for e in events if e.type == "response.completed"]
    assert [item.type for item in done.output] == ["function_call"]
    assert not any("DSML" in e.delta for e in events if e.type == "response.output_text.delta")

    fresh = _openai(tiny_v4_server)  # a new client, as above: not the connection the stream was read on
    after = fresh.responses.create(
        model=SERVED, tools=[RESPONSES_TOOL], max_output_tokens=4, temperature=0, input=[
        *ASK,
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": RESULT},
    ])
    assert after.model == SERVED and after.usage.output_tokens > 0
    assert after.output and all(item.type == "message" and item.role == "assistant" for item in after.output)
    with pytest.raises(openai.BadRequestError, match="previous_response_id"):
        fresh.responses.create(model=SERVED, previous_response_id=response.id, max_output_tokens=1, input=[
            {"type": "function_call_output", "call_id": call.call_id, "output": RESULT}])


@pytest.mark.engine
@on_both_engines
def test_the_key_opens_chat_completions_anthropic_messages_and_responses_and_nothing_else_does(
        keyed_tiny_v4_server):
    """`up --host` beyond loopback makes one key; llama-server takes it as `Authorization: Bearer`
    (the OpenAI SDK, and Claude Code through `launch claude`'s ANTHROPIC_AUTH_TOKEN) or as
    Anthropic's `x-api-key` (server-http.cpp reads the latter when the former is absent)."""
    import httpx

    server = keyed_tiny_v4_server
    key = Path(server.api_key_file).read_text(encoding="utf-8").strip()
    assert key
    one_token = {"model": SERVED, "messages": ASK, "max_tokens": 1}
    assert _openai(server, key).chat.completions.create(**one_token).usage.completion_tokens > 0
    assert _openai(server, key).responses.create(model=SERVED, input="Hi", max_output_tokens=1).usage.output_tokens > 0
    for auth in ({"api_key": key}, {"auth_token": key}):
        assert _anthropic(server, **auth).messages.create(**one_token).usage.output_tokens > 0

    bodies = {"/v1/chat/completions": one_token, "/v1/messages": one_token,
              "/v1/responses": {"model": SERVED, "input": "Hi", "max_output_tokens": 1}}
    for path, body in bodies.items():
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"x-api-key": "wrong"}):
            reply = httpx.post(server.base_url + path, json=body, headers=headers, timeout=60)
            assert reply.status_code == 401, (path, headers.keys(), reply.status_code)
