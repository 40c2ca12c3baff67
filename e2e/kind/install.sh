#!/usr/bin/env bash
# Create a kind cluster and install Argo Rollouts and Prometheus from their Helm charts:
# the same two components the local stack builds from source, for people who have Docker.
# Needs docker, kind, kubectl and helm on PATH. Not run in CI (no Docker engine there).
#
#   e2e/kind/install.sh            # create the cluster and install both charts
#   KIND_NODE_IMAGE=kindest/node:v1.37.2 e2e/kind/install.sh
#
# Chart versions are pinned through ARGO_ROLLOUTS_CHART_VERSION / PROMETHEUS_CHART_VERSION
# when set; the controller image is pinned to the local stack's Argo Rollouts release.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cluster=agent-release
rollouts_version="$(awk '$1 == "github.com/argoproj/argo-rollouts" {print $2}' "$here/../argo-rollouts/go.mod")"

for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || { echo "install.sh: $tool is not on PATH" >&2; exit 1; }
done

if ! kind get clusters | grep -qx "$cluster"; then
  kind create cluster --config "$here/cluster.yaml" ${KIND_NODE_IMAGE:+--image "$KIND_NODE_IMAGE"}
fi
kubectl config use-context "kind-$cluster"

helm repo add argo https://argoproj.github.io/argo-helm --force-update
helm repo add prometheus-community https://prometheus-community.github.io/helm-charts --force-update

helm upgrade --install argo-rollouts argo/argo-rollouts \
  --namespace argo-rollouts --create-namespace --wait \
  ${ARGO_ROLLOUTS_CHART_VERSION:+--version "$ARGO_ROLLOUTS_CHART_VERSION"} \
  --set installCRDs=true \
  --set "controller.image.tag=$rollouts_version"

# Scrape and evaluate every 5 s as the local stack does; the chart's default pod scrape job
# picks up agent pods annotated prometheus.io/scrape: "true".
helm upgrade --install prometheus prometheus-community/prometheus \
  --namespace monitoring --create-namespace --wait \
  ${PROMETHEUS_CHART_VERSION:+--version "$PROMETHEUS_CHART_VERSION"} \
  --set server.global.scrape_interval=5s \
  --set server.global.evaluation_interval=5s \
  --set server.persistentVolume.enabled=false \
  --set alertmanager.enabled=false \
  --set prometheus-pushgateway.enabled=false \
  --set prometheus-node-exporter.enabled=false \
  --set kube-state-metrics.enabled=false

cat <<DONE
kind cluster "$cluster" is ready with Argo Rollouts $rollouts_version and Prometheus.
  kubectl --context kind-$cluster -n monitoring port-forward svc/prometheus-server 9090:80
  export PROMETHEUS_URL=http://127.0.0.1:9090
Delete it with: kind delete cluster --name $cluster
DONE
