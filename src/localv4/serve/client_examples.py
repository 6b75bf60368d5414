"""Ready-to-paste examples for a running endpoint: curl and the OpenAI Python SDK.

The API key is never printed: the examples read it from its file or from an environment variable.
"""

from __future__ import annotations

import shlex

from localv4.serve.state import ServerState


def curl(state: ServerState) -> str:
    auth = ""
    if state.api_key_file:
        auth = f' \\\n  -H "Authorization: Bearer $(cat {shlex.quote(state.api_key_file)})"'
    body = ('{"model": "%s", "messages": [{"role": "user", "content": "Hello!"}]}'
            % state.model_id)
    return (f"curl {state.endpoint}/chat/completions{auth} \\\n"
            f"  -H 'Content-Type: application/json' \\\n"
            f"  -d '{body}'")


def openai_sdk(state: ServerState) -> str:
    if state.api_key_file:
        key = f'open("{state.api_key_file}").read().strip()'
    else:
        key = '"not-needed"'
    return (
        "from openai import OpenAI\n"
        f'client = OpenAI(base_url="{state.endpoint}", api_key={key})\n'
        "reply = client.chat.completions.create(\n"
        f'    model="{state.model_id}",\n'
        '    messages=[{"role": "user", "content": "Hello!"}],\n'
        ")\n"
        "print(reply.choices[0].message.content)"
    )
