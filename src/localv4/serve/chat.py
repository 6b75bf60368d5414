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

THINKING_MODES = ("off", "high", "max")  # the recipe's reasoning modes, as `up --reasoning` takes them
_EFFORT = {"off": "none", "high": "high", "max": "max"}
_TIMEOUT = httpx.Timeout(connect=5.0, read=600.0, write=30.0, pool=5.0)


@dataclass(frozen=True)
class Endpoint:
    """Where to send requests: base URL ending in /v1, the model id (None: the server's only
    model), and the API key (None: the server needs none)."""

    base_url: str
    model: str | None = None
    api_key: str | None = field(default=None, repr=False)

    @classmethod
    def at(cls, url: str, model: str | None = None, api_key: str | None = None) -> Endpoint:
        """Accepts `http://host:port` or `http://host:port/v1`."""
        url = url.rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"'{url}' is not an http:// or https:// URL.")
        return cls(url if url.endswith("/v1") else f"{url}/v1", model, api_key)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


@dataclass(frozen=True)
class Delta:
    """A piece of a streamed reply: reasoning (the model thinking) or the answer itself."""

    kind: str  # "reasoning" | "answer"
    text: str


def thinking_options(mode: str | None) -> dict[str, Any]:
    """Per-request fields that switch reasoning, in the forms llama.cpp and mlx-lm read.

    None leaves the server's default (set by `localv4 up --reasoning`)."""
    if mode is None:
        return {}
    if mode not in THINKING_MODES:
        raise UsageError(f"reasoning must be one of {', '.join(THINKING_MODES)}, not '{mode}'.")
    return {
        "chat_template_kwargs": {"enable_thinking": mode != "off"},
        "reasoning_effort": _EFFORT[mode],
    }


def new_client() -> httpx.Client:
    return httpx.Client(timeout=_TIMEOUT)


def _http_error(endpoint: Endpoint, response: httpx.Response) -> RuntimeFailure:
    if response.status_code in (401, 403):
        return RuntimeFailure(
            f"the server at {endpoint.base_url} refused the API key (HTTP {response.status_code})."
        )
    try:
        detail = response.json().get("error", response.text)
        detail = detail.get("message", detail) if isinstance(detail, dict) else detail
    except (ValueError, AttributeError):
        detail = response.text
    detail = " ".join(str(detail).split())[:300]
    return RuntimeFailure(
        f"the server at {endpoint.base_url} answered HTTP {response.status_code}: {detail}"
    )


@contextlib.contextmanager
def _talking_to(endpoint: Endpoint) -> Iterator[None]:
    """Turn transport failures into one line that says what to do."""
    try:
        yield
    except httpx.ConnectError:
        raise RuntimeFailure(
            f"nothing answers at {endpoint.base_url}. Start the model with `localv4 up`."
        ) from None
    except httpx.TimeoutException:
        raise RuntimeFailure(
            f"the server at {endpoint.base_url} stopped answering (timed out). "
            "See `localv4 logs`."
        ) from None
    except (httpx.RemoteProtocolError, httpx.ReadError):
        raise RuntimeFailure(
            f"the server at {endpoint.base_url} closed the connection mid-reply. "
            "See `localv4 status` and `localv4 logs`."
        ) from None
    except json.JSONDecodeError:
        raise RuntimeFailure(
            f"the server at {endpoint.base_url} sent a reply that is not OpenAI-compatible JSON."
        ) from None


def _payload(endpoint: Endpoint, body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "model": endpoint.model} if endpoint.model else body


def complete(client: httpx.Client, endpoint: Endpoint, body: dict[str, Any]) -> dict[str, Any]:
    """POST a chat completion and return the whole response (with its `usage`)."""
    with _talking_to(endpoint):
        response = client.post(
            f"{endpoint.base_url}/chat/completions",
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
    url = f"{endpoint.base_url}/chat/completions"
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
        response = client.get(f"{endpoint.base_url}/models", headers=endpoint.headers)
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
    last_usage: dict[str, Any] | None = None
    _client: httpx.Client = field(default_factory=new_client, repr=False, init=False)

    def __post_init__(self) -> None:
        thinking_options(self.thinking)  # a bad mode fails here, not at the first question

    def reset(self) -> None:
        self.messages.clear()

    def set_thinking(self, mode: str | None) -> None:
        thinking_options(mode)  # validates
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
