"""Runs mlx-lm's or mlx-vlm's server in this process, with the limits localv4's plan sets.

`python -m localv4.serve.mlx_launch --server mlx_lm|mlx_vlm --context N --wired-limit BYTES
 --served-name NAME [--api-key-file F] [--temperature T --top-p P] [--reasoning R] -- SERVER_ARGS`

What the servers lack, added in-process (no proxy between client and engine):
- a context cap: a prompt that does not fit is refused, and generation stops at the cap;
- the plan's wired limit (Metal only), never above what macOS recommends;
- one model id: requests naming any model get the served one (mlx-lm would try to download it);
- an API key check, read from its file here so it never appears on a command line;
- for mlx-vlm, the recipe's sampling defaults and the default reasoning effort (it has no flags
  for them).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import threading
import time

HEALTH_PATHS = ("/health",)


def apply_wired_limit(limit: int) -> int | None:
    """Wire up to `limit` bytes for the model, capped at Metal's recommended working set."""
    import mlx.core as mx

    if not mx.metal.is_available():
        return None
    info = mx.device_info() if hasattr(mx, "device_info") else mx.metal.device_info()
    recommended = info.get("max_recommended_working_set_size")
    wired = min(limit, recommended) if recommended else limit
    mx.set_wired_limit(wired)
    return wired


def context_error(prompt_tokens: int, context: int) -> str:
    return (f"the prompt has {prompt_tokens} tokens and this server's context is {context} tokens "
            "(set by `localv4 up --ctx`): shorten the conversation.")


class ContextOverflow(ValueError):
    """A prompt longer than the plan's context."""


def _cap_context(server, context: int) -> None:
    """Refuse prompts that do not fit (HTTP 400, as llama-server does) and stop at the cap."""
    tokenize, generate, headers = (server.ResponseGenerator._tokenize, server.ResponseGenerator.generate,
                                   server.APIHandler._set_completion_headers)
    refused = threading.local()  # the handler thread that is answering a refused prompt

    def tokenize_within_context(self, tokenizer, request, args):
        result = tokenize(self, tokenizer, request, args)
        prompt_tokens = len(result[0])
        if prompt_tokens >= context:
            raise ContextOverflow(context_error(prompt_tokens, context))
        args.max_tokens = min(args.max_tokens, context - prompt_tokens)
        return result

    def generate_noting_overflow(self, *args, **kwargs):
        try:
            return generate(self, *args, **kwargs)
        except ContextOverflow:
            refused.now = True
            raise

    def bad_request_not_404(self, status_code: int = 200):
        # mlx-lm answers every generation error with 404; a prompt too long is the client's error.
        if status_code == 404 and getattr(refused, "now", False):
            refused.now, status_code = False, 400
        return headers(self, status_code)

    server.ResponseGenerator._tokenize = tokenize_within_context
    server.ResponseGenerator.generate = generate_noting_overflow
    server.APIHandler._set_completion_headers = bad_request_not_404


def _one_model_id(server, served_name: str) -> None:
    load = server.ModelProvider.load

    def load_served(self, model_path, adapter_path=None, draft_model_path=None):
        return load(self, "default_model", adapter_path, draft_model_path)

    def list_served(self):
        body = {"object": "list", "data": [{"id": served_name, "object": "model", "created": self.created}]}
        self._set_completion_headers(200)
        self.end_headers()
        self.wfile.write(json.dumps(body).encode())

    server.ModelProvider.load = load_served
    server.APIHandler.handle_models_request = list_served


def _require_key(server, key: str) -> None:
    def guard(method):
        def checked(self):
            if self.path in HEALTH_PATHS or self.headers.get("Authorization") == f"Bearer {key}":
                return method(self)
            self._set_completion_headers(401)
            self.end_headers()
            self.wfile.write(json.dumps({"error": "invalid or missing API key"}).encode())

        return checked

    server.APIHandler.do_GET = guard(server.APIHandler.do_GET)
    server.APIHandler.do_POST = guard(server.APIHandler.do_POST)


def run_mlx_lm(args: argparse.Namespace, key: str | None, server_args: list[str]) -> None:
    from mlx_lm import server

    server.maybe_set_recommended_wired_limit = lambda: apply_wired_limit(args.wired_limit)
    _cap_context(server, args.context)
    _one_model_id(server, args.served_name)
    if key:
        _require_key(server, key)
    sys.argv = ["mlx_lm.server", *server_args]
    server.main()


def _vlm_one_model_id(model_path: str, served_name: str) -> None:
    """Requests naming any model get the served one; /v1/models lists only it.

    mlx-vlm loads whatever model a request names, and lists the loaded one by its path plus every
    model in the Hugging Face cache. Its routes look the loader up on the package, and the model
    list up in its app module, so both are replaced there."""
    import mlx_vlm.server as package

    app_module = importlib.import_module("mlx_vlm.server.app")  # the package's `app` is FastAPI's
    load = app_module.get_cached_model

    def load_served(_requested, *args, **kwargs):
        return load(model_path, *args, **kwargs)

    def served_entries() -> list[dict]:  # the model is loaded before the server accepts requests
        return [app_module._model_info(served_name, int(time.time()), loaded=True)]

    package.get_cached_model = load_served
    app_module._served_model_entries = served_entries
    app_module.discover_models = lambda *_args, **_kwargs: []


def _vlm_cap_context(context: int) -> None:
    """Refuse prompts that do not fit (HTTP 400) and stop generation at the cap, as on llama-server.

    With --max-kv-size, mlx-vlm refuses prompt + max_tokens > context (max_tokens defaults to
    2048, so a short request without it is refused under a small cap), and a chat too long for
    the cap is silently summarised by the model itself ("automatic compaction": extra minutes of
    generation on a big model) or refused with a message that does not say what to do. Here only
    the prompt must fit and max_tokens is cut to what is left; a client that asks for compaction
    (`context_management`) still gets it. Both callers of mlx-vlm's check (generate, and the
    check before a stream opens) pass their request's arguments through here."""
    from mlx_vlm.server import compaction, generation

    current = threading.local()  # the arguments of the request this thread is checking

    def with_arguments(method):
        def checked(self, prompt, images=None, audio=None, args=None, videos=None):
            current.args = args or generation.GenerationArguments(
                max_tokens=generation.get_server_max_tokens())
            return method(self, prompt, images, audio, current.args, videos)

        return checked

    def check_within_context(prompt_tokens: int, _max_tokens: int) -> None:
        if prompt_tokens >= context:
            raise generation.PromptTooLongError(context_error(prompt_tokens, context))
        current.args.max_tokens = min(current.args.max_tokens, context - prompt_tokens)

    limit = compaction._context_limit

    def limit_unless_automatic(config, *, required=True):
        return limit(config, required=required) if required else None

    generator = generation.ResponseGenerator
    generator.generate = with_arguments(generator.generate)
    generator.validate_context_budget = with_arguments(generator.validate_context_budget)
    generation._check_configured_context_budget = check_within_context
    compaction._context_limit = limit_unless_automatic


def _vlm_sampling_defaults(recipe_temperature: float, recipe_top_p: float) -> None:
    """The recipe's sampling for requests that name none. mlx-vlm has no flag for it and falls
    back to the checkpoint's config, else to greedy decoding (temperature 0)."""
    from mlx_vlm.server import request_normalization as normalization

    resolve = normalization.resolve_sampling_defaults

    def with_recipe(config, *, temperature=None, top_p=None, top_k=None):
        return resolve(config, temperature=recipe_temperature if temperature is None else temperature,
                       top_p=recipe_top_p if top_p is None else top_p, top_k=top_k)

    normalization.resolve_sampling_defaults = with_recipe


def _vlm_default_reasoning(reasoning: str) -> None:
    """`up --reasoning` for requests that say nothing of reasoning. mlx-vlm's --enable-thinking
    can only switch thinking on; the effort (high, max) reaches the chat template this way."""
    from mlx_vlm.server import request_normalization as normalization

    said = normalization._standard_reasoning_control
    default = (False, None, True) if reasoning == "off" else (True, reasoning, True)

    def with_default(request):
        enabled, effort, expressed = said(request)
        return (enabled, effort, expressed) if expressed else default

    normalization._standard_reasoning_control = with_default


def run_mlx_vlm(args: argparse.Namespace, key: str | None, server_args: list[str]) -> None:
    """mlx-vlm reads its key from the environment; the context cap and sampling are ours."""
    apply_wired_limit(args.wired_limit)
    if key:
        os.environ["MLX_VLM_SERVER_API_KEY"] = key  # this process only, after it started
    _vlm_one_model_id(server_args[server_args.index("--model") + 1], args.served_name)
    _vlm_cap_context(args.context)
    _vlm_sampling_defaults(args.temperature, args.top_p)
    if args.reasoning:
        _vlm_default_reasoning(args.reasoning)
    from mlx_vlm.server.cli import main as serve

    sys.argv = ["mlx_vlm.server", *server_args]
    serve()


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(prog="python -m localv4.serve.mlx_launch")
    parser.add_argument("--server", choices=("mlx_lm", "mlx_vlm"), required=True)
    parser.add_argument("--context", type=int, required=True)
    parser.add_argument("--wired-limit", type=int, required=True)
    parser.add_argument("--served-name", required=True)
    parser.add_argument("--api-key-file")
    parser.add_argument("--temperature", type=float, help="mlx-vlm only: the default when a request has none")
    parser.add_argument("--top-p", type=float, help="mlx-vlm only: the default when a request has none")
    parser.add_argument("--reasoning", choices=("off", "high", "max"),
                        help="mlx-vlm only: the thinking mode when a request has none")
    args = parser.parse_args(argv[:split])
    key = None
    if args.api_key_file:
        with open(args.api_key_file, encoding="utf-8") as f:
            key = f.read().strip()
    run = run_mlx_lm if args.server == "mlx_lm" else run_mlx_vlm
    run(args, key, argv[split + 1:])


if __name__ == "__main__":
    main()
