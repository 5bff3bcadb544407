#!/usr/bin/env bash
# Checks the Kubernetes manifests: renders the base and every overlay of
# deploy/k8s with a pinned kustomize, and the Helm chart deploy/helm/txgate
# (helm lint, then helm template with its defaults and with each
# ci/*-values.yaml), decodes each rendering strictly against the official
# Kubernetes API types (and the Prometheus Operator's, for the ServiceMonitor)
# and runs txgate's own rules on it, the connection budget among them
# (tests/deploy/k8svalidate); then runs the validator's own tests (which prove
# it rejects broken manifests, and that the chart's defaults render what the
# kustomize base does) and go vet.
#
#   bash tests/deploy/check_k8s.sh
#
# Needs Go 1.26+ and the Go module proxy on a first run. kustomize is built
# once into ${TXGATE_TOOLS:-$HOME/.cache/txgate/tools}/bin; modules and builds
# are cached by Go, so later runs take seconds.
set -euo pipefail

KUSTOMIZE_VERSION=v5.8.2 # v5.8.3 needs a newer Go than 1.26

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# One pin for helm, in deps.sh (Debian 12 has no helm package).
HELM_VERSION=$(sed -n 's/^HELM_VERSION=\([^ #]*\).*/\1/p' "$repo/deploy/local/deps.sh")
tools=${TXGATE_TOOLS:-$HOME/.cache/txgate/tools}
export GOTOOLCHAIN=local # use this machine's Go; never download another

kustomize=$tools/bin/kustomize
if [[ ! -x $kustomize ]] || [[ $("$kustomize" version 2>/dev/null) != "$KUSTOMIZE_VERSION" ]]; then
  echo "check_k8s: installing kustomize $KUSTOMIZE_VERSION into $tools/bin"
  GOBIN=$tools/bin go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
fi

helm=$tools/bin/helm
helm_pkg="helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
if [[ ! -x $helm ]] || [[ $(cat "$tools/bin/.helm.version" 2>/dev/null) != "$helm_pkg" ]]; then
  echo "check_k8s: installing helm $HELM_VERSION into $tools/bin"
  GOBIN=$tools/bin go install "$helm_pkg"
  echo "$helm_pkg" >"$tools/bin/.helm.version"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/rendered" "$work/other"

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
# The Helm chart: lint, then render its defaults and each ci/*-values.yaml.
# A go-installed helm assumes a Kubernetes 1.20 cluster; the chart needs 1.30+.
chart=$repo/deploy/helm/txgate
kube=(--kube-version 1.33.0)
helm_renderings=(helm)
if ! "$helm" lint --strict "$chart" >"$work/lint.log" 2>&1; then
  cat "$work/lint.log"
  echo "FAIL deploy/helm/txgate: helm lint"
  status=1
fi
if "$helm" template txgate "$chart" "${kube[@]}" >"$work/rendered/helm.yaml"; then
  (cd "$work/rendered" && "$work/k8svalidate" helm.yaml) || status=1
else
  echo "FAIL deploy/helm/txgate: helm template (default values) failed"
  status=1
fi
for values in "$chart"/ci/*-values.yaml; do
  name=helm-$(basename "$values" -values.yaml)
  helm_renderings+=("$name")
  flags=()
  dir=$work/rendered # the validator's tests break these further
  [[ $name == *prod* ]] && flags+=(-require-tls)
  if [[ $name == *fixed-replicas* ]]; then
    flags+=(-require-hpa=false)
    dir=$work/other
  fi
  if ! "$helm" lint --strict "$chart" -f "$values" >"$work/lint.log" 2>&1; then
    cat "$work/lint.log"
    echo "FAIL deploy/helm/txgate: helm lint -f ci/$(basename "$values")"
    status=1
  fi
  if "$helm" template txgate "$chart" "${kube[@]}" -f "$values" >"$dir/$name.yaml"; then
    (cd "$dir" && "$work/k8svalidate" "${flags[@]}" "$name.yaml") || status=1
  else
    echo "FAIL deploy/helm/txgate: helm template -f ci/$(basename "$values") failed"
    status=1
  fi
done
# What must not render: a floating image, values the schema
# (values.schema.json) rejects: a misspelt key, a wrong type.
for bad in image.tag=latest image.tag=0.1 image.digest=sha256:abc autoscalling.enabled=false pool.maxSize=many; do
  if "$helm" template txgate "$chart" "${kube[@]}" --set "$bad" >/dev/null 2>&1; then
    echo "FAIL deploy/helm/txgate: rendered with --set $bad"
    status=1
  fi
done
# The chart refuses to render over its budget (templates/_helpers.tpl), and
# the validator (budget.go) judges the same values alike: both verdicts must
# agree, on each side of the limit (defaults: 151 - 15 = 136 connections).
budget_cases=(
  autoscaling.maxReplicas=12,pool.maxSize=32 # the issue's 12 x 32: 13 x 40 = 520
  autoscaling.maxReplicas=5                  # 6 x 24 = 144
  maxSurge=50%,autoscaling.maxReplicas=5     # (5 + 3) x 24 = 192
  readOnly.poolMaxSize=0                     # ro pool 8: 5 x 28 = 140
  autoscaling.enabled=false,replicas=5       # 6 x 24 = 144
  mysql.statementCacheSize=1024              # 5 x 20 x 1024 statements
  pool.maxSize=20,readOnly.poolMaxSize=2     # 5 x 26 = 130: fits
  readOnly.enabled=false,autoscaling.maxReplicas=6 # 7 x 18 = 126: fits
)
for case in "${budget_cases[@]}"; do
  helm_verdict=fits
  "$helm" template txgate "$chart" "${kube[@]}" --set "$case" >/dev/null 2>"$work/budget.log" || helm_verdict=refused
  if [[ $helm_verdict == refused ]] && ! grep -q "budget:" "$work/budget.log"; then
    cat "$work/budget.log"
    echo "FAIL deploy/helm/txgate --set $case: helm template failed, not on the budget"
    status=1
  fi
  "$helm" template txgate "$chart" "${kube[@]}" --set "$case,database.enforceBudget=false" >"$work/other/budget.yaml"
  flags=()
  [[ $case == *autoscaling.enabled=false* ]] && flags+=(-require-hpa=false)
  go_verdict=fits
  (cd "$work/other" && "$work/k8svalidate" "${flags[@]}" budget.yaml) >"$work/budget.log" || go_verdict=refused
  if [[ $go_verdict == refused ]] && ! grep -q "budget:.*>" "$work/budget.log"; then
    cat "$work/budget.log"
    echo "FAIL deploy/helm/txgate --set $case: the validator failed it, not on the budget"
    status=1
  fi
  if [[ $helm_verdict != "$go_verdict" ]]; then
    echo "FAIL budget --set $case: the chart says $helm_verdict, the validator says $go_verdict"
    status=1
  else
    echo "PASS budget --set $case: $go_verdict (chart and validator agree)"
  fi
done

if [[ $status -ne 0 ]]; then
  echo "check_k8s: the manifests in deploy/k8s or deploy/helm are broken (see FAIL above)"
  exit 1
fi

TXGATE_K8S_RENDERED=$work/rendered go test -count=1 ./...
go vet ./...
echo "check_k8s: ${#targets[@]} kustomize renderings (${targets[*]}) and ${#helm_renderings[@]} Helm renderings (${helm_renderings[*]}) passed"
