#!/usr/bin/env bash
# A newcomer's first minutes (issue 24): a fresh venv, the README's install, then each README
# "Use" command that downloads nothing, in the README's order, with a scratch LOCALV4_HOME and
# HF_HOME. Prints each command's exit code and first line; exits 1 if one that should work fails.
# The README installs with `pipx install .`; pipx may be absent, so this uses its other way,
# `pip install .` into a virtual environment. Usage: scripts/newcomer.sh [PYTHON]
set -u
repo="$(cd "$(dirname "$0")/.." && pwd)"
python="${1:-python3}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
export LOCALV4_HOME="$scratch/localv4" HF_HOME="$scratch/hf" NO_COLOR=1 COLUMNS=100
unset HF_HUB_CACHE

echo "install: $python -m venv, pip install . (pipx: $(command -v pipx || echo absent))"
"$python" -m venv "$scratch/venv" || exit 1
"$scratch/venv/bin/pip" install --quiet "$repo" > "$scratch/pip.log" 2>&1 || { cat "$scratch/pip.log"; exit 1; }
localv4="$scratch/venv/bin/localv4"
failed=0

# try OK_CODES COMMAND...: run `localv4 COMMAND`, print its code and first line; a code outside
# OK_CODES (doctor and plan exit 1 where nothing can run here: that is their answer) is a failure.
try() {
    local ok="$1" out code first
    shift
    out="$(cd "$scratch" && "$localv4" "$@" 2>&1)"
    code=$?
    first="$(printf '%s\n' "$out" | sed -n '/[^[:space:]]/{s/[[:space:]]*$//;p;q;}')"
    printf '%-3s localv4 %-34s %s\n' "$code" "$*" "$first"
    case " $ok " in *" $code "*) ;; *) failed=1 ;; esac
}

try "0 1" doctor
try "0 1" plan
try "0" list
"$localv4" doctor --json > "$scratch/box.json" 2>/dev/null
try "0 1" plan --hardware "$scratch/box.json"
try "0" install --dry-run
try "0" models
try "0" status
try "0" logs
try "0" down
exit "$failed"
