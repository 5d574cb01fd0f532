# Every bundled experiment generates, validates and (once the simulator lands) simulates.
source "$(dirname "$0")/lib.sh"
for f in configs/experiments/*.yaml; do
  expect 0 'variant ' -- schedule "$f"
  expect 0 '^ok: ' -- validate "$f"
done
finish
