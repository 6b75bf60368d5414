"""Ready-to-paste examples for a running endpoint: curl and the OpenAI Python SDK.

The API key is never printed: the examples read it from its file or from an environment variable.
"""

from __future__ import annotations

import shlex

from localv4.serve.endpoint import Endpoint


def curl(endpoint: Endpoint) -> str:
    auth = ""
    if endpoint.key_file:
        auth = f' \\\n  -H "Authorization: Bearer $(cat {shlex.quote(endpoint.key_file)})"'
    body = ('{"model": "%s", "messages": [{"role": "user", "content": "Hello!"}]}'
            % endpoint.model_id)
    return (f"curl {endpoint.v1_url}/chat/completions{auth} \\\n"
            f"  -H 'Content-Type: application/json' \\\n"
            f"  -d '{body}'")


def openai_sdk(endpoint: Endpoint) -> str:
    if endpoint.key_file:
        key = f'open("{endpoint.key_file}").read().strip()'
    else:
        key = '"not-needed"'
    return (
        "from openai import OpenAI\n"
        f'client = OpenAI(base_url="{endpoint.v1_url}", api_key={key})\n'
        "reply = client.chat.completions.create(\n"
        f'    model="{endpoint.model_id}",\n'
        '    messages=[{"role": "user", "content": "Hello!"}],\n'
        ")\n"
        "print(reply.choices[0].message.content)"
    )
