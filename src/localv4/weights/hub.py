"""Talking to the Hugging Face hub (or a mirror): settings from the environment, and the file listing.

Everything huggingface_hub honours is honoured here, read when a pull starts (not when a module is
imported): HF_ENDPOINT, HF_HUB_OFFLINE, HF_HUB_DISABLE_XET, HF_HOME / HF_HUB_CACHE, HF_TOKEN and
the `hf auth login` store. The token only ever travels in a request header, never in a message, log or command line.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from localv4.errors import RuntimeFailure, UsageError
from localv4.paths import hf_cache_dir
from localv4.weights.files import Manifest, RemoteFile
from localv4.weights.retry import RETRY_STATUSES, RetryPolicy, Transient, parse_retry_after, sleep_unless

DEFAULT_ENDPOINT = "https://huggingface.co"


class HubUnreachable(RuntimeFailure):
    """The hub could not be asked (no network, DNS, refused, 5xx to the end): maybe the disk has it."""


def _truthy(value: str | None) -> bool:
    return (value or "").strip().upper() in {"1", "ON", "YES", "TRUE"}


@dataclass(frozen=True)
class HubSettings:
    endpoint: str
    offline: bool
    xet: bool  # Xet transfers allowed (HF_HUB_DISABLE_XET not set) and hf_xet installed
    cache_dir: Path
    policy: RetryPolicy
    workers: int = 4  # files fetched at once

    @classmethod
    def from_env(cls) -> HubSettings:
        return cls(
            endpoint=(os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/"),
            offline=_truthy(os.environ.get("HF_HUB_OFFLINE")),
            xet=not _truthy(os.environ.get("HF_HUB_DISABLE_XET")) and importlib.util.find_spec("hf_xet") is not None,
            cache_dir=hf_cache_dir(),
            policy=RetryPolicy.from_env(),
        )

    def headers(self) -> dict[str, str]:
        """User agent and, when one is configured, the token (HF_TOKEN or `hf auth login`)."""
        from huggingface_hub.utils import build_hf_headers

        from localv4 import __version__

        headers = build_hf_headers(library_name="localv4", library_version=__version__)
        return {**headers, "Accept-Encoding": "identity"}  # byte ranges of the file itself, never gzip

    def file_url(self, repo: str, commit: str, path: str) -> str:
        return f"{self.endpoint}/{repo}/resolve/{commit}/{quote(path)}"


def fetch_manifest(repo: str, revision: str, settings: HubSettings, cancelled: threading.Event) -> Manifest:
    """Every file of `repo` at `revision` with its size and hash, and the commit it resolves to."""
    policy = settings.policy
    attempt = 1
    while True:
        try:
            return _ask_hub(repo, revision, settings)
        except Transient as err:
            if attempt >= policy.metadata_attempts:
                raise HubUnreachable(f"cannot reach the hub at {settings.endpoint} ({err.reason})") from None
            sleep_unless(cancelled, policy.wait_s(attempt, err.retry_after))
            attempt += 1


def _ask_hub(repo: str, revision: str, settings: HubSettings) -> Manifest:
    import httpx2
    from huggingface_hub import HfApi
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    from localv4 import __version__

    api = HfApi(endpoint=settings.endpoint, library_name="localv4", library_version=__version__)
    try:
        info = api.model_info(repo, revision=revision, files_metadata=True, timeout=settings.policy.stall_s)
    except RevisionNotFoundError:
        raise UsageError(
            f"revision '{revision}' does not exist in {repo} on {settings.endpoint}; "
            "fix the recipe's revision."
        ) from None
    except GatedRepoError:
        raise RuntimeFailure(
            f"{repo} is gated: accept its terms on its hub page, then log in with `hf auth login`."
        ) from None
    except RepositoryNotFoundError:
        raise UsageError(
            f"repository {repo} was not found on {settings.endpoint} (or it is private: log in with "
            "`hf auth login`); check the recipe's repo."
        ) from None
    except HfHubHTTPError as err:
        status = err.response.status_code if err.response is not None else 0
        if status in RETRY_STATUSES:
            retry_after = parse_retry_after(err.response.headers.get("Retry-After"))
            raise Transient(f"HTTP {status}", retry_after) from None
        raise RuntimeFailure(f"the hub at {settings.endpoint} answered HTTP {status} for {repo}.") from None
    except httpx2.TimeoutException:
        raise Transient("no answer") from None
    except httpx2.TransportError as err:
        raise Transient(describe_transport_error(err)) from None
    if not info.sha or info.siblings is None:
        raise RuntimeFailure(
            f"{settings.endpoint} sent no commit or file list for {repo}; is HF_ENDPOINT a hub?"
        )
    files = tuple(
        RemoteFile(
            path=s.rfilename,
            size=s.lfs.size if s.lfs else (s.size or 0),
            blob=s.lfs.sha256 if s.lfs else (s.blob_id or ""),
            sha256=s.lfs.sha256 if s.lfs else None,
        )
        for s in info.siblings
    )
    return Manifest(repo=repo, commit=info.sha, files=files)


def describe_transport_error(err: Exception) -> str:
    """A short human reason for a network failure, without URLs or headers."""
    text = str(err).lower()
    for needle, reason in (("refused", "connection refused"), ("name or service", "host not found"),
                           ("nodename", "host not found"), ("reset", "connection reset"),
                           ("closed", "connection closed"), ("timed out", "timed out")):
        if needle in text:
            return reason
    return type(err).__name__
