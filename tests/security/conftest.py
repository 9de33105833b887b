"""A real proxy on a loopback port in front of a real emulator, for the attack tests.

The fixtures are the proxy suite's own (``tests/proxy/conftest.py``), re-exported here.
"""

from __future__ import annotations

from tests.proxy.conftest import clean_emulator, emulator, proxy

__all__ = ["clean_emulator", "emulator", "proxy"]
