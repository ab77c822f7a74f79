#!/usr/bin/env bash
# `make audit-deps`: known vulnerabilities in the packages installed in .venv, from PyPI's
# advisory data (pip-audit asks PyPI's JSON API for each installed version).
#
# Where that API cannot be reached (a machine whose package proxy serves only the simple index)
# the audit cannot happen: this says so loudly and exits 0, as `make test` does for a missing
# PostgreSQL; RIDGELINE_REQUIRE_DEP_AUDIT=1 makes that a failure instead. Once reached, a known
# vulnerability, or a package that cannot be looked up (--strict), fails.
set -euo pipefail
BIN=${1:-.venv/bin}

pip_version=$("$BIN/python" -c 'import importlib.metadata as m; print(m.version("pip"))')
probe="https://pypi.org/pypi/pip/$pip_version/json"
if ! "$BIN/python" - "$probe" <<'PY'
import sys
import urllib.request

try:
    urllib.request.urlopen(sys.argv[1], timeout=15).read(1)  # noqa: S310 - a fixed https URL
except Exception as exc:
    print(f"{sys.argv[1]}: {exc}", file=sys.stderr)
    sys.exit(1)
PY
then
    message="*** make audit-deps: PyPI's advisory data cannot be reached from here: the dependency audit did NOT happen ***"
    echo "$message" >&2
    if [ "${RIDGELINE_REQUIRE_DEP_AUDIT:-0}" = "1" ]; then
        exit 1
    fi
    exit 0
fi
exec "$BIN/pip-audit" --strict --skip-editable --progress-spinner off
