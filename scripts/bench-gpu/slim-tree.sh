#!/usr/bin/env bash
# The device tool copies the working tree (tracked files included) and refuses more than
# 64 MiB in all; the bundled weights and model fixtures alone are ~113 MB and the device bench
# needs neither (it uses synthetic models). `out` moves them aside before the `run` call,
# `in` puts them back afterwards. Nothing is deleted; git sees them as missing while out.
set -euo pipefail
cd "$(dirname "$0")/../.."
aside=/tmp/mnemo-slim-tree
large=(weights tests/fixtures/models)
case "${1:-}" in
  out)
    mkdir -p "$aside"
    for p in "${large[@]}"; do
      [ -e "$aside/$p" ] && { echo "slim-tree: $aside/$p already exists; run 'in' first" >&2; exit 1; }
      mkdir -p "$aside/$(dirname "$p")"
      mv "$p" "$aside/$p"
    done
    echo "slim-tree: moved ${large[*]} to $aside; tracked files left: $(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1) bytes"
    ;;
  in)
    for p in "${large[@]}"; do
      [ -e "$aside/$p" ] || continue
      [ -e "$p" ] && { echo "slim-tree: $p exists in the tree; not overwriting" >&2; exit 1; }
      mv "$aside/$p" "$p"
    done
    echo "slim-tree: restored ${large[*]}"
    ;;
  *)
    echo "usage: scripts/bench-gpu/slim-tree.sh out|in" >&2
    exit 2
    ;;
esac
