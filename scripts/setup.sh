#!/usr/bin/env bash
# Install everything Loa needs on a fresh machine, idempotently; what it fetches or builds goes into .cache/.
#   scripts/setup.sh          what `make run` needs: ffmpeg, Java, Maven, the venv, Kafka's jars, the `loa` CLI
#   scripts/setup.sh --test   plus what `make test` needs: test tools, the MinIO server, kustomize and CRD schemas
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${REPO_ROOT}/.cache"
VENV="${CACHE}/venv"
PYTHON="${PYTHON:-python3}"
WITH_TEST=0
[[ "${1:-}" == "--test" ]] && WITH_TEST=1

log() { printf '[setup] %s\n' "$*"; }
mkdir -p "${CACHE}"

# --- System packages (Debian): ffmpeg/ffprobe for media, a JDK and Maven for Kafka's jars.
missing=()
command -v ffmpeg >/dev/null || missing+=(ffmpeg)
command -v ffprobe >/dev/null || missing+=(ffmpeg)
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
# npm fetches Uppy, the upload widget of ingest's web page (no CDN at run time).
command -v npm >/dev/null || missing+=(npm)
if [[ ${WITH_TEST} == 1 ]]; then
    # Go builds MinIO for the S3 tests; Debian's golang-go (1.19) is too old, so it is only a last resort.
    command -v go >/dev/null || [[ -x /usr/local/go/bin/go ]] || missing+=(golang-go)
    # Prometheus server and promtool: rule unit tests and the scrape test against a running stack.
    command -v promtool >/dev/null || missing+=(prometheus)
    # PostgreSQL server binaries: the publisher's ledger is tested against a throwaway cluster (initdb/pg_ctl).
    command -v initdb >/dev/null || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
    # Headless Chromium for the ingest page test (driven by Playwright with executable_path=/usr/bin/chromium).
    command -v chromium >/dev/null || missing+=(chromium)
    # openssl makes the self-signed certificate of the archiver's RTMPS test.
    command -v openssl >/dev/null || missing+=(openssl)
fi
if (( ${#missing[@]} )); then
    log "installing Debian packages: ${missing[*]}"
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    ${SUDO} apt-get update -qq
    DEBIAN_FRONTEND=noninteractive ${SUDO} apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Python venv with every Loa package installed editable (re-run only when a pyproject changes).
if [[ ! -x "${VENV}/bin/python" ]]; then
    log "creating the Python venv in ${VENV}"
    "${PYTHON}" -m venv "${VENV}"
    "${VENV}/bin/pip" install -q --upgrade pip
fi
stamp_input=$(cat "${REPO_ROOT}"/libs/loa_core/pyproject.toml "${REPO_ROOT}"/services/*/pyproject.toml \
    "${REPO_ROOT}"/cli/pyproject.toml "${REPO_ROOT}"/tools/pyproject.toml; \
    [[ ${WITH_TEST} == 1 ]] && cat "${REPO_ROOT}/requirements-test.txt"; true)
stamp_hash=$(printf '%s' "${stamp_input}" | sha256sum | cut -c1-16)
stamp="${VENV}/.loa-installed-${stamp_hash}-${WITH_TEST}"
if [[ ! -f "${stamp}" ]]; then
    log "installing Loa's Python packages"
    pip_args=(-e "${REPO_ROOT}/libs/loa_core[faust]" -e "${REPO_ROOT}/services/ingest" -e "${REPO_ROOT}/services/transcode"
              -e "${REPO_ROOT}/services/publisher" -e "${REPO_ROOT}/services/metrics" -e "${REPO_ROOT}/services/archiver" -e "${REPO_ROOT}/cli"
              -e "${REPO_ROOT}/tools")
    [[ ${WITH_TEST} == 1 ]] && pip_args+=(-r "${REPO_ROOT}/requirements-test.txt")
    # setuptools prints pages of warnings for editable installs; keep them in a log, show it only on failure.
    if ! "${VENV}/bin/pip" install -q "${pip_args[@]}" >"${CACHE}/pip-install.log" 2>&1; then
        cat "${CACHE}/pip-install.log" >&2
        exit 1
    fi
    rm -f "${VENV}"/.loa-installed-*
    touch "${stamp}"
fi

# --- Uppy and FullCalendar for ingest's web pages: `npm ci` from the committed lock file (the same tree the Docker image installs)
#     into .cache/web; ingest serves it from .cache/web/node_modules. Reinstalled when the lock file changes.
WEB_SRC="${REPO_ROOT}/services/ingest/web"
if ! cmp -s "${WEB_SRC}/package-lock.json" "${CACHE}/web/package-lock.json" || [[ ! -d "${CACHE}/web/node_modules/uppy" ]] \
    || [[ ! -d "${CACHE}/web/node_modules/fullcalendar" ]]; then
    log "installing Uppy and FullCalendar (npm ci) into ${CACHE}/web"
    mkdir -p "${CACHE}/web"
    cp "${WEB_SRC}/package.json" "${WEB_SRC}/package-lock.json" "${CACHE}/web/"
    npm ci --prefix "${CACHE}/web" --no-audit --no-fund --silent
fi

# --- Kafka's broker jars, resolved by Maven from deploy/kafka/pom.xml.
"${VENV}/bin/python" -c "from loa_dev.kafka import ensure_kafka_jars; ensure_kafka_jars()"

# --- The `loa` command on PATH.
for bin_dir in /usr/local/bin "${HOME}/.local/bin"; do
    if [[ -w "${bin_dir}" ]] || { [[ ! -e "${bin_dir}" ]] && mkdir -p "${bin_dir}" 2>/dev/null; }; then
        ln -sf "${VENV}/bin/loa" "${bin_dir}/loa"
        case ":${PATH}:" in *":${bin_dir}:"*) ;; *) log "add ${bin_dir} to your PATH to use \`loa\`";; esac
        break
    fi
done

# --- MinIO (tests of the S3 backend only), built from its Go module.
if [[ ${WITH_TEST} == 1 ]]; then
    "${REPO_ROOT}/scripts/install-minio.sh"
fi

# --- kustomize and the operators' CRD schemas (tests of deploy/k8s), built from pinned Go and Maven modules.
if [[ ${WITH_TEST} == 1 ]]; then
    "${REPO_ROOT}/scripts/install-k8s-tools.sh"
fi
log "ready"
