#!/usr/bin/env bash
# What tests/unit/test_k8s_manifests.py needs to check deploy/k8s offline, built into <repo>/.cache:
#   .cache/bin/kustomize      kustomize, built from its Go module at a pinned release (`kubectl kustomize` is
#                             not installed, and no Python package renders kustomizations)
#   .cache/k8s-schemas/*.yaml the CustomResourceDefinitions of the operators deploy/k8s uses, generated the way
#                             each project generates its own from its API types at a pinned release:
#                             KEDA (ScaledObject) and the Prometheus Operator (ServiceMonitor, PrometheusRule)
#                             with controller-gen from their Go modules; Strimzi (Kafka, KafkaNodePool,
#                             KafkaTopic) with Strimzi's CRD generator on its API model, both from Maven Central.
# The Kubernetes schemas themselves come with the kubernetes-validate wheel (requirements-test.txt).
# Idempotent: kept as long as the pins in scripts/k8s-schemas/ and below do not change (FORCE=1 rebuilds).
set -euo pipefail

KUSTOMIZE_VERSION="v5.8.0"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${LOA_CACHE_DIR:-${REPO_ROOT}/.cache}"
BIN_DIR="${CACHE}/bin"
SCHEMAS="${CACHE}/k8s-schemas"
PINS="${REPO_ROOT}/scripts/k8s-schemas"

log() { printf '[install-k8s-tools] %s\n' "$*"; }
mkdir -p "${BIN_DIR}"

# Go >= 1.24 (kustomize v5.8.0's go.mod), or 1.26 (controller-tools v0.23.0); PATH first, then /usr/local/go.
GO_BIN=""
for candidate in "$(command -v go || true)" /usr/local/go/bin/go; do
    [[ -n "${candidate}" && -x "${candidate}" ]] || continue
    v="$("${candidate}" env GOVERSION 2>/dev/null || true)"; v="${v#go}"
    if [[ "${v%%.*}" == 1 ]] && (( $(rest="${v#*.}"; echo "${rest%%[!0-9]*}") >= 26 )); then GO_BIN="${candidate}"; break; fi
done
[[ -n "${GO_BIN}" ]] || { log "error: needs Go >= 1.26 on PATH or in /usr/local/go" >&2; exit 1; }
# Never download another toolchain; a static binary needs no C compiler.
export GOTOOLCHAIN=local CGO_ENABLED=0

# --- kustomize
if [[ "${FORCE:-0}" == 1 || "$("${BIN_DIR}/kustomize" version 2>/dev/null || true)" != "${KUSTOMIZE_VERSION}" ]]; then
    log "building sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION} (a minute on a cold Go cache)"
    stage="$(mktemp -d "${BIN_DIR}/.kustomize-build.XXXXXX")"
    # kustomize prints the version its module was built as (from the build info) only with -ldflags unset.
    GOBIN="${stage}" "${GO_BIN}" install -trimpath "sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION}"
    mv -f "${stage}/kustomize" "${BIN_DIR}/kustomize"
    rm -rf "${stage}"
fi
log "ok: ${BIN_DIR}/kustomize $("${BIN_DIR}/kustomize" version)"

# --- CRD schemas, regenerated when a pin changes.
stamp="$(cat "${PINS}"/go.mod "${PINS}"/go.sum "${PINS}"/pom.xml "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)"
if [[ "${FORCE:-0}" != 1 && -f "${SCHEMAS}/.stamp-${stamp}" ]]; then
    log "ok: CRD schemas in ${SCHEMAS} are current"
    exit 0
fi
stage="$(mktemp -d "${CACHE}/.k8s-schemas.XXXXXX")"
trap 'rm -rf "${stage}"' EXIT

log "generating the KEDA and Prometheus Operator CRDs with controller-gen"
(
    cd "${PINS}"
    "${GO_BIN}" build -mod=readonly -o "${stage}/controller-gen" sigs.k8s.io/controller-tools/cmd/controller-gen
    # maxDescLen=0: descriptions are of no use to a validator and make the files several times larger.
    "${stage}/controller-gen" crd:crdVersions=v1,maxDescLen=0 \
        paths=github.com/kedacore/keda/v2/apis/keda/v1alpha1 \
        paths=github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1 \
        output:crd:dir="${stage}/crds"
)

# Strimzi 1.x is built for Java 21; the JDK Maven runs on may be older (Debian 12's is 17), so look for a newer one.
JAVA_BIN=""
for candidate in "${JAVA_HOME:-/nonexistent}/bin/java" "$(command -v java || true)" /usr/lib/jvm/*/bin/java; do
    [[ -x "${candidate}" ]] || continue
    major="$("${candidate}" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
    if [[ "${major}" =~ ^[0-9]+$ ]] && (( major >= 21 )); then JAVA_BIN="${candidate}"; break; fi
done
[[ -n "${JAVA_BIN}" ]] || { log "error: Strimzi's CRD generator needs a Java >= 21 (JAVA_HOME, PATH or /usr/lib/jvm)" >&2; exit 1; }

log "generating the Strimzi CRDs with Strimzi's CRD generator (${JAVA_BIN})"
# Maven's output (only colour resets with -q) goes to a log, shown when it fails.
if ! mvn -q -B -f "${PINS}/pom.xml" dependency:build-classpath -Dmdep.outputFile="${stage}/strimzi.classpath" \
    >"${stage}/mvn.log" 2>&1; then
    cat "${stage}/mvn.log" >&2
    exit 1
fi
# The arguments of Strimzi's own build (api/pom.xml, execution generate-crds), for the three kinds Loa uses.
"${JAVA_BIN}" -cp "$(cat "${stage}/strimzi.classpath")" io.strimzi.crdgenerator.CrdGenerator \
    --label app:strimzi --label strimzi.io/crd-install:true --target-kube 1.16+ --crd-api-version v1 \
    --api-versions v1 --storage-version v1 --yaml \
    "io.strimzi.api.kafka.model.kafka.Kafka=${stage}/crds/kafka.strimzi.io_kafkas.yaml" \
    "io.strimzi.api.kafka.model.nodepool.KafkaNodePool=${stage}/crds/kafka.strimzi.io_kafkanodepools.yaml" \
    "io.strimzi.api.kafka.model.topic.KafkaTopic=${stage}/crds/kafka.strimzi.io_kafkatopics.yaml"

rm -rf "${SCHEMAS}"
mv "${stage}/crds" "${SCHEMAS}"
touch "${SCHEMAS}/.stamp-${stamp}"
log "ok: $(ls "${SCHEMAS}" | wc -l) CRDs in ${SCHEMAS}"
