#!/usr/bin/env bash
# Builds every image docker-compose.yaml needs, on a machine that cannot pull from a registry: the stand-in base
# images from Debian's packages (each Containerfile here says what of the public image it keeps), then the project
# image from the unchanged Dockerfile on the stand-in Airflow base. Rootful podman (make container-deps).
#
#   deploy/podman/build-images.sh            # build what is missing (layers are cached)
#   deploy/podman/build-images.sh --rebuild  # the debootstrap base again too
#   cat deploy/podman/standins.env >> .env   # then: podman-compose up -d (README, Run it in containers)
#
# HTTPS inside the builds (pip) goes through the host's CA bundle, mounted read-only: machines behind a TLS proxy
# need it, and it changes nothing elsewhere. Prints one "built <image> in <s>s" line per image.
set -euo pipefail
cd "$(dirname "$0")/../.."

rebuild=0
[[ "${1:-}" == "--rebuild" ]] && rebuild=1
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
base="localhost/mlops-bookworm:12"
airflow_version="$(sed -n 's/^apache-airflow==//p' requirements.lock)"
[[ -n "${airflow_version}" ]] || { echo "build-images: no apache-airflow pin in requirements.lock" >&2; exit 2; }
project_image="${AIRFLOW_IMAGE_NAME:-airflow-mlops:local}"
ca=/etc/ssl/certs/ca-certificates.crt
mounts=()
[[ -f "${ca}" ]] && mounts=(-v "${ca}:${ca}:ro")

command -v podman >/dev/null || { echo "build-images: podman is not installed (make container-deps)" >&2; exit 2; }

timed() {  # timed IMAGE CMD...: run CMD, say how long IMAGE took
    local image="$1" start
    shift
    start=$(date +%s)
    "$@"
    echo "built ${image} in $(( $(date +%s) - start ))s"
}

build_base() {
    command -v debootstrap >/dev/null || { echo "build-images: debootstrap is not installed (make container-deps)" >&2; exit 2; }
    local rootfs
    rootfs="$(mktemp -d)"
    trap 'rm -rf "${rootfs}"' RETURN
    debootstrap --variant=minbase --include=python3,curl,ca-certificates bookworm "${rootfs}" "${mirror}" >/dev/null
    tar -C "${rootfs}" -c . | podman import --change 'CMD ["/bin/bash"]' - "${base}" >/dev/null
}

build() {  # build IMAGE CONTAINERFILE [ARGS...]
    local image="$1" file="$2"
    shift 2
    podman build --quiet "${mounts[@]}" -f "${file}" "$@" -t "${image}" . >/dev/null
}

if [[ ${rebuild} == 1 ]] || ! podman image exists "${base}"; then
    timed "${base}" build_base
fi

# The stand-ins are independent of each other: built side by side (the output of each is its own log); one that
# fails side by side (seen once on a cold podman store) is built again alone before the script gives up.
logs="$(mktemp -d)"
pids=()
declare -A specs
standin() {  # standin NAME IMAGE CONTAINERFILE [ARGS...]
    local name="$1"
    shift
    specs["${name}"]="$(printf '%q ' "$@")"
    timed "$1" build "$@" >"${logs}/${name}.log" 2>&1 &
    pids+=("$!:${name}")
}
standin airflow-base "localhost/mlops-airflow-base:${airflow_version}" deploy/podman/airflow-base.Containerfile \
    --build-arg "AIRFLOW_VERSION=${airflow_version}"
standin postgres localhost/mlops-postgres-standin:bookworm deploy/podman/postgres.Containerfile
standin redis localhost/mlops-redis-standin:bookworm deploy/podman/redis.Containerfile
standin s3 localhost/mlops-s3-standin:bookworm deploy/podman/s3.Containerfile
standin prometheus localhost/mlops-prometheus-standin:bookworm deploy/podman/prometheus.Containerfile
retry=()
for entry in "${pids[@]}"; do
    name="${entry#*:}"
    if wait "${entry%%:*}"; then
        grep '^built ' "${logs}/${name}.log"
    else
        echo "build-images: the ${name} stand-in failed side by side; building it again alone. Its log:" >&2
        tail -n 30 "${logs}/${name}.log" >&2
        retry+=("${name}")
    fi
done
rm -rf "${logs}"
for name in "${retry[@]}"; do
    eval "timed ${specs[${name}]%% *} build ${specs[${name}]}"
done

timed "${project_image}" build "${project_image}" Dockerfile \
    --build-arg "AIRFLOW_BASE_IMAGE=localhost/mlops-airflow-base:${airflow_version}"
