#!/usr/bin/env bash
# Build the MinIO server used by Loa's S3 integration tests into <repo>/.cache/bin/minio.
#
# MinIO no longer ships community binaries we could download, and only the Go
# module proxy is reachable from our machines, so we compile the server from its
# Go module at a pinned release. Idempotent: a binary that already reports the
# pinned release is kept as is.
#
# Usage: scripts/install-minio.sh        (no arguments; FORCE=1 rebuilds anyway)
set -euo pipefail

# Pinned release: tag RELEASE.2025-09-07T16-13-09Z (commit 07c3a429bfed...).
# The tag is not a semver tag, so Go addresses it through this pseudo-version.
MINIO_RELEASE_TAG="RELEASE.2025-09-07T16-13-09Z"
MINIO_RELEASE_TIME="2025-09-07T16:13:09Z"
MINIO_MODULE_VERSION="v0.0.0-20250907161309-07c3a429bfed"
MINIO_COMMIT="07c3a429bfed"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# LOA_CACHE_DIR relocates the cache, as in tools/loa_dev/kafka.py and tests/support/minio.py.
BIN_DIR="${LOA_CACHE_DIR:-${REPO_ROOT}/.cache}/bin"
TARGET="${BIN_DIR}/minio"

log() { printf '[install-minio] %s\n' "$*"; }

# True when $TARGET exists and reports the pinned release (set by our ldflags).
has_pinned_binary() {
    [[ -x "${TARGET}" ]] || return 1
    local reported
    reported="$("${TARGET}" --version 2>/dev/null || true)"
    [[ "${reported}" == *"${MINIO_RELEASE_TAG}"* && "${reported}" == *"${MINIO_COMMIT}"* ]]
}

if [[ "${FORCE:-0}" != "1" ]] && has_pinned_binary; then
    log "ok: ${TARGET} is already ${MINIO_RELEASE_TAG}; nothing to do"
    exit 0
fi

# This release's go.mod needs Go >= 1.24. Go may live outside PATH on a fresh machine (the image installs
# it in /usr/local/go), and Debian's golang-go (1.19) is too old, so take the first new-enough one.
MIN_GO_MINOR=24
go_is_new_enough() {
    local v major rest minor
    v="$("$1" env GOVERSION 2>/dev/null)" || return 1  # e.g. go1.26.8
    v="${v#go}"
    major="${v%%.*}"
    rest="${v#*.}"
    minor="${rest%%[!0-9]*}"
    [[ "${major}" =~ ^[0-9]+$ && "${minor}" =~ ^[0-9]+$ ]] || return 1
    (( major > 1 || minor >= MIN_GO_MINOR ))
}
GO_BIN=""
for candidate in "$(command -v go || true)" /usr/local/go/bin/go; do
    if [[ -n "${candidate}" && -x "${candidate}" ]] && go_is_new_enough "${candidate}"; then
        GO_BIN="${candidate}"
        break
    fi
done
if [[ -z "${GO_BIN}" ]]; then
    log "error: building MinIO needs Go >= 1.${MIN_GO_MINOR}; none found on PATH or in /usr/local/go" >&2
    exit 1
fi
log "using $("${GO_BIN}" version)"

mkdir -p "${BIN_DIR}"

# Serialise concurrent runs (e.g. two test sessions starting at once) so they do
# not both spend minutes compiling and race on the final rename.
exec 9>"${BIN_DIR}/.minio-install.lock"
if command -v flock >/dev/null 2>&1; then
    log "waiting for the install lock"
    flock 9
    if [[ "${FORCE:-0}" != "1" ]] && has_pinned_binary; then
        log "ok: another run installed ${MINIO_RELEASE_TAG} meanwhile"
        exit 0
    fi
fi

# Build into a private directory, then rename into place, so an interrupted
# build never leaves a half-written binary at $TARGET.
STAGE="$(mktemp -d "${BIN_DIR}/.minio-build.XXXXXX")"
trap 'rm -rf "${STAGE}"' EXIT

# Same version stamps MinIO's own release build sets, so `minio --version`
# reports the pinned release instead of DEVELOPMENT.GOGET.
PKG="github.com/minio/minio/cmd"
LDFLAGS="-s -w"
LDFLAGS+=" -X ${PKG}.Version=${MINIO_RELEASE_TIME}"
LDFLAGS+=" -X ${PKG}.ReleaseTag=${MINIO_RELEASE_TAG}"
LDFLAGS+=" -X ${PKG}.CommitID=${MINIO_COMMIT}"
LDFLAGS+=" -X ${PKG}.ShortCommitID=${MINIO_COMMIT}"
LDFLAGS+=" -X ${PKG}.CopyrightYear=2025"

log "building github.com/minio/minio@${MINIO_MODULE_VERSION} (${MINIO_RELEASE_TAG}); this takes several minutes on a cold Go cache"
start=$(date +%s)
# GOTOOLCHAIN=local: never try to download another Go toolchain (not reachable here).
# CGO_ENABLED=0: a static binary, as MinIO's release build makes, with no C toolchain needed.
# The Go module and build caches stay in Go's usual per-user locations so that
# later runs (and CI runs on the same machine) rebuild in seconds.
GOBIN="${STAGE}" GOTOOLCHAIN=local CGO_ENABLED=0 \
    "${GO_BIN}" install -trimpath -ldflags "${LDFLAGS}" "github.com/minio/minio@${MINIO_MODULE_VERSION}"
log "build finished in $(( $(date +%s) - start ))s"

mv -f "${STAGE}/minio" "${TARGET}"
if ! has_pinned_binary; then
    log "error: ${TARGET} was built but does not report ${MINIO_RELEASE_TAG}" >&2
    exit 1
fi
log "installed ${TARGET}: $("${TARGET}" --version | head -n 1)"
