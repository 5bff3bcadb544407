#!/usr/bin/env bash
# Deployment checks: the Kubernetes manifests (rendered with kustomize and Helm, validated
# strictly against the official API types) and the container image (built from
# the Dockerfile with buildah, run against the test MariaDB). Called by tests/run.sh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bash "$here/check_k8s.sh"
bash "$here/container.sh"
