"""Talking to a running OpenAI-compatible endpoint: streamed chat completions and a chat session.

Works with every engine localv4 starts (llama-server, llama-cpp-python, mlx_lm.server) and any
other OpenAI-compatible server. Engines disagree on where reasoning goes (`reasoning_content` in
llama.cpp, `reasoning` in mlx-lm): both arrive here as a `Delta` of kind "reasoning".
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from localv4.errors import RuntimeFailure, UsageError
from localv4.serve.endpoint import Endpoint

_TIMEOUT = httpx.Timeout(connect=5.0, read=600.0, write=30.0, pool=5.0)


@dataclass(frozen=True)
class Delta:
    """A piece of a streamed reply: reasoning (the model thinking) or the answer itself."""

    kind: str  # "reasoning" | "answer"
    text: str


def default_reasoning_modes() -> tuple[str, ...]:
    """The modes of an endpoint whose recipe is unknown here (`chat --url`): the default model's."""
    from localv4.recipes import load_catalog

    return load_catalog().recipe().model.reasoning_modes


def check_thinking(mode: str | None, modes: tuple[str, ...]) -> None:
    """A thinking mode must be one the served model's recipe declares (None: the server's default)."""
    if mode is not None and mode not in modes:
        raise UsageError(f"reasoning must be one of {', '.join(modes) or 'none (this model has none)'}, "
                         f"not '{mode}'.")


def thinking_options(mode: str | None) -> dict[str, Any]:
    """Per-request fields that switch reasoning, in the forms llama.cpp and mlx-lm read.

    None leaves the server's default (set by `localv4 up --reasoning`)."""
    if mode is None:
        return {}
    return {
        "chat_template_kwargs": {"enable_thinking": mode != "off"},
        "reasoning_effort": "none" if mode == "off" else mode,
    }


def new_client() -> httpx.Client:
    return httpx.Client(timeout=_TIMEOUT)


def _http_error(endpoint: Endpoint, response: httpx.Response) -> RuntimeFailure:
    if response.status_code in (401, 403):
        return RuntimeFailure(
            f"the server at {endpoint.v1_url} refused the API key (HTTP {response.status_code})."
        )
    try:
        detail = response.json().get("error", response.text)
        detail = detail.get("message", detail) if isinstance(detail, dict) else detail
    except (ValueError, AttributeError):
        detail = response.text
    detail = " ".join(str(detail).split())[:300]
    return RuntimeFailure(
        f"the server at {endpoint.v1_url} answered HTTP {response.status_code}: {detail}"
    )


@contextlib.contextmanager
def _talking_to(endpoint: Endpoint) -> Iterator[None]:
    """Turn transport failures into one line that says what to do."""
    try:
        yield
    except httpx.ConnectError:
        raise RuntimeFailure(
            f"nothing answers at {endpoint.v1_url}. Start the model with `localv4 up`."
        ) from None
    except httpx.TimeoutException:
        raise RuntimeFailure(
            f"the server at {endpoint.v1_url} stopped answering (timed out). "
            "See `localv4 logs`."
        ) from None
    except (httpx.RemoteProtocolError, httpx.ReadError):
        raise RuntimeFailure(
            f"the server at {endpoint.v1_url} closed the connection mid-reply. "
            "See `localv4 status` and `localv4 logs`."
        ) from None
    except json.JSONDecodeError:
        raise RuntimeFailure(
            f"the server at {endpoint.v1_url} sent a reply that is not OpenAI-compatible JSON."
        ) from None


def _payload(endpoint: Endpoint, body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "model": endpoint.model_id} if endpoint.model_id else body


def complete(client: httpx.Client, endpoint: Endpoint, body: dict[str, Any]) -> dict[str, Any]:
    """POST a chat completion and return the whole response (with its `usage`)."""
    with _talking_to(endpoint):
        response = client.post(
            f"{endpoint.v1_url}/chat/completions",
            json=_payload(endpoint, {**body, "stream": False}), headers=endpoint.headers,
        )
        if response.status_code != 200:
            raise _http_error(endpoint, response)
        return response.json()


def stream_chunks(
    client: httpx.Client, endpoint: Endpoint, body: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """POST a streamed chat completion; yield each server-sent event's JSON object.

    Asks for the usage chunk (`stream_options.include_usage`); not every server sends it."""
    payload = _payload(endpoint, {**body, "stream": True, "stream_options": {"include_usage": True}})
    url = f"{endpoint.v1_url}/chat/completions"
    with _talking_to(endpoint):
        with client.stream("POST", url, json=payload, headers=endpoint.headers) as response:
            if response.status_code != 200:
                response.read()
                raise _http_error(endpoint, response)
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue  # blank separators, ": keepalive" comments
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                chunk = json.loads(data)
                if "error" in chunk:
                    error = chunk["error"]
                    message = error.get("message", error) if isinstance(error, dict) else error
                    raise RuntimeFailure(f"the server stopped the reply: {message}")
                yield chunk


def deltas_of(chunk: dict[str, Any]) -> Iterator[Delta]:
    """The reasoning and answer text in one streamed chunk (either may be absent)."""
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning:
            yield Delta("reasoning", reasoning)
        if delta.get("content"):
            yield Delta("answer", delta["content"])


def first_model_id(client: httpx.Client, endpoint: Endpoint) -> str | None:
    """The first model the server lists, or None when it lists none (mlx_lm.server may not)."""
    try:
        response = client.get(f"{endpoint.v1_url}/models", headers=endpoint.headers)
        models = response.json().get("data") or []
        return models[0]["id"] if response.status_code == 200 and models else None
    except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
        return None


@dataclass
class ChatSession:
    """A conversation with an endpoint: the history, the thinking mode, and one reply at a time.

    Only answers go back into the history, never the reasoning (what DeepSeek and Qwen ask for).
    A reply that fails or is abandoned leaves the history as it was before the question."""

    endpoint: Endpoint
    thinking: str | None = None  # "off" | "high" | "max"; None: the server's default
    max_tokens: int | None = None
    system: str | None = None
    messages: list[dict[str, str]] = field(default_factory=list)
    reasoning_modes: tuple[str, ...] = field(default_factory=default_reasoning_modes)  # the recipe's
    last_usage: dict[str, Any] | None = None
    _client: httpx.Client = field(default_factory=new_client, repr=False, init=False)

    def __post_init__(self) -> None:
        check_thinking(self.thinking, self.reasoning_modes)  # here, not at the first question

    def reset(self) -> None:
        self.messages.clear()

    def set_thinking(self, mode: str | None) -> None:
        check_thinking(mode, self.reasoning_modes)
        self.thinking = mode

    def send(self, text: str) -> Iterator[Delta]:
        """Ask `text`; yield the reply as it streams. The history grows only once it ends."""
        question = {"role": "user", "content": text}
        prefix = [{"role": "system", "content": self.system}] if self.system else []
        body: dict[str, Any] = {
            "messages": [*prefix, *self.messages, question],
            **thinking_options(self.thinking),
        }
        if self.max_tokens:
            body["max_tokens"] = self.max_tokens
        answer: list[str] = []
        self.last_usage = None
        for chunk in stream_chunks(self._client, self.endpoint, body):
            if chunk.get("usage"):
                self.last_usage = chunk["usage"]
            for delta in deltas_of(chunk):
                if delta.kind == "answer":
                    answer.append(delta.text)
                yield delta
        self.messages += [question, {"role": "assistant", "content": "".join(answer)}]

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ChatSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
