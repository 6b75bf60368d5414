"""Pooling machines with llama.cpp RPC: the worker each extra machine runs, and the host's view of it.

`worker` runs the rpc-server of the build `up` uses and, on the next port, a small read-only JSON
endpoint that tells the host this machine's build and memory. `probe` is the host's side: it asks
each worker, checks the builds match before anything loads, and tells `status` which one is gone.
"""
