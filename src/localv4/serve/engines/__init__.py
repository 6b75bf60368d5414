"""The engines localv4 can run, one module per backend, and the policy that picks one.

- `base`: the values every backend's command line is built from (`EngineInputs`, `EngineCommand`)
  and the `Backend` protocol: what a backend serves (formats, hybrid placement, tool calls,
  speculative decoding, the Anthropic and Responses routes) and how it is started.
- `llama_server`, `llama_cpp_python`, `mlx`: the backends; a backend that runs inside a launcher
  of localv4's own has it beside it (`*_launch.py`, started as `python -m ...`).
- `registry`: every backend by name, in order of preference; `policy`: the choice of backend, which reads
  only the registry and the backends' declared capabilities.

This file imports nothing, so a launcher started as `python -m` loads only what it uses.
"""
