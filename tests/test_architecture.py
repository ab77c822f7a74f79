"""Static guards for the architecture's rules.

`app.state` is the app assembly's own: only `ridgeline/app.py` (which builds the services and
keeps them there) and `ridgeline/api/dependencies.py` (the one dependency that hands them to
endpoints) may touch it; everything else asks for a typed dependency (`HubDep`, `SettingsDep`...)
or is handed its collaborators.

"Vendor knowledge lives in the adapters": outside `ridgeline/pos/` (the POS
domain: adapters, registry, connector) and `ridgeline/possim/` (the simulator, which must share no
code with the adapters it tests), no module may

(a) import a vendor adapter module (`ridgeline.pos.adapters` or anything in it): the registry
    (`ridgeline.pos.registry`) and the capability interfaces (`ridgeline.pos.capabilities`) are
    the way in;
(b) branch on a vendor's name: a string constant equal to one in a comparison (`==`, `!=`, `in`,
    `is`), a `match` case, a dict key or a collection tested with `in`; nor carry one as plain
    data (a keyword argument, an assignment): that is the vendor's knowledge, kept by its adapter;
(c) check for, or name, a vendor's adapter or config class (`isinstance(config, BlazeConfig)`).

Only exact constants count: prose that mentions a POS ("BLAZE and Treez webhooks" in a docstring
or a CLI help text) branches on nothing. A new offender fails this test until its knowledge moves
behind a capability (docs/pos/README.md, "Adding a POS") or is listed below with its reason.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

from ridgeline.db.base import Base
from ridgeline.pos.registry import adapter_class, adapter_names

PACKAGE = Path(__file__).resolve().parent.parent / "ridgeline"
VENDOR_PACKAGES = ("pos", "possim")  # where vendor knowledge belongs
ADAPTERS_MODULE = "ridgeline.pos.adapters"

# The four of the issue, and whatever else is registered by now.
VENDOR_NAMES = frozenset({"dutchie", "treez", "blaze", "flowhub", *adapter_names()})


def _vendor_classes() -> frozenset[str]:
    names = set()
    for name in adapter_names():
        adapter = adapter_class(name)
        assert adapter is not None
        names |= {adapter.__name__, adapter.config_model.__name__}
    return frozenset(names)


VENDOR_CLASSES = _vendor_classes()

# (module, offending constant or name): why it may stay. Keep this narrow; nothing needs it now.
ALLOWED: dict[tuple[str, str], str] = {}


def _is_docstring(node: ast.AST, parents: dict[int, ast.AST]) -> bool:
    parent = parents.get(id(node))
    if not isinstance(parent, ast.Expr):
        return False
    holder = parents.get(id(parent))
    body = getattr(holder, "body", None)
    return isinstance(body, list) and bool(body) and body[0] is parent


def _vendor_constant(node: ast.AST | None) -> str | None:
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.lower() in VENDOR_NAMES
    ):
        return node.value
    return None


def _constants_in(node: ast.AST) -> Iterator[str]:
    """Vendor names among a comparison operand: the constant itself, or the elements of a
    literal collection (`provider in ("blaze", "treez")`)."""
    found = _vendor_constant(node)
    if found is not None:
        yield found
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        for element in node.elts:
            if (value := _vendor_constant(element)) is not None:
                yield value
    if isinstance(node, ast.Dict):
        for key in node.keys:
            if (value := _vendor_constant(key)) is not None:
                yield value


def _imported_modules(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    # `from ridgeline.pos import adapters` names the adapters package too.
    return [base] + [f"{base}.{alias.name}" for alias in node.names]


def offences(source: str) -> list[tuple[int, str, str]]:
    """(line, what, the constant or name) for each breach of the rules in one module's source."""
    tree = ast.parse(source)
    parents = {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: list[tuple[int, str, str]] = []
    branch_constants: set[int] = set()

    def branch(node: ast.expr, what: str) -> None:
        for value in _constants_in(node):
            found.append((node.lineno, what, value))
        branch_constants.add(id(node))
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            branch_constants.update(id(element) for element in node.elts)
        if isinstance(node, ast.Dict):
            branch_constants.update(id(key) for key in node.keys if key is not None)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for module in _imported_modules(node):
                if module == ADAPTERS_MODULE or module.startswith(ADAPTERS_MODULE + "."):
                    found.append((node.lineno, "imports a vendor adapter module", module))
                    break
        elif isinstance(node, ast.Compare):
            for operand in [node.left, *node.comparators]:
                branch(operand, "compares with a vendor's name")
        elif isinstance(node, ast.match_case):
            for pattern in ast.walk(node.pattern):
                if isinstance(pattern, ast.MatchValue):
                    branch(pattern.value, "matches on a vendor's name")
                if isinstance(pattern, ast.MatchMapping):
                    for pattern_key in pattern.keys:
                        branch(pattern_key, "matches on a vendor's name")
        elif isinstance(node, ast.Dict):
            for key in node.keys:
                if key is not None and _vendor_constant(key) is not None:
                    branch(key, "keys a dict by a vendor's name")
        elif isinstance(node, ast.Name | ast.Attribute):
            name = node.id if isinstance(node, ast.Name) else node.attr
            if name in VENDOR_CLASSES:
                found.append((node.lineno, "names a vendor's adapter or config class", name))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
            continue
        if node.value in VENDOR_CLASSES:
            found.append((node.lineno, "names a vendor's adapter or config class", node.value))
        elif (
            _vendor_constant(node) is not None
            and id(node) not in branch_constants
            and not _is_docstring(node, parents)
        ):
            found.append((node.lineno, "carries a vendor's name as data", node.value))
    return sorted(set(found))


def _checked_modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        module = path.relative_to(PACKAGE).as_posix()
        if module.split("/")[0] not in VENDOR_PACKAGES:
            yield module, path


def test_vendor_knowledge_stays_in_the_pos_package() -> None:
    offenders = []
    for module, path in _checked_modules():
        for line, what, name in offences(path.read_text()):
            if (module, name) not in ALLOWED:
                offenders.append(f"ridgeline/{module}:{line} {what}: {name!r}")
    assert offenders == [], "\n".join(offenders)


def test_the_allow_list_has_no_stale_entries() -> None:
    seen = set()
    for module, path in _checked_modules():
        seen |= {(module, name) for _, _, name in offences(path.read_text())}
    assert set(ALLOWED) - seen == set()


@pytest.mark.parametrize(
    ("source", "what"),
    [
        ("from ridgeline.pos.adapters.blaze import BlazeConfig", "imports a vendor adapter"),
        ("from ridgeline.pos.adapters import treez", "imports a vendor adapter"),
        ("from ridgeline.pos import adapters", "imports a vendor adapter"),
        ("import ridgeline.pos.adapters.flowhub", "imports a vendor adapter"),
        ("if provider == 'blaze':\n    pass", "compares with a vendor's name"),
        ("ok = 'Treez' != store.pos_provider", "compares with a vendor's name"),
        ("ok = provider in ('treez', 'flowhub')", "compares with a vendor's name"),
        ("ok = provider not in {'dutchie'}", "compares with a vendor's name"),
        ("match provider:\n    case 'flowhub':\n        pass", "matches on a vendor's name"),
        ("NAMES = {'dutchie': 'Downtown'}", "keys a dict by a vendor's name"),
        ("LIMITS = RateLimits(vendor='dutchie')", "carries a vendor's name as data"),
        ("ok = isinstance(config, BlazeConfig)", "names a vendor's adapter or config class"),
        ("ok = isinstance(a, pos.adapters.TreezAdapter)", "names a vendor's adapter or config"),
        ("ok = type(c).__name__ == 'FlowhubConfig'", "names a vendor's adapter or config class"),
    ],
)
def test_the_checker_catches(source: str, what: str) -> None:
    assert any(found.startswith(what) for _, found, _ in offences(source)), offences(source)


@pytest.mark.parametrize(
    "source",
    [
        '"""BLAZE and Treez push webhooks; Dutchie pushes nothing."""',
        "def f() -> None:\n    '''Flowhub posts back per order.'''",
        "HELP = 'Run the POS simulator: Dutchie, Treez, BLAZE and Flowhub dialects.'",
        "from ridgeline.pos.registry import webhook_source",
        "if source.registration is Registration.API:\n    pass",
        "ok = name == 'blazer'",
    ],
)
def test_the_checker_passes_prose_and_capabilities(source: str) -> None:
    assert offences(source) == []


# --- app.state -----------------------------------------------------------------------------------

APP_ASSEMBLY = frozenset({"app.py", "api/dependencies.py"})


def app_state_uses(source: str) -> list[int]:
    """Lines that read or write `<anything>.app.state` or `app.state`."""
    return sorted(
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute)
        and node.attr == "state"
        and (
            (isinstance(node.value, ast.Name) and node.value.id == "app")
            or (isinstance(node.value, ast.Attribute) and node.value.attr == "app")
        )
    )


def test_only_the_app_assembly_touches_app_state() -> None:
    offenders = [
        f"ridgeline/{path.relative_to(PACKAGE).as_posix()}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).as_posix() not in APP_ASSEMBLY
        for line in app_state_uses(path.read_text())
    ]
    assert offenders == [], "reads app.state outside the assembly:\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("hub = request.app.state.hub", [1]),
        ("x = 1\napp.state.settings = settings", [2]),
        ("self.hub = websocket.app.state.hub", [1]),
        ("state = request.state.db", []),
        ("services = app_services(app)", []),
    ],
)
def test_the_app_state_checker(source: str, found: list[int]) -> None:
    assert app_state_uses(source) == found


# --- queries are built in repositories -----------------------------------------------------------
#
# Inside a domain, `repository.py` builds the queries; endpoints and services call its named
# functions. A module builds a query when it uses SQLAlchemy's statement constructors (`select`,
# `update`, `delete`, `insert`, the dialects' `insert`, `text`), a mapped table's own
# (`Model.__table__.insert()`), or reads a row by primary key (`session.get(Model, id)`, a model
# imported from `ridgeline.models`). Names are resolved from the module's imports, so
# `dict.update`, `session.delete(row)`, `@router.delete`, `headers.get("x")` and a function
# named `delete_store` are not queries.

QUERY_BUILDERS = frozenset({"select", "update", "delete", "insert", "text"})
PRIMARY_KEY_READS = frozenset({"get", "get_one"})

# Module (or folder, ending in "/") outside a repository.py that may build queries, and why.
QUERIES_ALLOWED: dict[str, str] = {
    "db/": "the database layer itself: engine set-up, Alembic migrations, the schema revision",
    "jobs/queue.py": "the job table's store (enqueue, claim with leases): the jobs repository",
    "realtime/streams.py": "the stream store (offsets, epochs, replay): the realtime repository",
    "models/sync.py": "schema, not a query: the partial unique index's predicate",
    "models/health.py": "schema, not a query: the partial unique index's predicate",
    "models/notification.py": "schema, not a query: the partial unique index's predicate",
}


def _bound_names(tree: ast.Module) -> dict[str, set[str]]:
    """Each name a module's imports bind, with the dotted path it stands for; and each name
    assigned one of those (`dialect = postgresql if pg else sqlite`), with what it may be."""
    names: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname is not None:
                    names.setdefault(alias.asname, set()).add(alias.name)
                else:  # `import sqlalchemy.sql` binds `sqlalchemy`
                    root = alias.name.split(".")[0]
                    names.setdefault(root, set()).add(root)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            for alias in node.names:
                names.setdefault(alias.asname or alias.name, set()).add(
                    f"{node.module}.{alias.name}"
                )
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if not isinstance(target, ast.Name):
            continue
        choices = [value.body, value.orelse] if isinstance(value, ast.IfExp) else [value]
        for choice in choices:
            if paths := _dotted(choice, names):
                names.setdefault(target.id, set()).update(paths)
    return names


def _dotted(node: ast.expr, names: dict[str, set[str]]) -> set[str]:
    """The paths `sa.dialects.postgresql.insert` may stand for (none if its root is not bound
    by an import)."""
    attributes: list[str] = []
    while isinstance(node, ast.Attribute):
        attributes.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return set()
    return {".".join([root, *reversed(attributes)]) for root in names.get(node.id, ())}


@functools.cache
def _is_query_builder(path: str) -> bool:
    """Whether `path` (as imported) is one of SQLAlchemy's statement constructors: resolved to
    the object itself, so `sqlalchemy.future.select` counts and `AsyncSession.delete` does not."""
    parts = path.split(".")
    if parts[0] != "sqlalchemy" or parts[-1] not in QUERY_BUILDERS:
        return False
    for split in range(len(parts) - 1, 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        try:
            for attribute in parts[split:]:
                found = getattr(found, attribute)
        except AttributeError:
            return False
        return (
            inspect.isfunction(found)
            and found.__qualname__ == found.__name__  # a module's function, not a method
            and found.__module__.startswith("sqlalchemy.")
        )
    return False


@functools.cache
def _is_mapped_model(path: str) -> bool:
    """Whether `path` (as imported) is one of our mapped models, not an enum or a value."""
    module, _, name = path.rpartition(".")
    if not module.startswith("ridgeline.models"):
        return False
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return False
    return isinstance(found, type) and issubclass(found, Base)


def query_builds(source: str) -> list[tuple[int, str]]:
    """(line, what) for each query a module's source builds."""
    tree = ast.parse(source)
    names = _bound_names(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Load):
            found.extend(
                (node.lineno, path) for path in _dotted(node, names) if _is_query_builder(path)
            )
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in QUERY_BUILDERS
            and isinstance(node.func.value, ast.Attribute)
            and node.func.value.attr == "__table__"
        ):
            found.append((node.lineno, f"__table__.{node.func.attr}"))
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in PRIMARY_KEY_READS
            and node.args
            and any(_is_mapped_model(path) for path in _dotted(node.args[0], names))
        ):
            found.append((node.lineno, f"{node.func.attr}(model)"))
    return sorted(found)


def _query_allowance(module: str) -> str | None:
    """The allow-list entry that covers `module`, if any."""
    if module in QUERIES_ALLOWED:
        return module
    return next(
        (key for key in QUERIES_ALLOWED if key.endswith("/") and module.startswith(key)), None
    )


def _query_building_modules() -> Iterator[tuple[str, list[tuple[int, str]]]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "repository.py":
            continue
        found = query_builds(path.read_text())
        if found:
            yield path.relative_to(PACKAGE).as_posix(), found


def test_queries_are_built_in_repositories() -> None:
    offenders = [
        f"ridgeline/{module}:{line} builds a query with {what}"
        for module, found in _query_building_modules()
        if _query_allowance(module) is None
        for line, what in found
    ]
    assert offenders == [], "move these into the domain's repository.py:\n" + "\n".join(offenders)


def test_the_query_allow_list_has_no_stale_entries() -> None:
    used = {_query_allowance(module) for module, _ in _query_building_modules()}
    assert set(QUERIES_ALLOWED) - used == set()


@pytest.mark.parametrize(
    ("source", "what"),
    [
        ("from sqlalchemy import select\nq = select(Store)", "sqlalchemy.select"),
        ("from sqlalchemy import update\nq = update(Kiosk).values(x=1)", "sqlalchemy.update"),
        ("from sqlalchemy import delete\nq = delete(Job)", "sqlalchemy.delete"),
        ("from sqlalchemy import insert\nq = insert(SyncIssue)", "sqlalchemy.insert"),
        ("from sqlalchemy import text\nq = text('SELECT 1')", "sqlalchemy.text"),
        ("import sqlalchemy as sa\nq = sa.select(Store)", "sqlalchemy.select"),
        ("import sqlalchemy\nq = sqlalchemy.text('SELECT 1')", "sqlalchemy.text"),
        ("from sqlalchemy import select as pick\nq = pick(Store)", "sqlalchemy.select"),
        ("from sqlalchemy.future import select\nq = select(Store)", "sqlalchemy.future.select"),
        (
            "from sqlalchemy.dialects.postgresql import insert as pg_insert\nq = pg_insert(Job)",
            "sqlalchemy.dialects.postgresql.insert",
        ),
        (
            "from sqlalchemy.dialects import sqlite\nq = sqlite.insert(Job)",
            "sqlalchemy.dialects.sqlite.insert",
        ),
        (
            "import sqlalchemy.dialects.postgresql\nq = sqlalchemy.dialects.postgresql.insert(Job)",
            "sqlalchemy.dialects.postgresql.insert",
        ),
        ("from sqlalchemy import insert, update\nmake = insert if new else update", "sqlalchemy"),
        (
            "def f():\n    from sqlalchemy import text\n    return text('SELECT 1')",
            "sqlalchemy.text",
        ),
        ("q = Job.__table__.delete()", "__table__.delete"),
        (
            "from ridgeline.models.job import Job\nrow = await session.get(Job, job_id)",
            "get(model)",
        ),
        (
            "from ridgeline.models import Store\nrow = await session.get_one(Store, store_id)",
            "get_one(model)",
        ),
        (
            "from ridgeline.models.store import Store\ns.scalar(x) or await s.get(Store, i)",
            "get(model)",
        ),
        (
            "from sqlalchemy.dialects import postgresql, sqlite\n"
            "dialect = postgresql if pg else sqlite\n"
            "q = dialect.insert(Job).on_conflict_do_nothing()",
            "sqlalchemy.dialects",
        ),
    ],
)
def test_the_query_checker_catches(source: str, what: str) -> None:
    assert any(found.startswith(what) for _, found in query_builds(source)), query_builds(source)


@pytest.mark.parametrize(
    "source",
    [
        "values = {}\nvalues.update(name='x')",
        "from sqlalchemy import update\nsettings.update({'a': 1})",
        "await session.delete(store)",
        "from sqlalchemy.ext.asyncio import AsyncSession\nAsyncSession.delete(session, row)",
        "@router.delete('/stores/{store_id}')\nasync def delete_store() -> None: ...",
        "async def delete_store() -> None:\n    await delete_store()",
        "from ridgeline.stores import repository\nawait repository.delete_kiosk(session, kiosk)",
        "from sqlalchemy import String, Text\ncolumn = mapped_column(Text)",
        "from sqlalchemy import Select\ndef f(q: Select[Any]) -> None: ...",
        "text = 'plain'\nprint(text.upper())",
        "from ridgeline.pos import select\nchoice = select(options)",
        "from sqlalchemy import select\nrows = statement.select()",
        "value = headers.get('x-request-id')",
        "from ridgeline.models.job import Job\nkind = KINDS.get(kind_name, Job)",
        "from ridgeline.models.status import ComponentStatus\nx = S.get(ComponentStatus.OK, 0)",
    ],
)
def test_the_query_checker_passes_what_is_not_a_query(source: str) -> None:
    assert query_builds(source) == []
