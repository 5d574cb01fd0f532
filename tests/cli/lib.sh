# Helpers for the CLI tests: run ringlab, check exit code and output.
set -u
RINGLAB=$(realpath "$1")  # absolute: a test may run it from another directory
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0
checks=0

# expect CODE REGEX -- ARGS...: run ringlab ARGS, require exit CODE and output (stdout+stderr) matching REGEX.
expect() {
  local code=$1 regex=$2
  shift 3
  local out rc
  out=$("$RINGLAB" "$@" 2>&1)
  rc=$?
  checks=$((checks + 1))
  if [ "$rc" -ne "$code" ] || ! grep -qE -- "$regex" <<<"$out"; then
    failures=$((failures + 1))
    printf 'FAIL: ringlab %s\n  expected exit %s and /%s/\n  got exit %s:\n%s\n' "$*" "$code" "$regex" "$rc" "$out" | head -40
  fi
}

finish() {
  echo "$((checks - failures)) passed, $failures failed"
  [ "$failures" -eq 0 ]
}

# check DESCRIPTION COMMAND...: require COMMAND to succeed (for assertions on files a command wrote).
check() {
  local what=$1
  shift
  checks=$((checks + 1))
  if ! "$@"; then
    failures=$((failures + 1))
    printf 'FAIL: %s\n' "$what"
  fi
}
