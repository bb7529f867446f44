#!/usr/bin/env bash
# Deliberately failing check: proves the test runner reports a failure (exit 1). Configs list it on
# purpose (CT 950), so a suite containing it is expected to fail.
# Usage: dummy_fail.sh <guest ID>
set -euo pipefail
echo "dummy_fail: guest ${1:-none}: this check always fails, on purpose" >&2
exit 1
