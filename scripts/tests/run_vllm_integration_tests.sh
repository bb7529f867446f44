#!/usr/bin/env bash
# Runs the vLLM integration tests against one container (named by CT 950's
# integration_tests.script / vllm[] keys). Usage: run_vllm_integration_tests.sh <CTID>
# Exit 0 when every test passes, 1 otherwise.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[[ "${1:-}" =~ ^[0-9]+$ ]] || { echo "usage: $(basename "$0") <CTID>" >&2; exit 2; }
failed=0
for t in test_vllm_responsiveness.py test_vllm_context_window.py; do
    echo "== ${t} $1"
    python3 "${here}/vllm/${t}" "$1" || failed=$((failed + 1))
done
echo "vLLM integration tests for CT $1: ${failed} failed"
((failed == 0))
