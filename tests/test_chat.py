"""`localv4 chat` and its ChatSession, against a real mlx_lm.server on the tiny MLX model.

The tiny model's template opens a <think> block unless thinking is off, and its random weights
never close it: thinking on streams only reasoning, thinking off only answer. The server samples
greedily by default, so the same conversation gets the same reply: the CLI's output is checked
against what the API got for the same questions.
"""

from __future__ import annotations

import pytest

from conftest import run_cli
from localv4.errors import RuntimeFailure, UsageError
from localv4.serve.chat import ChatSession
from localv4.serve.endpoint import Endpoint
from support.ports import free_port

MAX_TOKENS = 5


def reply(url: str, questions: list[str], thinking: str | None) -> list[tuple[str, str]]:
    """(kind, text) of each delta of the last reply, after asking `questions` in one session."""
    with ChatSession(Endpoint.at(url), thinking=thinking, max_tokens=MAX_TOKENS) as session:
        for question in questions[:-1]:
            list(session.send(question))
        return [(d.kind, d.text) for d in session.send(questions[-1])]


@pytest.mark.engine
def test_thinking_on_streams_reasoning_off_streams_the_answer(mlx_url: str) -> None:
    with ChatSession(Endpoint.at(mlx_url), max_tokens=MAX_TOKENS) as session:
        session.set_thinking("high")
        thought = list(session.send("hello"))
        assert session.last_usage["completion_tokens"] == MAX_TOKENS
        session.set_thinking("off")
        answered = list(session.send("hello"))
    assert thought and {d.kind for d in thought} == {"reasoning"}
    assert answered and {d.kind for d in answered} == {"answer"}
    assert "".join(d.text for d in answered).strip()


@pytest.mark.engine
def test_history_is_sent_kept_without_reasoning_and_reset(mlx_url: str) -> None:
    with ChatSession(Endpoint.at(mlx_url), thinking="off", max_tokens=MAX_TOKENS) as session:
        first = "".join(d.text for d in session.send("hello"))
        alone = session.last_usage["prompt_tokens"]
        list(session.send("and again"))
        assert session.last_usage["prompt_tokens"] > alone + 5  # the first exchange went along
        assert [m["role"] for m in session.messages] == ["user", "assistant"] * 2
        assert session.messages[1]["content"] == first
        session.reset()
        list(session.send("hello"))
        assert session.last_usage["prompt_tokens"] == alone
        assert len(session.messages) == 2


@pytest.mark.engine
def test_an_abandoned_reply_leaves_the_history_as_it_was(mlx_url: str) -> None:
    with ChatSession(Endpoint.at(mlx_url), thinking="off", max_tokens=MAX_TOKENS) as session:
        list(session.send("hello"))
        before = list(session.messages)
        deltas = session.send("a question cut short")
        next(deltas)
        deltas.close()
        assert session.messages == before


def test_nothing_listening_is_one_clear_failure() -> None:
    session = ChatSession(Endpoint.at(f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(RuntimeFailure, match="nothing answers at .*localv4 up"):
        list(session.send("hello"))


@pytest.mark.engine
def test_server_error_is_reported_with_its_status(mlx_url: str) -> None:
    """mlx_lm.server cannot find a model it is asked for by another name (offline)."""
    session = ChatSession(Endpoint.at(mlx_url, model="no-such/model"), max_tokens=2)
    with pytest.raises(RuntimeFailure, match=r"answered HTTP \d+"):
        list(session.send("hello"))
    assert session.messages == []


def test_unknown_thinking_mode_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="off, high, max"):
        ChatSession(Endpoint.at("http://127.0.0.1:1")).set_thinking("sometimes")


@pytest.mark.engine
def test_cli_chat_reads_questions_and_commands_from_stdin(mlx_url: str) -> None:
    answer = "".join(text for _, text in reply(mlx_url, ["hello"], "off"))
    reasoning = "".join(text for _, text in reply(mlx_url, ["hello"], "high"))
    result = run_cli(
        "chat", "--url", mlx_url, "--max-tokens", str(MAX_TOKENS),
        input="/reasoning off\nhello\n/reset\n/reasoning high\nhello\n/help\n",  # then end of input: Ctrl-D
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "reasoning: off" in out and "conversation cleared" in out and "reasoning: high" in out
    assert answer.strip() in out and reasoning.strip() in out
    assert out.index(answer.strip()) < out.index("conversation cleared") < out.index(reasoning.strip())
    assert "/reasoning off|high|max" in out  # /help lists the commands


@pytest.mark.engine
def test_cli_chat_dims_reasoning_apart_from_the_answer(monkeypatch: pytest.MonkeyPatch,
                                                       mlx_url: str) -> None:
    monkeypatch.delenv("NO_COLOR")
    result = run_cli(
        "chat", "--url", mlx_url, "--max-tokens", str(MAX_TOKENS), "--reasoning", "high",
        input="hello\n/reasoning off\nhello\n/exit\nnever sent\n",
        env={"FORCE_COLOR": "1", "TERM": "xterm-256color"}, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    prompt = "\x1b[1;36m> \x1b[0m"
    _, thought, switched, answered, *rest = result.stdout.split(prompt)
    dim = "\x1b[2;3m"
    assert thought.startswith(dim) and thought.count(dim) == MAX_TOKENS  # each delta dimmed
    assert "reasoning: off" in switched
    assert answered.strip() and "\x1b[" not in answered  # the answer in plain text
    assert "never sent" not in result.stdout and rest == [""]  # /exit at the next prompt


def test_cli_chat_rejects_a_bad_thinking_mode() -> None:
    result = run_cli("chat", "--url", "http://127.0.0.1:1", "--reasoning", "maybe", input="")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "off, high, max" in result.stderr
