"""Who is using the endpoint right now, as far as the engine can tell.

llama-server lists its slots at /slots (on by default) with `is_processing` per slot: a slot busy
is a client's request in flight. The other engines have no such route: None.
"""

from __future__ import annotations

from localv4.serve.endpoint import Endpoint

SLOTS_PATH = "/slots"
TIMEOUT_S = 2.0


def requests_in_flight(endpoint: Endpoint) -> int | None:
    """How many requests the engine is serving now; None when it cannot tell."""
    import httpx

    try:
        reply = httpx.get(endpoint.base_url + SLOTS_PATH, headers=endpoint.headers, timeout=TIMEOUT_S)
        slots = reply.json() if reply.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    if not isinstance(slots, list):
        return None
    return sum(1 for slot in slots if isinstance(slot, dict) and slot.get("is_processing"))
