#!/usr/bin/env bash
# The project has one version number: CMakeLists.txt's project(VERSION),
# which txgate-server --version prints. Every package and deployment
# artefact that carries a version must say the same: the Python, Node and
# Java clients' metadata, the Helm chart (version and appVersion) and the
# image tag the kustomize base and overlays deploy. (The Go module is
# versioned by its repository's tags, not in go.mod.)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
want=$(sed -n 's/^project(txgate VERSION \([0-9.]*\) .*/\1/p' CMakeLists.txt)
[ -n "$want" ] || { echo "check_versions: no project(txgate VERSION ...) in CMakeLists.txt" >&2; exit 1; }
bad=0
check() {  # check WHAT VALUE
  if [ "$2" != "$want" ]; then
    echo "check_versions: $1 is '$2', want $want (CMakeLists.txt)" >&2
    bad=1
  fi
}
check client/python/pyproject.toml "$(sed -n 's/^version = "\(.*\)"/\1/p' client/python/pyproject.toml)"
check client/node/package.json "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' client/node/package.json)"
check client/java/pom.xml "$(python3 - <<'PY'
import xml.etree.ElementTree as ET
ns = {"m": "http://maven.apache.org/POM/4.0.0"}
print(ET.parse("client/java/pom.xml").getroot().find("m:version", ns).text)
PY
)"
check "deploy/helm/txgate/Chart.yaml version" "$(sed -n 's/^version: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' deploy/helm/txgate/Chart.yaml)"
check "deploy/helm/txgate/Chart.yaml appVersion" "$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' deploy/helm/txgate/Chart.yaml)"
for k in deploy/k8s/base/kustomization.yaml deploy/k8s/overlays/*/kustomization.yaml; do
  tag=$(sed -n 's/^ *newTag: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$k" | head -n 1)
  # An overlay that pins no image of its own inherits the base's.
  [ -z "$tag" ] || check "$k newTag" "$tag"
done
[ "$bad" = 0 ] && echo "check_versions: every package and deployment says $want"
exit "$bad"
