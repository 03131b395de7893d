#!/usr/bin/env bash
# Fails when a shell script pipes into a reader that may stop early (`grep -q`, `head`) while
# `pipefail` is on: the writer then dies of SIGPIPE at random and the pipeline "fails" on a
# loaded machine. Read from a file or a here-string instead (`grep -q x <<<"$out"`).
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0
while IFS= read -r f; do
  grep -q 'pipefail' "$f" || continue
  # `bash -c "…"` bodies run without pipefail: not flagged
  if hits=$(grep -nE '\|[[:space:]]*(grep[[:space:]]+-[A-Za-z]*q|head\b)' "$f" | grep -vE '^[0-9]+:[[:space:]]*#|bash -c' || true) && [ -n "$hits" ]; then
    printf '%s:\n%s\n' "$f" "$hits" >&2
    bad=1
  fi
done < <(git ls-files '*.sh')
if [ "$bad" -ne 0 ]; then
  echo "check-scripts: pipes into grep -q / head under pipefail (see above): they fail at random under load" >&2
  exit 1
fi
echo "check-scripts: no early-exit reader in a pipeline under pipefail"
