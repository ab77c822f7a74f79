"""Static guard for tenant isolation: every statement over a tenant-owned model in the package
(`select`, `update` and `delete`, however imported) is wrapped in `scoped(...)`, and no
`session.get` reads one by primary key, except in the few functions listed here with the reason
they may look across tenants. A new unscoped query fails this test until it is scoped or
justified. (That queries are built in repositories at all is tests/test_architecture.py's.)"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import ridgeline.models as models

PACKAGE = Path(__file__).resolve().parent.parent / "ridgeline"

TENANT_MODELS = {
    name
    for name in models.__all__
    if getattr(getattr(models, name), "tenant_org_column", None) is not None
}

# (module, function): why it may read or write without a tenant scope.
UNSCOPED_ALLOWED = {
    ("auth/repository.py", "operator_by_email"): "sign-in: no caller exists yet",
    ("auth/repository.py", "operator_with_family"): "authenticating the token's own operator",
    ("auth/repository.py", "kiosk_key_by_hash"): "authenticating a kiosk key",
    ("auth/repository.py", "kiosk_keys_by_hashes"): "authenticating kiosk keys (a connect storm)",
    ("auth/repository.py", "record_key_usage"): (
        "last use of keys this process authenticated itself, by their ids"
    ),
    ("auth/repository.py", "delete_spent_diagnostic_keys"): (
        "the hourly purge of every tenant's spent diagnostic keys"
    ),
    ("stores/repository.py", "store_name_taken"): "uniqueness within the given organization",
    ("alerts/repository.py", "mark_alerts"): (
        "the alert flush's own bookkeeping on alerts it just read, by their ids"
    ),
    ("health/repository.py", "mark_credentials_refused"): (
        "a POS call's outcome on the store it was made for, by id"
    ),
    ("health/repository.py", "mark_connection_reset"): (
        "recovery on a store already resolved in the caller's scope, by id"
    ),
    ("orders/repository.py", "complete_idempotency_key"): (
        "the key row this request locked, by id and lock token"
    ),
    ("orders/repository.py", "delete_idempotency_key"): (
        "the key row this request locked, by id and lock token"
    ),
    ("orders/repository.py", "purge_idempotency_keys"): "retention: every tenant's expired keys",
    ("pos/repository.py", "delete_calls_before"): "retention: every tenant's old POS calls",
    ("realtime/repository.py", "record_kiosks_seen"): (
        "activity of kiosks connected to this process, by their ids"
    ),
    ("sync/repository.py", "set_stock"): "a sync's own write to a variant it resolved, by id",
    ("audit/repository.py", "delete_events_before"): "the retention purge, across every tenant",
    ("audit/repository.py", "operator_emails"): (
        "the actors of audit events the caller may read, by their ids"
    ),
}

TENANT_STATEMENTS = frozenset({"select", "update", "delete"})
PRIMARY_KEY_READS = frozenset({"get", "get_one"})


def _model_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.value.id  # select(Store.id)
    return None


def _called_name(node: ast.Call) -> str | None:
    """`select` for `select(...)` and `sa.select(...)`; `get` for `session.get(...)`."""
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _chain_root(node: ast.expr) -> ast.expr:
    """The statement a method chain starts from: `select(X)` in `select(X).where(...).limit(1)`."""
    while (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Call)
    ):
        node = node.func.value
    return node


def unscoped_statements(tree: ast.Module) -> list[tuple[str, int, str]]:
    """(function, line, what) for each tenant statement or primary-key read not scoped."""
    scoped_statements: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _called_name(node) == "scoped" and node.args:
            scoped_statements.add(id(_chain_root(node.args[0])))
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name, model = _called_name(node), _model_name(node.args[0])
            if model not in TENANT_MODELS:
                continue
            if name in TENANT_STATEMENTS and id(node) not in scoped_statements:
                found.append((function.name, node.lineno, f"{name}({model}) unscoped"))
            elif name in PRIMARY_KEY_READS and isinstance(node.func, ast.Attribute):
                found.append((function.name, node.lineno, f"{name}({model}) by primary key"))
    return found


def _all_unscoped() -> list[tuple[str, str, int, str]]:
    return [
        (path.relative_to(PACKAGE).as_posix(), function, line, what)
        for path in sorted(PACKAGE.rglob("*.py"))
        for function, line, what in unscoped_statements(ast.parse(path.read_text()))
    ]


def test_tenant_queries_go_through_the_scoping_helper() -> None:
    assert {"Store", "Kiosk", "Operator", "Organization"} <= TENANT_MODELS
    offenders = [
        f"{module}:{line} {function}() {what}"
        for module, function, line, what in _all_unscoped()
        if (module, function) not in UNSCOPED_ALLOWED
    ]
    assert offenders == [], "\n".join(offenders)


def test_the_allow_list_has_no_stale_entries() -> None:
    seen = {(module, function) for module, function, _, _ in _all_unscoped()}
    assert set(UNSCOPED_ALLOWED) - seen == set()


@pytest.mark.parametrize(
    "source",
    [
        "async def f():\n    return select(Store).where(Store.id == 1)",
        "async def f():\n    return sa.select(Kiosk.id)",
        "async def f():\n    await session.execute(update(Kiosk).values(name='x'))",
        "async def f():\n    await session.execute(sa.delete(Order).where(Order.id == 1))",
        "async def f():\n    return await session.get(Store, store_id)",
        "async def f():\n    return await session.get_one(Operator, operator_id)",
        # Only the statement scoped(...) is given is scoped, not one nested in it.
        "def f():\n    scoped(select(Store).where(Store.id.in_(select(Kiosk.id))), Store, s)",
    ],
)
def test_the_lint_catches(source: str) -> None:
    assert unscoped_statements(ast.parse(source)) != []


@pytest.mark.parametrize(
    "source",
    [
        "async def f():\n    return scoped(select(Store), Store, scope).where(Store.id == 1)",
        "async def f():\n    return scoped(select(Store).where(Store.id == 1).limit(1), Store, s)",
        "async def f():\n    return scoped(update(Kiosk).values(name='x'), Kiosk, scope)",
        "async def f():\n    return scoped(sa.delete(Order), Order, scope)",
        "async def f():\n    await session.delete(store)",
        "async def f():\n    return await session.get(Job, job_id)",  # not tenant data
    ],
)
def test_the_lint_passes(source: str) -> None:
    assert unscoped_statements(ast.parse(source)) == []
