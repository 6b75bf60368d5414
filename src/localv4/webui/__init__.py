"""Open WebUI wired to the local endpoint: in Docker (default) or as a native process.

`localv4.webui.api` is the entry point for the CLI (`ui`, `up --ui`, `down`) and the tray; it
takes the endpoint as a plain `serve.endpoint.Endpoint` value and never reads the engine's own state.
"""
