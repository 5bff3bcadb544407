#!/usr/bin/env bash
# Fails if the committed generated client code is stale: regenerates it from
# proto/ with client/generate.sh into a temporary directory and compares.
# Fix a failure by running client/generate.sh and committing the result.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tmp=$(mktemp -d /tmp/txgate-gen.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

bash "$root/client/generate.sh" "$tmp"

stale=0
for dir in client/python/txgate client/go/txgatev1 client/node/proto; do
  if ! diff -r -u -x __pycache__ "$root/$dir" "$tmp/$dir"; then
    stale=1
  fi
done
if [ $stale -ne 0 ]; then
  echo "check_generated: the generated client code is stale; run client/generate.sh and commit" >&2
  exit 1
fi
echo "check_generated: generated client code is up to date"
