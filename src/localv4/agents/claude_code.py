"""Claude Code: Anthropic Messages at the endpoint's root, all model roles on the served model.

Environment only (its settings file stays the user's). CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC
switches off its update check, telemetry and error reports (measured: with it, `claude -p` made
no request beyond the endpoint).
"""

from __future__ import annotations

from pathlib import Path

from localv4.agents.base import AgentSetup, AgentTarget

MAX_OUTPUT_TOKENS = 32_000  # Claude Code's own default cap


class ClaudeCode:
    name = "claude"
    title = "Claude Code"
    program = "claude"
    install = "npm install -g @anthropic-ai/claude-code"
    api = "anthropic"
    calls_tools = True

    def setup(self, target: AgentTarget, folder: Path) -> AgentSetup:
        model = target.endpoint.model_id
        env = {
            "ANTHROPIC_BASE_URL": target.endpoint.base_url,
            "ANTHROPIC_API_KEY": "",  # a real Anthropic key in the user's shell is not sent here
            "ANTHROPIC_MODEL": model,
            "ANTHROPIC_DEFAULT_OPUS_MODEL": model,
            "ANTHROPIC_DEFAULT_SONNET_MODEL": model,
            "ANTHROPIC_DEFAULT_HAIKU_MODEL": model,
            "ANTHROPIC_SMALL_FAST_MODEL": model,
            "CLAUDE_CODE_SUBAGENT_MODEL": model,
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        }
        defaults = {"CLAUDE_CODE_MAX_OUTPUT_TOKENS": str(min(MAX_OUTPUT_TOKENS, target.context // 4))}
        if target.reasoning == "off":
            defaults["MAX_THINKING_TOKENS"] = "0"
        return AgentSetup(argv=(self.program,), env=env, defaults=defaults, key_env=("ANTHROPIC_AUTH_TOKEN",))
