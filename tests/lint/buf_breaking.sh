#!/usr/bin/env bash
# Fails if proto/ breaks the API of the last landed commit (`buf breaking`,
# rules in proto/buf.yaml). Run by tests/run.sh's lint step.
#
#   tests/lint/buf_breaking.sh                          # base chosen as below
#   TXGATE_BREAKING_BASE=<commit> tests/lint/buf_breaking.sh   # compare with <commit>
#
# The base, first that applies:
#   1. $TXGATE_BREAKING_BASE (CI may pass the commit it last checked, e.g. the
#      push's "before" SHA, so a push of several commits is compared as a whole);
#   2. on a branch: where it left main (`git merge-base HEAD origin/main`, or
#      `main`), so every commit of the branch is covered, not just the last;
#   3. on main itself: HEAD~1, the previous landed commit.
# Outside a git checkout, a clone with no such commit (a first commit; a shallow clone whose parent
# cannot be fetched) or a base without proto/ skips the check, saying so.
# The base's proto/ is read with `git archive`, which also works from a git
# worktree and needs no clone of the repository.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

has() { git rev-parse --verify --quiet "$1^{commit}" >/dev/null; }

if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  echo "buf_breaking: not a git checkout: skipped"
  exit 0
fi

base=${TXGATE_BREAKING_BASE:-}
if [ -z "$base" ]; then
  head=$(git rev-parse HEAD)
  for main in origin/main main; do
    has "$main" || continue
    fork=$(git merge-base HEAD "$main" 2>/dev/null) || continue
    if [ "$fork" != "$head" ]; then base=$fork; fi
    break
  done
fi
if [ -z "$base" ]; then
  if ! has HEAD~1 && [ "$(git rev-parse --is-shallow-repository)" = true ]; then
    git fetch --quiet --deepen=1 2>/dev/null || true
  fi
  if ! has HEAD~1; then
    echo "buf_breaking: HEAD has no parent here (first commit or shallow clone): skipped"
    exit 0
  fi
  base=HEAD~1
fi
has "$base" || { echo "buf_breaking: no commit $base" >&2; exit 1; }
if [ -z "$(git ls-tree -d "$base" proto)" ]; then
  echo "buf_breaking: $base has no proto/: skipped"
  exit 0
fi

tmp=$(mktemp -d /tmp/txgate-buf-breaking.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
git archive "$base" proto | tar -x -C "$tmp"
echo "buf_breaking: proto/ against $(git rev-parse --short "$base") ($base)"
# proto/breaking_accepted.txt lists reviewed breaking changes, one buf message
# per line without its line:column ("path:message", the from/to values
# included, so only that exact change passes); every other message fails.
rc=0
buf breaking proto --against "$tmp/proto" >"$tmp/out" || rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 100 ]; then cat "$tmp/out"; exit $rc; fi
accepted=$root/proto/breaking_accepted.txt
left=0
while IFS= read -r line; do
  [ -n "$line" ] || continue
  key=$(printf '%s\n' "$line" | sed -E 's/^([^:]+):[0-9]+:[0-9]+:/\1:/')
  if [ -f "$accepted" ] && grep -qxF -- "$key" "$accepted"; then
    echo "accepted (proto/breaking_accepted.txt): $line"
  else
    echo "$line"
    left=1
  fi
done <"$tmp/out"
exit $left
