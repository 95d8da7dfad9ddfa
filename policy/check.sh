#!/usr/bin/env bash
# Policy checks for CI: Rego formatted (opa fmt) and type-correct (opa check),
# unit tests pass (opa test, with the committed bundle's data.json), and the
# committed policy/bundle/policy.wasm is exactly what policy/verification.rego
# compiles to.
#
# Why a byte comparison: `opa build -t wasm` is deterministic for a fixed OPA
# version and input path (measured: repeated builds with 1.22.3 give
# identical bytes; see build.sh), so any difference means the Rego changed
# without a rebuild, or the wasm was edited. build.sh pins the OPA version and
# refuses another, so a different toolchain fails loudly rather than looking
# like a stale wasm.
#
# Usage: policy/check.sh [wasm-to-check]   (default policy/bundle/policy.wasm)
set -euo pipefail
cd "$(dirname "$0")/.."
committed=${1:-policy/bundle/policy.wasm}

OPA=$(command -v opa || echo "$(go env GOPATH 2>/dev/null)/bin/opa")
if [ ! -x "$OPA" ]; then
  echo "opa not found; install it with: go install github.com/open-policy-agent/opa@v1.22.3" >&2
  exit 2
fi

if ! "$OPA" fmt --fail --list policy/ >/dev/null; then
  echo "policy: Rego is not opa-fmt formatted; run: opa fmt -w policy/" >&2
  exit 1
fi
"$OPA" check policy/*.rego
# The data file is named, not found by walking policy/: opa would load
# policy/bundle/data.json under data.bundle, where a bundle's data.json is the root.
tests=(policy/verification.rego policy/verification_test.rego policy/bundle/data.json)
"$OPA" test "${tests[@]}" >/dev/null || { "$OPA" test "${tests[@]}" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
policy/build.sh "$tmp/verification.wasm"
if ! cmp -s "$tmp/verification.wasm" "$committed"; then
  echo "$committed is stale: it is not what policy/verification.rego compiles to;" \
    "run policy/build.sh and commit the result" >&2
  exit 1
fi
echo "policy: fmt, check, test and committed wasm OK"
