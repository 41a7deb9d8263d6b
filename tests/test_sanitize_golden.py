"""Both sanitize engines without a database: same rules and catalog rows, same output.

Each case in tests/data/sanitize/golden/NAME/ holds rules.yml, case.json and expected.txt.
case.json names a saved catalog (tests/data/sanitize/catalogs/NAME.json: what
config/sanitize_catalog.sql returns for tests/data/sanitize/schemas/NAME.sql, plus the
search path) and may add environment variables and options. Both engines run as commands
in compile-only mode, `--catalog FILE --rules rules.yml`, from the case's folder; what they
print (exit status, stdout, stderr) must be expected.txt, byte for byte. So engine parity,
the YAML they accept, the SQL they plan and every message they give are checked on a laptop
without PostgreSQL; tests/test_sanitize.py runs the same engines on a real one.

To add a case, write rules.yml and case.json, then run with SANITIZE_GOLDEN_UPDATE=1: the
Python engine writes expected.txt (read the diff before committing it), and the catalogs
are saved again from the schemas on a real PostgreSQL.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers.postgres import create_database
from helpers.sanitize_engines import (
    CATALOG_SQL,
    DATA,
    ENGINES,
    PY_PACKAGE,
    RB_ENGINE,
    guard_cases,
    package_parent,
    run_engine,
)
from helpers.tools import missing, require_tool

GOLDEN = DATA / "golden"
CATALOGS = DATA / "catalogs"
SCHEMAS = DATA / "schemas"
UPDATE = os.environ.get("SANITIZE_GOLDEN_UPDATE") == "1"
CASES = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def python_path(tmp_path_factory) -> Path:
    return package_parent(tmp_path_factory.mktemp("pypath"))


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    if request.param == "ruby":
        require_tool("ruby")
    return request.param


def outcome(engine: str, case: Path, python_path: Path) -> str:
    spec = json.loads((case / "case.json").read_text())
    catalog = os.path.relpath(CATALOGS / f"{spec['catalog']}.json", case)
    result = run_engine(engine, "--catalog", catalog, "--rules", "rules.yml",
                        *spec.get("args", []), python_path=python_path,
                        env=spec.get("env", {}), cwd=case)
    return f"exit {result.returncode}\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("name", CASES)
def test_both_engines_print_the_golden_output(engine, name, python_path):
    case = GOLDEN / name
    printed = outcome(engine, case, python_path)
    expected = case / "expected.txt"
    if UPDATE and engine == "python":
        expected.write_text(printed, encoding="utf-8")
    assert "Traceback" not in printed and "(most recent call" not in printed
    assert printed == expected.read_text(encoding="utf-8")


def test_the_golden_set_covers_every_saved_catalog_and_both_outcomes():
    specs = [json.loads((GOLDEN / n / "case.json").read_text()) for n in CASES]
    assert {s["catalog"] for s in specs} == {p.stem for p in CATALOGS.glob("*.json")}
    endings = [(GOLDEN / n / "expected.txt").read_text().split("\n", 1)[0] for n in CASES]
    assert "exit 0" in endings and "exit 1" in endings


@pytest.mark.parametrize("case", guard_cases(), ids=lambda c: c.id)
def test_both_engines_follow_the_readme_table_of_when_sanitize_runs(case, tmp_path,
                                                                     python_path):
    rules = tmp_path / "sanitize.yml"
    rules.write_text("tables: {}\n")
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"search_path": ["public"], "rows": []}))
    printed = {}
    for engine in ENGINES:
        if engine == "ruby":
            require_tool("ruby")
        result = run_engine(engine, "--catalog", str(catalog), "--rules", str(rules),
                            python_path=python_path, env=case.env)
        printed[engine] = (result.returncode, result.stdout, result.stderr)
        if case.runs:
            assert result.returncode == 0, result.stderr
            assert "-- sanitize plan" in result.stdout
        else:
            assert result.returncode == 1
            assert result.stderr.startswith("sanitize: refusing to run: APP_STAGE is ")
            assert result.stderr.endswith("; nothing was changed.\n")
            assert result.stdout == ""
    assert printed["python"] == printed["ruby"]


def test_neither_engine_holds_a_copy_of_the_catalog_query():
    """The query lives in config/sanitize_catalog.sql, which both engines load."""
    query = CATALOG_SQL.read_text()
    assert "pg_attribute" in query
    for source in [RB_ENGINE, *PY_PACKAGE.glob("*.py")]:
        text = source.read_text()
        assert "pg_attribute" not in text and "pg_class" not in text, source
    assert "sanitize_catalog.sql" in RB_ENGINE.read_text()
    assert "sanitize_catalog.sql" in (PY_PACKAGE / "engine.py").read_text()


@pytest.mark.parametrize("schema", sorted(p.stem for p in SCHEMAS.glob("*.sql")))
def test_the_saved_catalogs_are_what_the_catalog_query_returns(schema, postgres_server):  # noqa: F811
    """The golden cases read catalog rows as config/sanitize_catalog.sql returns them."""
    import psycopg

    url = create_database(postgres_server)
    with psycopg.connect(url, autocommit=True) as conn:
        needed = {"citext": "CREATE EXTENSION citext", "file_fdw": "CREATE EXTENSION file_fdw"}
        text = (SCHEMAS / f"{schema}.sql").read_text()
        for extension, statement in needed.items():
            if statement in text and not conn.execute(
                    "SELECT 1 FROM pg_available_extensions WHERE name = %s",
                    (extension,)).fetchone():
                missing(f"the {extension} extension is not available "
                        "(apt install postgresql-contrib)")
        conn.execute(text)
        cursor = conn.cursor()
        cursor.execute(CATALOG_SQL.read_text(), binary=True)
        rows = [list(r) for r in cursor.fetchall()]
        search_path = conn.execute("SELECT current_schemas(false)::text[]").fetchone()[0]
    saved = {"search_path": search_path, "rows": rows}
    path = CATALOGS / f"{schema}.json"
    if UPDATE:
        lines = ",\n".join(json.dumps(row, ensure_ascii=False) for row in rows)
        path.write_text(f'{{"search_path": {json.dumps(search_path)},\n"rows": [\n{lines}\n]}}\n',
                        encoding="utf-8")
    assert json.loads(path.read_text(encoding="utf-8")) == saved
