"""Test hosts made with network namespaces: each a namespace joined to this one by a veth pair.

Needs root and iproute2 (`ip`); tests skip with the command that enables them otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

ENABLE = "run the tests as root with iproute2 installed (`sudo apt-get install iproute2`; .ci/run does)"


@dataclass(frozen=True)
class TestHost:
    namespace: str
    address: str  # the namespace's side, e.g. 10.77.1.2
    link: str  # this side's veth: `ip link set LINK down` cuts the host off

    @property
    def exec_prefix(self) -> tuple[str, ...]:
        return ("ip", "netns", "exec", self.namespace)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def require() -> None:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip(f"network-namespace hosts need root and `ip`: {ENABLE}")


@contextmanager
def test_hosts(count: int) -> Iterator[list[TestHost]]:
    """`count` namespaces, each on its own /24 with this namespace at .1 and the host at .2."""
    require()
    tag = os.getpid() % 200
    hosts = []
    try:
        for i in range(count):
            ns, here, there = f"lv4-{tag}-{i}", f"lv4h{tag}x{i}", f"lv4n{tag}x{i}"
            net = f"10.{77 + i}.{tag}"
            _ip("netns", "add", ns)
            hosts.append(TestHost(ns, f"{net}.2", here))
            _ip("link", "add", here, "type", "veth", "peer", "name", there)
            _ip("link", "set", there, "netns", ns)
            _ip("addr", "add", f"{net}.1/24", "dev", here)
            _ip("link", "set", here, "up")
            _ip("netns", "exec", ns, "ip", "addr", "add", f"{net}.2/24", "dev", there)
            _ip("netns", "exec", ns, "ip", "link", "set", there, "up")
            _ip("netns", "exec", ns, "ip", "link", "set", "lo", "up")
        yield hosts
    finally:
        for host in hosts:
            subprocess.run(["ip", "link", "del", host.link], capture_output=True)
            subprocess.run(["ip", "netns", "del", host.namespace], capture_output=True)
