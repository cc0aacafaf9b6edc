#!/usr/bin/env bash
# The whole test suite: typecheck, lint, then every unit, integration and e2e test (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== typecheck" && npx tsc -p tsconfig.json --noEmit
echo "== lint" && npx eslint --max-warnings 0 --no-error-on-unmatched-pattern src test bench
echo "== tests" && npx vitest run "$@"
