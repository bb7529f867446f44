#!/usr/bin/env python3
"""Test: the vLLM server in a container is up, serves its configured model and answers quickly.

Usage: test_vllm_responsiveness.py <CTID>   (host; exit 0 = pass, 1 = fail, 2 = usage/config)
Default (docs/features.md): a short request must complete within VLLM_MAX_LATENCY_S seconds
(environment variable of the same name overrides it).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vllm_test_common import Endpoint, die  # noqa: E402

MAX_LATENCY_S = float(os.environ.get("VLLM_MAX_LATENCY_S", "30"))


def main():
    ep = Endpoint(sys.argv[1] if len(sys.argv) == 2 else "")
    status, _, _ = ep.request("/health", timeout=10)
    if status != 200:
        die(f"{ep.base}/health answered HTTP {status}")
    status, payload, _ = ep.request("/v1/models", timeout=10)
    ids = [m.get("id") for m in (payload or {}).get("data", [])] if status == 200 and isinstance(payload, dict) else []
    if ep.served not in ids:
        die(f"{ep.base}/v1/models lists {ids}, not {ep.served!r}")
    status, payload, secs = ep.inference("Reply with one word: ready?", timeout=MAX_LATENCY_S + 5)
    if status != 200:
        die(f"a short {ep.kind} request got HTTP {status}: {str(payload)[:300]}")
    if secs > MAX_LATENCY_S:
        die(f"a short {ep.kind} request took {secs:.1f}s (limit {MAX_LATENCY_S:.0f}s)")
    print(f"PASS: CT {ep.ctid} serves {ep.served} at {ep.base}; short {ep.kind} request in {secs:.2f}s")


if __name__ == "__main__":
    main()
