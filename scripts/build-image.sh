#!/usr/bin/env bash
# Builds the flowserve image from the Containerfile with the first container engine that exists AND works:
# docker (its client alone is not enough: the daemon must answer), podman, then buildah.
#   scripts/build-image.sh [TAG]          TAG defaults to flowserve:<package.json version>
#   CONTAINER_ENGINE=podman scripts/build-image.sh   uses that engine only
# Exits non-zero, saying what it found, when no engine works.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$root/package.json")"
tag="${1:-flowserve:${version:-latest}}"

# Why each engine that was tried did not work, for the final message.
findings=()

# Succeeds when ENGINE is installed and can build; otherwise records why not.
engine_works() {
  local engine="$1"
  if ! command -v "$engine" >/dev/null 2>&1; then
    findings+=("$engine: not installed")
    return 1
  fi
  local check
  case "$engine" in
    # `docker info` and `podman info` talk to the engine: a client without a daemon (or a podman without a
    # usable storage/user namespace) fails here rather than halfway through a build.
    docker | podman) check=("$engine" info) ;;
    buildah) check=(buildah info) ;;
    *)
      findings+=("$engine: not a supported engine (docker, podman or buildah)")
      return 1
      ;;
  esac
  local output
  if ! output="$("${check[@]}" 2>&1)"; then
    local reason
    reason="$(printf '%s\n' "$output" | grep -v '^\s*$' | tail -n 1)"
    if [[ "$engine" == docker ]]; then
      findings+=("docker: the client is installed but no Docker engine answers (${reason})")
    else
      findings+=("$engine: installed but \`${check[*]}\` fails (${reason})")
    fi
    return 1
  fi
}

build_with() {
  local engine="$1"
  echo "building $tag with $engine from $root/Containerfile" >&2
  case "$engine" in
    docker | podman) exec "$engine" build --file "$root/Containerfile" --tag "$tag" "$root" ;;
    buildah) exec buildah build --file "$root/Containerfile" --tag "$tag" "$root" ;;
  esac
}

engines=(docker podman buildah)
if [[ -n "${CONTAINER_ENGINE:-}" ]]; then engines=("$CONTAINER_ENGINE"); fi

for engine in "${engines[@]}"; do
  if engine_works "$engine"; then build_with "$engine"; fi
done

{
  echo "error: no working container engine, so the image was not built:"
  for finding in "${findings[@]}"; do echo "  - $finding"; done
  echo "Install and start one of docker, podman or buildah, or build $root/Containerfile elsewhere."
  echo "Without an engine, test/deploy/image-entrypoint.test.ts runs the image's entrypoint on this host."
} >&2
exit 1
