# `ringlab sweep`: the product of the varied values, one CSV row per point (the first axis slowest), each
# row the figures `simulate` gives for those values, an SVG plot with a line per combination of the other
# axes, and bad input refused with exit 2 before anything is written.
source "$(dirname "$0")/lib.sh"
Q=configs/experiments/quickstart.yaml

expect 0 "^6 points -> .*s\.csv, .*s\.svg" -- sweep $Q --vary schedule.ranks=2,4,8 --vary schedule.variant=ring,ring_serial \
  --out "$TMP/s"
check "CSV header names both axes, then the figures" \
  grep -qx 'schedule.ranks,schedule.variant,total_time_s,single_gpu_time_s,speedup,parallel_efficiency,overlap_pct,peak_memory_bytes,busiest_link,busiest_link_utilisation,schedule_hash' \
  <(head -1 "$TMP/s.csv")
check "one row per point, first axis slowest" \
  test "$(tail -n +2 "$TMP/s.csv" | cut -d, -f1,2 | tr '\n' ' ')" = "2,ring 2,ring_serial 4,ring 4,ring_serial 8,ring 8,ring_serial "
row_time() { awk -F, -v r="$1" -v v="$2" '$1 == r && $2 == v { print $3 }' "$TMP/s.csv"; }
sim_time() {
  "$RINGLAB" simulate $Q --set schedule.ranks="$1" --set schedule.variant="$2" --format json |
    sed -n 's/.*"total_time_s": *\([0-9.e+-]*\).*/\1/p'
}
for point in "4 ring_serial" "8 ring"; do
  set -- $point
  check "row ($1, $2) is what simulate predicts for it" test "$(row_time "$1" "$2")" = "$(sim_time "$1" "$2")"
done
# The model's own order: overlapping the ring's transfers never loses to serialising them, and more ranks
# finish sooner on one NVSwitch node.
for r in 2 4 8; do
  check "ring <= ring_serial at $r ranks" awk -v a="$(row_time $r ring)" -v b="$(row_time $r ring_serial)" 'BEGIN { exit !(a <= b) }'
done
check "8 ranks faster than 2" awk -v a="$(row_time 8 ring)" -v b="$(row_time 2 ring)" 'BEGIN { exit !(a < b) }'
check "SVG: a document" grep -q '^<svg ' "$TMP/s.svg"
check "SVG: closed" test "$(tail -1 "$TMP/s.svg")" = "</svg>"
check "SVG: a line per variant in each of the two panels" test "$(grep -c '<path ' "$TMP/s.svg")" = 4
check "SVG: a marker per point in each panel" test "$(grep -c '<circle ' "$TMP/s.svg")" = 12
check "SVG: the first axis's values label x" grep -q '>8</text>' "$TMP/s.svg"
check "SVG: a legend entry per variant" test "$(grep -c '>schedule.variant=ring_serial</text>' "$TMP/s.svg")" = 2

# Names and values from the user's files are escaped in the SVG.
expect 0 "2 points" -- sweep $Q --set 'name=a<b&c' --vary schedule.ranks=2,4 --out "$TMP/esc"
check "SVG: the experiment's name escaped" grep -q 'sweep of a&lt;b&amp;c' "$TMP/esc.svg"
check "SVG: no raw '<' from the name" bash -c "! grep -q 'a<b' '$TMP/esc.svg'"

# Bad input: exit 2, the option and field named, nothing written (the second point fails after the first ran).
expect 2 "--vary: field 'schedule.ranks': varied twice" -- sweep $Q --vary schedule.ranks=2,4 --vary schedule.ranks=8 --out "$TMP/bad"
expect 2 "--vary: field 'schedule.ranks': also fixed by --set schedule.ranks=8" -- sweep $Q --vary schedule.ranks=2,4 \
  --set schedule.ranks=8 --out "$TMP/bad"
expect 2 "--vary: field 'nosuch.key': no field 'nosuch'" -- sweep $Q --vary nosuch.key=1 --out "$TMP/bad"
expect 2 "--vary: field 'schedule.ranks': 0 is outside the allowed range" -- sweep $Q --vary schedule.ranks=0 --out "$TMP/bad"
expect 2 "--vary: field 'schedule.ranks': empty value" -- sweep $Q --vary schedule.ranks=2,,4 --out "$TMP/bad"
expect 2 "expected key=v1,v2" -- sweep $Q --vary schedule.ranks --out "$TMP/bad"
expect 2 "--out is required" -- sweep $Q --vary schedule.ranks=2
expect 2 "field 'workload.seq_len': seq_len \(262144\) must be a positive multiple of 3" -- sweep $Q --vary schedule.ranks=2,3 \
  --out "$TMP/bad"
check "no CSV or SVG written for a failed sweep" test ! -e "$TMP/bad.csv" -a ! -e "$TMP/bad.svg"
finish
