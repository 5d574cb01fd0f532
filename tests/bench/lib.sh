# Shared by the bench script tests (sourced).

# refuses SCRIPT ARGS...: SCRIPT exits with status 2 (usage) for each ARGS, one string of arguments
# split at spaces ("" for none).
refuses() {
  local script=$1 bad rc
  shift
  for bad in "$@"; do
    set +e
    # shellcheck disable=SC2086
    "$script" $bad > /dev/null 2>&1
    rc=$?
    set -e
    (( rc == 2 )) || { echo "FAIL: $(basename "$script") $bad exited $rc, expected 2" >&2; exit 1; }
  done
}
