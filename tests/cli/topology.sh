# ringlab topology: summaries, paths, Graphviz output and malformed files.
source "$(dirname "$0")/lib.sh"
T=configs/topologies
expect 0 'GPUs +16 in 2 nodes' -- topology $T/dgx-h100-x2-ndr.yaml
# The device file as the user would type it (relative to here), absolute when outside.
expect 0 '(^|\n)device +configs/devices/h100-sxm\.yaml' -- topology $T/dgx-h100-x2-ndr.yaml
# Across nodes on the rail fabric: GPU 0 -> GPU 9 crosses PCIe, NIC, leaf, spine, leaf, NIC, PCIe.
expect 0 'GPU 0 \(n0\.gpu0\) -> GPU 9 \(n1\.gpu1\): 6 hops, latency 3\.2 us, bottleneck 50 GB/s' \
  -- topology $T/dgx-h100-x2-ndr.yaml --path 0,9
expect 0 '2 hops, latency 2 us, bottleneck 450 GB/s' -- topology $T/dgx-h100.yaml --path 0,1
expect 0 'bisection +1600 GB/s' -- topology $T/dgx-h100-x16-ndr-oversub2.yaml
expect 0 'dot .*c\.dot' -- topology $T/dgx-h100.yaml --dot "$TMP/c.dot"
check "a graph in c.dot" grep -q 'digraph\|graph' "$TMP/c.dot"

cat >"$TMP/bad-bw.yaml" <<'YAML'
name: bad
device: ../devices/h100-sxm.yaml
vertices:
  - {name: g0, kind: gpu}
  - {name: g1, kind: gpu}
links:
  - {from: g0, to: g1, kind: nvlink, bandwidth_gbps: -5, latency_us: 1}
YAML
expect 2 "bad-bw\.yaml:7:[0-9]+: field 'links\[0\]\.bandwidth_gbps'" -- topology "$TMP/bad-bw.yaml"
sed 's/to: g1/to: g7/; s/-5/10/' "$TMP/bad-bw.yaml" >"$TMP/bad-vertex.yaml"
expect 2 "bad-vertex\.yaml:7:[0-9]+: field 'links\[0\]\.to'.*g7" -- topology "$TMP/bad-vertex.yaml"
sed 's/links:/links: []\nunused:/; /- {from: g0/d' "$TMP/bad-bw.yaml" >"$TMP/bad-key.yaml"
expect 2 "bad-key\.yaml:[0-9]+:[0-9]+: field 'unused': unknown key" -- topology "$TMP/bad-key.yaml"
# The device file a topology names must exist: the error points at the topology's `device:` line.
sed "s#\.\./devices/h100-sxm\.yaml#$PWD/configs/devices/absent.yaml#; s/-5/10/" "$TMP/bad-bw.yaml" >"$TMP/no-device.yaml"
expect 2 "no-device\.yaml:2: field 'device': .*absent\.yaml: cannot open file" -- topology "$TMP/no-device.yaml"
expect 2 "no-device\.yaml:2: field 'device': .*absent\.yaml: cannot open file" \
  -- simulate configs/experiments/quickstart.yaml --set "topology=$TMP/no-device.yaml" --set schedule.ranks=2
# A path given with --set is relative to where the command runs (a path in the file, to the file).
sed "s#\.\./devices/#$PWD/configs/devices/#; s/^name: .*/name: here/" configs/topologies/dgx-h100.yaml >"$TMP/here.yaml"
Q="$PWD/configs/experiments/quickstart.yaml"
pushd "$TMP" >/dev/null
expect 0 "cluster +here \(8 GPUs\)" -- simulate "$Q" --set topology=here.yaml
popd >/dev/null
expect 2 "--set: field 'topology': topology file 'nowhere/here\.yaml' does not exist" \
  -- simulate configs/experiments/quickstart.yaml --set topology=nowhere/here.yaml
expect 2 "quickstart\.yaml:9: field 'placement': 16 ranks do not fit on the 8 GPUs" \
  -- simulate configs/experiments/quickstart.yaml --set schedule.ranks=16
finish
