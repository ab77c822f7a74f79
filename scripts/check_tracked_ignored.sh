#!/usr/bin/env bash
# Fails with a one-line reason when git tracks a file that .gitignore names (a committed venv,
# database or cache reaches every clone and shadows what the clone's own build makes).
set -euo pipefail
tracked=$(git ls-files -ci --exclude-standard)
if [ -n "$tracked" ]; then
    count=$(printf '%s\n' "$tracked" | wc -l)
    echo "git tracks $count file(s) that .gitignore names, e.g. $(printf '%s\n' "$tracked" | head -n 1); untrack them with git rm -r --cached" >&2
    exit 1
fi
