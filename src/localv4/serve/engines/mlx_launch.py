"""Runs mlx-lm's or mlx-vlm's server in this process, with the limits localv4's plan sets.

`python -m localv4.serve.engines.mlx_launch --server mlx_lm|mlx_vlm --context N --wired-limit BYTES
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
import hmac
import json
import os
import sys
import threading
import time

from localv4.internals import MLX_DSPARK_DRAFTER, Target, get, replace

HEALTH_PATHS = ("/health",)


def _lm(path: str) -> Target:
    return Target("mlx-lm", "mlx_lm.server", path)


def _vlm(module: str, path: str) -> Target:
    return Target("mlx-vlm", f"mlx_vlm.server{module}", path)


SET_WIRED_LIMIT = Target("mlx", "mlx.core", "set_wired_limit")
LM_WIRED_LIMIT = _lm("maybe_set_recommended_wired_limit")
LM_TOKENIZE = _lm("ResponseGenerator._tokenize")
LM_GENERATE = _lm("ResponseGenerator.generate")
LM_HEADERS = _lm("APIHandler._set_completion_headers")
LM_LOAD = _lm("ModelProvider.load")
LM_MODELS = _lm("APIHandler.handle_models_request")
LM_GET = _lm("APIHandler.do_GET")
LM_POST = _lm("APIHandler.do_POST")
LM_MAIN = _lm("main")
VLM_PACKAGE_LOADER = _vlm("", "get_cached_model")
VLM_APP_LOADER = _vlm(".app", "get_cached_model")  # the package's `app` attribute is FastAPI's
VLM_MODEL_INFO = _vlm(".app", "_model_info")
VLM_SERVED_ENTRIES = _vlm(".app", "_served_model_entries")
VLM_DISCOVER = _vlm(".app", "discover_models")
VLM_GENERATE = _vlm(".generation", "ResponseGenerator.generate")
VLM_VALIDATE = _vlm(".generation", "ResponseGenerator.validate_context_budget")
VLM_CONTEXT_BUDGET = _vlm(".generation", "_check_configured_context_budget")
VLM_ARGUMENTS = _vlm(".generation", "GenerationArguments")
VLM_MAX_TOKENS = _vlm(".generation", "get_server_max_tokens")
VLM_TOO_LONG = _vlm(".generation", "PromptTooLongError")
VLM_CONTEXT_LIMIT = _vlm(".compaction", "_context_limit")
VLM_SAMPLING = _vlm(".request_normalization", "resolve_sampling_defaults")
VLM_REASONING = _vlm(".request_normalization", "_standard_reasoning_control")
VLM_MAIN = _vlm(".cli", "main")
VLM_DSPARK = MLX_DSPARK_DRAFTER  # loaded by mlx-vlm itself for `--draft-model`; checked before it starts

# What each server's launch reaches into: `doctor` and a test check them in the installed releases.
TARGETS = {
    "mlx_lm": (SET_WIRED_LIMIT, LM_WIRED_LIMIT, LM_TOKENIZE, LM_GENERATE, LM_HEADERS, LM_LOAD,
               LM_MODELS, LM_GET, LM_POST, LM_MAIN),
    "mlx_vlm": (SET_WIRED_LIMIT, VLM_PACKAGE_LOADER, VLM_APP_LOADER, VLM_MODEL_INFO, VLM_SERVED_ENTRIES,
                VLM_DISCOVER, VLM_GENERATE, VLM_VALIDATE, VLM_CONTEXT_BUDGET, VLM_ARGUMENTS,
                VLM_MAX_TOKENS, VLM_TOO_LONG, VLM_CONTEXT_LIMIT, VLM_SAMPLING, VLM_REASONING, VLM_MAIN,
                VLM_DSPARK),
}


def _log(message: str) -> None:
    print(f"localv4: {message}", file=sys.stderr, flush=True)  # stderr is the engine's log


def cap_wired_limit(limit: int) -> int | None:
    """Wire up to `limit` bytes, at most Metal's recommended working set, and keep it so.

    The servers set wired limits of their own (mlx-lm at start-up and around each generation, to
    the whole recommended working set); over the plan's, an uncapped server can panic the kernel
    (mlx-lm#883). So MLX's setter itself is replaced before either server starts: every later
    call, whoever makes it, is held at the cap, and the value in force is logged.
    Returns the cap, or None where there is no Metal device (nothing to wire)."""
    import mlx.core as mx

    if not mx.metal.is_available():
        _log("no Metal device: no wired limit to set")
        return None
    info = mx.device_info() if hasattr(mx, "device_info") else mx.metal.device_info()
    recommended = info.get("max_recommended_working_set_size")
    cap = min(limit, recommended) if recommended else limit
    hold_wired_limit(cap)
    return cap


def hold_wired_limit(cap: int) -> None:
    """From now on no `mx.set_wired_limit` call in this process goes above `cap`; sets it now."""
    set_limit = get(SET_WIRED_LIMIT)

    def capped(requested: int) -> int:
        value = min(requested, cap)
        previous = set_limit(value)
        _log(f"Metal wired limit in force: {value} bytes (asked {requested}, plan's cap {cap})")
        return previous

    replace(SET_WIRED_LIMIT, capped)
    capped(cap)


def context_error(prompt_tokens: int, context: int) -> str:
    return (f"the prompt has {prompt_tokens} tokens and this server's context is {context} tokens "
            "(set by `localv4 up --ctx`): shorten the conversation.")


class ContextOverflow(ValueError):
    """A prompt longer than the plan's context."""


def _cap_context(context: int) -> None:
    """Refuse prompts that do not fit (HTTP 400, as llama-server does) and stop at the cap."""
    tokenize, generate, headers = get(LM_TOKENIZE), get(LM_GENERATE), get(LM_HEADERS)
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

    replace(LM_TOKENIZE, tokenize_within_context)
    replace(LM_GENERATE, generate_noting_overflow)
    replace(LM_HEADERS, bad_request_not_404)


def _one_model_id(served_name: str) -> None:
    load = get(LM_LOAD)

    def load_served(self, model_path, adapter_path=None, draft_model_path=None):
        return load(self, "default_model", adapter_path, draft_model_path)

    def list_served(self):
        body = {"object": "list", "data": [{"id": served_name, "object": "model", "created": self.created}]}
        self._set_completion_headers(200)
        self.end_headers()
        self.wfile.write(json.dumps(body).encode())

    replace(LM_LOAD, load_served)
    replace(LM_MODELS, list_served)


def key_matches(header: str | None, key: str) -> bool:
    """Compared in constant time: how long a refusal takes says nothing about the guess."""
    return hmac.compare_digest((header or "").encode(), f"Bearer {key}".encode())


def _require_key(key: str) -> None:
    def guard(method):
        def checked(self):
            if self.path in HEALTH_PATHS or key_matches(self.headers.get("Authorization"), key):
                return method(self)
            self._set_completion_headers(401)
            self.end_headers()
            self.wfile.write(json.dumps({"error": "invalid or missing API key"}).encode())

        return checked

    replace(LM_GET, guard(get(LM_GET)))
    replace(LM_POST, guard(get(LM_POST)))


def run_mlx_lm(args: argparse.Namespace, key: str | None, server_args: list[str]) -> None:
    cap_wired_limit(args.wired_limit)
    replace(LM_WIRED_LIMIT, lambda: None)  # the cap is in force; mlx-lm's own call would only repeat it
    _cap_context(args.context)
    _one_model_id(args.served_name)
    if key:
        _require_key(key)
    sys.argv = ["mlx_lm.server", *server_args]
    get(LM_MAIN)()


def _vlm_one_model_id(model_path: str, served_name: str) -> None:
    """Requests naming any model get the served one; /v1/models lists only it.

    mlx-vlm loads whatever model a request names, and lists the loaded one by its path plus every
    model in the Hugging Face cache. Its routes look the loader up on the package, and the model
    list up in its app module, so both are replaced there."""
    load, model_info = get(VLM_APP_LOADER), get(VLM_MODEL_INFO)

    def load_served(_requested, *args, **kwargs):
        return load(model_path, *args, **kwargs)

    def served_entries() -> list[dict]:  # the model is loaded before the server accepts requests
        return [model_info(served_name, int(time.time()), loaded=True)]

    replace(VLM_PACKAGE_LOADER, load_served)
    replace(VLM_SERVED_ENTRIES, served_entries)
    replace(VLM_DISCOVER, lambda *_args, **_kwargs: [])


def _vlm_cap_context(context: int) -> None:
    """Refuse prompts that do not fit (HTTP 400) and stop generation at the cap, as on llama-server.

    With --max-kv-size, mlx-vlm refuses prompt + max_tokens > context (max_tokens defaults to
    2048, so a short request without it is refused under a small cap), and a chat too long for
    the cap is silently summarised by the model itself ("automatic compaction": extra minutes of
    generation on a big model) or refused with a message that does not say what to do. Here only
    the prompt must fit and max_tokens is cut to what is left; a client that asks for compaction
    (`context_management`) still gets it. Both callers of mlx-vlm's check (generate, and the
    check before a stream opens) pass their request's arguments through here."""
    arguments, server_max_tokens, too_long = get(VLM_ARGUMENTS), get(VLM_MAX_TOKENS), get(VLM_TOO_LONG)
    current = threading.local()  # the arguments of the request this thread is checking

    def with_arguments(method):
        def checked(self, prompt, images=None, audio=None, args=None, videos=None):
            current.args = args or arguments(max_tokens=server_max_tokens())
            return method(self, prompt, images, audio, current.args, videos)

        return checked

    def check_within_context(prompt_tokens: int, _max_tokens: int) -> None:
        if prompt_tokens >= context:
            raise too_long(context_error(prompt_tokens, context))
        current.args.max_tokens = min(current.args.max_tokens, context - prompt_tokens)

    limit = get(VLM_CONTEXT_LIMIT)

    def limit_unless_automatic(config, *, required=True):
        return limit(config, required=required) if required else None

    replace(VLM_GENERATE, with_arguments(get(VLM_GENERATE)))
    replace(VLM_VALIDATE, with_arguments(get(VLM_VALIDATE)))
    replace(VLM_CONTEXT_BUDGET, check_within_context)
    replace(VLM_CONTEXT_LIMIT, limit_unless_automatic)


def _vlm_sampling_defaults(recipe_temperature: float, recipe_top_p: float) -> None:
    """The recipe's sampling for requests that name none. mlx-vlm has no flag for it and falls
    back to the checkpoint's config, else to greedy decoding (temperature 0)."""
    resolve = get(VLM_SAMPLING)

    def with_recipe(config, *, temperature=None, top_p=None, top_k=None):
        return resolve(config, temperature=recipe_temperature if temperature is None else temperature,
                       top_p=recipe_top_p if top_p is None else top_p, top_k=top_k)

    replace(VLM_SAMPLING, with_recipe)


def _vlm_default_reasoning(reasoning: str) -> None:
    """`up --reasoning` for requests that say nothing of reasoning. mlx-vlm's --enable-thinking
    can only switch thinking on; the effort (high, max) reaches the chat template this way."""
    said = get(VLM_REASONING)
    default = (False, None, True) if reasoning == "off" else (True, reasoning, True)

    def with_default(request):
        enabled, effort, expressed = said(request)
        return (enabled, effort, expressed) if expressed else default

    replace(VLM_REASONING, with_default)


def run_mlx_vlm(args: argparse.Namespace, key: str | None, server_args: list[str]) -> None:
    """mlx-vlm reads its key from the environment; the context cap and sampling are ours."""
    cap_wired_limit(args.wired_limit)
    if key:
        os.environ["MLX_VLM_SERVER_API_KEY"] = key  # this process only, after it started
    _vlm_one_model_id(server_args[server_args.index("--model") + 1], args.served_name)
    _vlm_cap_context(args.context)
    _vlm_sampling_defaults(args.temperature, args.top_p)
    if args.reasoning:
        _vlm_default_reasoning(args.reasoning)
    if "--draft-model" in server_args:  # a drafter mlx-vlm lacks fails here in one line, not mid-load
        get(VLM_DSPARK)
        _log(f"drafting with {server_args[server_args.index('--draft-model') + 1]}")
    sys.argv = ["mlx_vlm.server", *server_args]
    get(VLM_MAIN)()


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(prog="python -m localv4.serve.engines.mlx_launch")
    parser.add_argument("--server", choices=("mlx_lm", "mlx_vlm"), required=True)
    parser.add_argument("--context", type=int, required=True)
    parser.add_argument("--wired-limit", type=int, required=True)
    parser.add_argument("--served-name", required=True)
    parser.add_argument("--api-key-file")
    parser.add_argument("--temperature", type=float, help="mlx-vlm only: the default when a request has none")
    parser.add_argument("--top-p", type=float, help="mlx-vlm only: the default when a request has none")
    # one of the recipe's modes: `up` checked it against the recipe (policy.resolve_reasoning)
    parser.add_argument("--reasoning", help="mlx-vlm only: the thinking mode when a request has none")
    args = parser.parse_args(argv[:split])
    key = None
    if args.api_key_file:
        with open(args.api_key_file, encoding="utf-8") as f:
            key = f.read().strip()
    run = run_mlx_lm if args.server == "mlx_lm" else run_mlx_vlm
    run(args, key, argv[split + 1:])


if __name__ == "__main__":
    main()
