#!/usr/bin/env bash
# First README command: install what is missing (Debian 12), build in Release (LTO, profile-guided: see
# scripts/build-release.sh), and run the main job
# (simulate the bundled default experiment). Safe to run again: installs nothing already present.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
ensure_deps
./scripts/build-release.sh ringlab
exec ./build/release/apps/ringlab/ringlab "${RINGLAB_MAIN_JOB[@]}" configs/experiments/quickstart.yaml
