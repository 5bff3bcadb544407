#!/usr/bin/env bash
# Checks the Kubernetes manifests in deploy/k8s: renders the base and every
# overlay with a pinned kustomize, decodes each rendering strictly against the
# official Kubernetes API types and runs txgate's own rules on it
# (tests/deploy/k8svalidate), then runs the validator's own tests (which
# prove it rejects broken manifests) and go vet.
#
#   bash tests/deploy/check_k8s.sh
#
# Needs Go 1.26+ and the Go module proxy on a first run. kustomize is built
# once into ${TXGATE_TOOLS:-$HOME/.cache/txgate/tools}/bin; modules and builds
# are cached by Go, so later runs take seconds.
set -euo pipefail

KUSTOMIZE_VERSION=v5.8.2 # v5.8.3 needs a newer Go than 1.26

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tools=${TXGATE_TOOLS:-$HOME/.cache/txgate/tools}
export GOTOOLCHAIN=local # use this machine's Go; never download another

kustomize=$tools/bin/kustomize
if [[ ! -x $kustomize ]] || [[ $("$kustomize" version 2>/dev/null) != "$KUSTOMIZE_VERSION" ]]; then
  echo "check_k8s: installing kustomize $KUSTOMIZE_VERSION into $tools/bin"
  GOBIN=$tools/bin go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/rendered"

cd "$repo/tests/deploy/k8svalidate"
go build -o "$work/k8svalidate" .

# base, then every overlay; prod must also carry TLS.
targets=(base)
for dir in "$repo"/deploy/k8s/overlays/*/; do
  [[ -f $dir/kustomization.yaml ]] && targets+=("overlays/$(basename "$dir")")
done

status=0
for target in "${targets[@]}"; do
  name=$(basename "$target")
  out=$work/rendered/$name.yaml
  if ! "$kustomize" build "$repo/deploy/k8s/$target" >"$out"; then
    echo "FAIL deploy/k8s/$target: kustomize build failed"
    status=1
    continue
  fi
  flags=()
  [[ $name == prod ]] && flags+=(-require-tls)
  if ! (cd "$work/rendered" && "$work/k8svalidate" "${flags[@]}" "$name.yaml"); then
    status=1
  fi
done
if [[ $status -ne 0 ]]; then
  echo "check_k8s: the manifests in deploy/k8s are broken (see FAIL above)"
  exit 1
fi

TXGATE_K8S_RENDERED=$work/rendered go test -count=1 ./...
go vet ./...
echo "check_k8s: ${#targets[@]} renderings passed (${targets[*]})"
