#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Regenerates the modelled stock topologies in this directory from hwloc synthetic descriptions,
# with hwloc's own tools (lstopo, hwloc-annotate; Debian package hwloc). this-2core.xml is not
# generated: it is `lstopo --of xml` on the 2-core VM the project is developed on.
#
# Usage: bash topology/machines/generate.sh   (rewrites the files; review the diff)
#
# OS CPU numbering follows Linux on such machines: first the first hardware thread of every core
# (package 0, then package 1), then the second threads, so the SMT sibling of CPU c is
# c + cores. The `indexes=2*N:1*2` attribute on pu:2 asks hwloc for exactly that (N = PUs / 2).
#
# NUMA distances are added with `hwloc-annotate ... distances FILE` as a "NUMALatency" matrix of
# kind 5 (HWLOC_DISTANCES_KIND_FROM_OS | HWLOC_DISTANCES_KIND_MEANS_LATENCY), the same name and
# kind lstopo exports for a real machine's ACPI SLIT, so code reads them as it would on hardware.
set -euo pipefail
cd "$(dirname "$0")"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# generate NAME SYNTHETIC
generate() {
  rm -f "$1.xml"
  lstopo-no-graphics --input "$2" --of xml "$1.xml"
}

# distances NAME NODES VALUE_FN: VALUE_FN FROM TO prints the relative distance.
distances() {
  local name=$1 nodes=$2 fn=$3
  {
    echo "name=NUMALatency"
    echo 5
    echo "$nodes"
    for ((i = 0; i < nodes; i++)); do echo "NUMANode:$i"; done
    for ((i = 0; i < nodes; i++)); do
      for ((j = 0; j < nodes; j++)); do "$fn" "$i" "$j"; done
    done
  } >"$tmp/$name.dist"
  hwloc-annotate "$name.xml" "$name.xml" -- none -- distances "$tmp/$name.dist"
}

# 1 package, 16 cores x 2 threads, private 48 KiB L1d / 32 KiB L1i / 1.25 MiB L2 per core, one
# shared 24 MiB L3 and one 64 GiB NUMA node (Xeon Silver 4314-like).
generate server-1s16c-smt \
  "pack:1 numa:1(memory=64GiB) l3:1(size=24MiB) l2:16(size=1280KiB) l1d:1(size=48KiB) l1i:1(size=32KiB) core:1 pu:2(indexes=2*16:1*2)"

# 2 packages x 32 cores x 2 threads, one 256 GiB NUMA node and one 48 MiB L3 per package
# (2x Xeon Platinum 8362-like). SLIT: 10 local, 21 remote (the usual two-socket Intel value).
generate server-2s64c-numa \
  "pack:2 numa:1(memory=256GiB) l3:1(size=48MiB) l2:32(size=1280KiB) l1d:1(size=48KiB) l1i:1(size=32KiB) core:1 pu:2(indexes=2*64:1*2)"
two_socket() { if (($1 == $2)); then echo 10; else echo 21; fi; }
distances server-2s64c-numa 2 two_socket

# AMD EPYC-style: 2 packages x 64 cores x 2 threads in NPS4 mode, so 4 NUMA nodes of 128 GiB per
# package (16 cores each), a 32 MiB L3 per 8-core CCX, 512 KiB L2 per core (2x EPYC 7763-like).
# SLIT: 10 same node, 12 same package, 32 other package.
generate epyc-8numa \
  "pack:2 numa:4(memory=128GiB) l3:2(size=32MiB) l2:8(size=512KiB) l1d:1(size=32KiB) l1i:1(size=32KiB) core:1 pu:2(indexes=2*128:1*2)"
epyc() {
  if (($1 == $2)); then echo 10; elif (($1 / 4 == $2 / 4)); then echo 12; else echo 32; fi
}
distances epyc-8numa 8 epyc
