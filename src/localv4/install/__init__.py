"""Engines on this machine: find and probe llama-server, build it natively, install MLX.

`find_llama_server()` is what `up` calls; `install_plan()` is what `doctor` shows; `install()` is
`localv4 install`. Importing this package loads no native code and starts no process.
"""

from localv4.install.engines import ENGINES, InstallOptions, InstallOutcome, install
from localv4.install.locate import LlamaServerBinary, find_llama_server, probe_llama_server
from localv4.install.plan import install_plan
from localv4.pins import LLAMA_CPP_PYTHON_VERSION, REQUIRED_ARCH

__all__ = [
    "ENGINES",
    "LLAMA_CPP_PYTHON_VERSION",
    "REQUIRED_ARCH",
    "InstallOptions",
    "InstallOutcome",
    "LlamaServerBinary",
    "find_llama_server",
    "install",
    "install_plan",
    "probe_llama_server",
]
