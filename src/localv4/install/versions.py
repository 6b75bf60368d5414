"""The engine versions localv4 installs: one place to move a pin.

llama-cpp-python 0.3.33 is the first release whose vendored llama.cpp knows `deepseek4`, 0.3.34 the
first with the quantized-KV fix; the native llama-server is built from the same sdist, so the Python
bindings and the native server always share one llama.cpp.
"""

from __future__ import annotations

# The sdist the native llama-server is built from (`localv4 install`).
LLAMA_CPP_PYTHON_VERSION = "0.3.36"
# The optional Python engine, `pip install 'localv4[python-engine]'`: compiled at install time, so
# it is not a plain dependency. pyproject.toml repeats this range (tests/test_packaging.py holds it).
LLAMA_CPP_PYTHON_VERSIONS = ">=0.3.34,<0.4"
PYTHON_ENGINE_EXTRA = "python-engine"
PYTHON_ENGINE_INSTALL = f"pip install 'localv4[{PYTHON_ENGINE_EXTRA}]'"

# The llama.cpp architecture name of DeepSeek V4-Flash; a build that lacks it is refused.
REQUIRED_ARCH = "deepseek4"

# Apple Silicon only. mlx-lm has no `deepseek_v4`; mlx-vlm has it from 0.6.0, and localv4's
# launcher (serve/mlx_launch.py) fits the server internals of 0.7.x from 0.7.10 on.
# mlx-lm is held to 0.32.x for the same reason: serve/mlx_launch.py reaches into its server.
MLX_VLM_VERSIONS = ">=0.7.10,<0.8"
MLX_LM_VERSIONS = ">=0.32,<0.33"
MLX_REQUIREMENTS = ("mlx>=0.29", f"mlx-lm{MLX_LM_VERSIONS}", f"mlx-vlm{MLX_VLM_VERSIONS}")
