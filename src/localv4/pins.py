"""Every version localv4 depends on for more than a public API: the one place to move a pin.

pyproject.toml carries the same ranges (a test holds it to these); `doctor` and the checked
layer over other libraries' internals (`localv4.internals`) read them from here.

llama-cpp-python 0.3.33 is the first release whose vendored llama.cpp knows `deepseek4`, 0.3.34 the
first with the quantized-KV fix; the native llama-server is built from the pinned sdist and the
`python-engine` extra installs that same release, so the two engines share one llama.cpp.
"""

from __future__ import annotations

# The sdist the native llama-server and rpc-server are built from, and its sha256: the digest PyPI
# lists for llama_cpp_python-0.3.36.tar.gz (https://pypi.org/simple/llama-cpp-python/), equal to
# `sha256sum` of the file `pip download` fetched. Move both together.
LLAMA_CPP_PYTHON_VERSION = "0.3.36"
LLAMA_CPP_PYTHON_SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
# The Python bindings compile llama.cpp when pip installs them (minutes), so they are the optional
# extra `localv4[python-engine]`, not a plain dependency; the native llama-server is the default.
PYTHON_ENGINE_EXTRA = "python-engine"
# What that extra installs: exactly the sdist the native server is built from, so both engines run
# one llama.cpp (pyproject.toml says the same; tests/test_versions.py holds it to this).
PYTHON_ENGINE_REQUIREMENT = f"llama-cpp-python[server]=={LLAMA_CPP_PYTHON_VERSION}"

# The prebuilt llama.cpp engine: xllamacpp (Xorbits, MIT), llama.cpp's own server as a Python
# extension, installed from PyPI into localv4's own engine environment (install/prebuilt.py). Its
# version is its llama.cpp build: 2026.10.11549 carries llama.cpp b11549, a little newer than the
# tree the native build and llama-cpp-python 0.3.36 share (0c1e570, about b11.4k; the two trees'
# model lists differ by one file), and knows `deepseek4`. PyPI holds its CPU wheels (Linux x86_64
# and aarch64, Windows; built without -march=native: no AVX-512 or AMX kernels) and its macOS arm64
# wheel (Metal); `pip download xllamacpp` here fetched
# xllamacpp-2026.10.11549-cp310-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl (33.8 MB).
# Its CUDA, ROCm and Vulkan wheels are on the publisher's own index (install/wheels.py picks one
# from the hardware), which these machines cannot reach: never run here. It has no rpc-server, so pools keep the native build. Only this exact release
# is run: the launcher sets its CommonParams fields by name.
XLLAMACPP_VERSION = "2026.10.11549"
XLLAMACPP_LLAMA_CPP_BUILD = 11549
XLLAMACPP_REQUIREMENT = f"xllamacpp=={XLLAMACPP_VERSION}"

# The llama.cpp architecture name of DeepSeek V4-Flash; a build that lacks it is refused.
REQUIRED_ARCH = "deepseek4"

# Ranges whose internals localv4 reaches into (see localv4.internals): a release outside them
# may have moved what the launchers patch, so it is refused with this range in the message.
# llama-cpp-python's range is what a copy the user installed themselves may be; the extra above
# installs the one pin inside it.
LLAMA_CPP_PYTHON_VERSIONS = ">=0.3.34,<0.4"  # serve/engines/llama_cpp_python_launch.py
MLX_LM_VERSIONS = ">=0.32,<0.33"  # serve/engines/mlx_launch.py (mlx-lm's server)
# mlx-lm has no `deepseek_v4`; mlx-vlm has it from 0.6.0, and the launcher fits the server
# internals of 0.7.x from 0.7.10 on.
MLX_VLM_VERSIONS = ">=0.7.10,<0.8"
MLX_VERSIONS = ">=0.29"  # mlx.core.set_wired_limit (serve/engines/mlx_launch.py)
HUGGINGFACE_HUB_VERSIONS = ">=2.4,<3"  # weights/layout.py (shared Xet blobs)

# Distribution name -> the range above, for pyproject.toml's test and the error messages
# (pyproject.toml declares llama-cpp-python as PYTHON_ENGINE_REQUIREMENT, inside its range).
SUPPORTED = {
    "llama-cpp-python": LLAMA_CPP_PYTHON_VERSIONS,
    "mlx": MLX_VERSIONS,
    "mlx-lm": MLX_LM_VERSIONS,
    "mlx-vlm": MLX_VLM_VERSIONS,
    "huggingface-hub": HUGGINGFACE_HUB_VERSIONS,
}

# Apple Silicon only: what `localv4 install mlx` puts in place.
MLX_REQUIREMENTS = (f"mlx{MLX_VERSIONS}", f"mlx-lm{MLX_LM_VERSIONS}", f"mlx-vlm{MLX_VLM_VERSIONS}")
