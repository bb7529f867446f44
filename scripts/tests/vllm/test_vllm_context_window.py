#!/usr/bin/env python3
"""Test: the vLLM server in a container honours its configured context window.

Usage: test_vllm_context_window.py <CTID>   (host; exit 0 = pass, 1 = fail, 2 = usage/config)
A prompt of about half the configured max_model_len must be answered (HTTP 200); one of twice the
window must be refused with HTTP 400 rather than crash the server, which must still answer after.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vllm_test_common import Endpoint, die  # noqa: E402


def main():
    ep = Endpoint(sys.argv[1] if len(sys.argv) == 2 else "")
    if not ep.max_model_len:
        die(f"container {ep.ctid} configures no max_model_len", 2)
    words = " ".join(["hello"] * (ep.max_model_len // 2))
    status, payload, secs = ep.inference(words)
    if status != 200:
        die(f"a prompt of ~{ep.max_model_len // 2} tokens got HTTP {status}: {str(payload)[:300]}")
    print(f"ok: ~{ep.max_model_len // 2} tokens accepted in {secs:.1f}s")
    too_long = " ".join(["hello"] * (ep.max_model_len * 2))
    status, payload, _ = ep.inference(too_long)
    if status != 400:
        die(f"a prompt of ~{ep.max_model_len * 2} tokens (window {ep.max_model_len}) got HTTP {status}, want 400")
    print(f"ok: ~{ep.max_model_len * 2} tokens refused with HTTP 400")
    status, _, _ = ep.request("/health", timeout=10)
    if status != 200:
        die(f"server unhealthy after the oversized prompt (HTTP {status})")
    print(f"PASS: CT {ep.ctid} context window {ep.max_model_len} ({ep.kind}, {ep.served})")


if __name__ == "__main__":
    main()
