"""The engine versions localv4 installs: one place to move a pin.

llama-cpp-python 0.3.33 is the first release whose vendored llama.cpp knows `deepseek4`, 0.3.34 the
first with the quantized-KV fix; the native llama-server is built from the same sdist, so the Python
bindings and the native server always share one llama.cpp.
"""

from __future__ import annotations

LLAMA_CPP_PYTHON_VERSION = "0.3.36"

# The llama.cpp architecture name of DeepSeek V4-Flash; a build that lacks it is refused.
REQUIRED_ARCH = "deepseek4"

# Apple Silicon only. mlx-lm has no `deepseek_v4`; mlx-vlm has it from 0.6.0, and localv4's
# launcher (serve/mlx_launch.py) fits the server internals of 0.7.x from 0.7.10 on.
MLX_VLM_VERSIONS = ">=0.7.10,<0.8"
MLX_REQUIREMENTS = ("mlx>=0.29", "mlx-lm>=0.32", f"mlx-vlm{MLX_VLM_VERSIONS}")
