# Regression cases: each folder holds the command's expected output and an EXPECTATION.md saying why.
# Usage: run.sh RINGLAB CASE
set -u
RINGLAB=$1
case_dir=$(dirname "$0")/$2
case $2 in
  quickstart) actual=$("$RINGLAB" simulate configs/experiments/quickstart.yaml --format json) ;;
  *) echo "unknown case $2"; exit 2 ;;
esac
if [ "$actual" == "$(cat "$case_dir/expected.json")" ]; then
  echo "1 passed, 0 failed"
else
  diff <(echo "$actual" | tr ',' '\n') <(tr ',' '\n' <"$case_dir/expected.json") | head -20
  echo "0 passed, 1 failed (see $case_dir/EXPECTATION.md)"
  exit 1
fi
