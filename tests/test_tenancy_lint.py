"""Static guard for tenant isolation: every `select(...)` of a tenant-owned model in the package
is wrapped in `scoped(...)`, except in the few functions listed here with the reason they may
look across tenants. A new unscoped query fails this test until it is scoped or justified."""

from __future__ import annotations

import ast
from pathlib import Path

import ridgeline.models as models

PACKAGE = Path(__file__).resolve().parent.parent / "ridgeline"

TENANT_MODELS = {
    name
    for name in models.__all__
    if getattr(getattr(models, name), "tenant_org_column", None) is not None
}

# (module, function): why it may query without a tenant scope.
UNSCOPED_ALLOWED = {
    ("auth/repository.py", "operator_by_email"): "sign-in: no caller exists yet",
    ("auth/repository.py", "operator_with_family"): "authenticating the token's own operator",
    ("auth/repository.py", "kiosk_key_by_hash"): "authenticating a kiosk key",
    ("stores/repository.py", "store_name_taken"): "uniqueness within the given organization",
    ("audit/repository.py", "delete_events_before"): "the retention purge, across every tenant",
}


def _model_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.value.id  # select(Store.id)
    return None


def _unscoped_selects(tree: ast.Module) -> list[tuple[str, int, str]]:
    scoped_selects: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "scoped" and node.args:
            scoped_selects.add(id(node.args[0]))
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "select"
                and node.args
                and _model_name(node.args[0]) in TENANT_MODELS
                and id(node) not in scoped_selects
            ):
                found.append((function.name, node.lineno, _model_name(node.args[0]) or ""))
    return found


def test_tenant_queries_go_through_the_scoping_helper() -> None:
    assert {"Store", "Kiosk", "Operator", "Organization"} <= TENANT_MODELS
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = path.relative_to(PACKAGE).as_posix()
        for function, line, model in _unscoped_selects(ast.parse(path.read_text())):
            if (module, function) not in UNSCOPED_ALLOWED:
                offenders.append(f"{module}:{line} {function}() selects {model} unscoped")
    assert offenders == [], "\n".join(offenders)


def test_the_allow_list_has_no_stale_entries() -> None:
    seen = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        module = path.relative_to(PACKAGE).as_posix()
        seen |= {
            (module, function) for function, _, _ in _unscoped_selects(ast.parse(path.read_text()))
        }
    assert set(UNSCOPED_ALLOWED) - seen == set()
