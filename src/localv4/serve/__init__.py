"""Serving the plan: one engine process behind one OpenAI-compatible endpoint.

`localv4.serve.api` is the entry point for the CLI, the UI and the tray; the other modules each
do one part of it (state file, ports, the engine process, engine command lines, readiness).
"""
