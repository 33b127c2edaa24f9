#!/usr/bin/env bash
# Regenerate the committed bmv2 JSON test fixtures from their P4 sources.
# Needs p4c-bm2-ss (default: /opt/p4-toolchain/bin). The .json files are committed so tests
# run without p4c.
set -euo pipefail
cd "$(dirname "$0")"
P4C="${P4C_BM2_SS:-/opt/p4-toolchain/bin/p4c-bm2-ss}"
for p4 in *.p4; do
  "$P4C" --std p4-16 --arch v1model -o "${p4%.p4}.json" --p4runtime-files "${p4%.p4}.p4info.txtpb" "$p4"
done
