#!/usr/bin/env bash
# Compiles policy/verification.rego to WebAssembly and writes the module to
# policy/bundle/policy.wasm (or to the path given as $1): the policy of the OPA
# bundle the broker loads (policy/bundle/: .manifest, data.json, policy.wasm),
# committed beside its Rego. The purposes are data (policy/bundle/data.json),
# not compiled in: changing them needs no rebuild (docs/policy.md).
#
# The output is byte-for-byte reproducible for a given OPA version and input
# path: two builds with OPA 1.22.3 produce identical bundles (bundle files
# carry a fixed 1970 mtime). The module does embed the Rego path exactly as
# passed on the command line (it is used in error locations), so this script
# always runs from the repository root with the relative path
# policy/verification.rego. check.sh relies on both facts.
set -euo pipefail
cd "$(dirname "$0")/.."

OPA_VERSION=1.22.3
# The entrypoints policy/index.ts calls; policy/bundle/.manifest lists the same.
ENTRYPOINTS=(pavilion/verification/decision pavilion/verification/dataset_check pavilion/verification/catalogue)
out=${1:-policy/bundle/policy.wasm}

opa_bin() {
  if command -v opa >/dev/null 2>&1; then command -v opa; return; fi
  if command -v go >/dev/null 2>&1 && [ -x "$(go env GOPATH)/bin/opa" ]; then
    echo "$(go env GOPATH)/bin/opa"
    return
  fi
  echo "opa not found; install it with: go install github.com/open-policy-agent/opa@v${OPA_VERSION}" >&2
  exit 2
}
OPA=$(opa_bin)

found=$("$OPA" version | awk '/^Version:/ {print $2}')
if [ "$found" != "$OPA_VERSION" ]; then
  echo "opa $found found, but the committed wasm is built with opa $OPA_VERSION" \
    "(other versions emit different bytes);" >&2
  echo "install it with: go install github.com/open-policy-agent/opa@v${OPA_VERSION}" >&2
  exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
entry_args=()
for e in "${ENTRYPOINTS[@]}"; do entry_args+=(-e "$e"); done
"$OPA" build -t wasm "${entry_args[@]}" policy/verification.rego -o "$tmp/bundle.tar.gz"
# Bundle members are stored with a leading slash (/policy.wasm).
tar -xzf "$tmp/bundle.tar.gz" -C "$tmp" /policy.wasm 2>/dev/null || tar -xzf "$tmp/bundle.tar.gz" -C "$tmp" policy.wasm
install -m 0644 "$tmp/policy.wasm" "$out"
