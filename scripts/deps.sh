# Sourced by the README commands: the Debian packages ringlab builds with, installed only when missing.
RINGLAB_PACKAGES=(cmake ninja-build g++ libboost-graph-dev libyaml-cpp-dev libfmt-dev doctest-dev libcli11-dev
                  nlohmann-json3-dev libxxhash-dev)
# The main job the first command runs on the bundled default experiment.
RINGLAB_MAIN_JOB=(simulate)

ensure_deps() {
  local missing=()
  for p in "${RINGLAB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "ringlab: installing missing Debian packages: ${missing[*]}" >&2
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}
