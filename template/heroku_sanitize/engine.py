"""Sanitize a PostgreSQL database in place from declarative rules (config/sanitize.yml).

The rules compile into one UPDATE per table (every column at once) plus one TRUNCATE, run
in a single transaction and verified before the commit. lib/heroku_sanitize.rb in Rails
apps is the same engine in Ruby: both emit the same SQL text, so the same rules on the
same database give the same data. Change one, change the other.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

STRATEGIES = ("email", "name", "phone", "address", "hash", "null", "blank", "constant", "keep")
GENERATED = ("email", "name", "phone", "address", "hash")
# Shapes of generated values: prefix, row key, suffix.
SHAPES = {
    "email": ("user", "@example.invalid"),
    "name": ("User ", ""),
    "phone": ("555-", ""),
    "address": ("", " Example Street"),
}
TEXT_TYPES = ("text", "varchar", "bpchar", "citext")
ALLOWED_STAGES = ("staging", "review", "development", "test")

# A column name looks personal when one of its words is in PERSONAL_WORDS or it contains
# one of PERSONAL_PARTS (so "encrypted_password" and "lastName" count, "zipper" does not).
PERSONAL_WORDS = frozenset((
    "name", "ip", "ssn", "dob", "zip", "zipcode", "postcode", "street", "city", "mobile",
    "fax", "iban", "passport",
))
PERSONAL_PARTS = (
    "email", "phone", "passw", "token", "secret", "address", "birth", "surname",
    "firstname", "lastname", "fullname", "username", "nickname",
)

CATALOG_SQL = """\
SELECT n.nspname, c.relname, a.attname, a.attnotnull,
       coalesce(bt.typname, t.typname) AS base_type,
       CASE WHEN coalesce(bt.typname, t.typname) IN ('varchar', 'bpchar')
             AND (CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END) > 4
            THEN (CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END) - 4
       END AS max_length,
       EXISTS (SELECT 1 FROM pg_index i
               WHERE i.indrelid = c.oid AND i.indisunique AND a.attnum = ANY (i.indkey))
         AS is_unique,
       coalesce((SELECT k.ord FROM pg_index i, unnest(i.indkey) WITH ORDINALITY k (attnum, ord)
                 WHERE i.indrelid = c.oid AND i.indisprimary AND k.attnum = a.attnum), 0)
         AS pk_position
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY n.nspname, c.relname, a.attnum"""


class SanitizeError(Exception):
    """Anything that stops the run; the message is meant for the user as it is."""


# --- guard -------------------------------------------------------------------------------

def guard(env: dict[str, str] | None = None) -> str:
    """Refuse production. Returns the stage it allows, in words; raises otherwise.

    APP_STAGE decides, and only a known non-production stage is allowed: the Python apps
    treat an unset or unknown APP_STAGE as production (heroku_env.py), and nothing on
    Heroku sets a framework variable that could tell otherwise.
    """
    env = os.environ if env is None else env
    stage = env.get("APP_STAGE", "").strip()
    if stage in ALLOWED_STAGES:
        return f"APP_STAGE={stage}"
    if stage == "production":
        what = "APP_STAGE is production"
    elif stage:
        what = f"APP_STAGE is {stage!r}, not a known stage, which counts as production"
    else:
        what = "APP_STAGE is unset, which counts as production"
    raise SanitizeError(f"refusing to run: {what}. Sanitize runs on staging, review, "
                        f"development or test databases only: set APP_STAGE to one of "
                        f"{', '.join(ALLOWED_STAGES)} on a database that is not production.")


# --- rules -------------------------------------------------------------------------------

@dataclass
class ColumnRule:
    column: str
    strategy: str
    value: str | None = None  # for constant


@dataclass
class TableRule:
    key: str
    where: str | None
    columns: list[ColumnRule] = field(default_factory=list)


@dataclass
class Rules:
    path: str
    salt: str
    tables: list[TableRule]
    truncate: list[str]


def _scalar_text(value: Any) -> str:
    """A YAML scalar as SQL literal text, the same way Ruby writes it."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def parse_rules(data: Any, path: str, env: dict[str, str] | None = None) -> Rules:
    """Check the rules file's shape; every error names the file and the rule."""
    env = os.environ if env is None else env

    def fail(where: str, message: str) -> SanitizeError:
        return SanitizeError(f"{path}: {where}: {message}")

    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise fail("top level", "expected a mapping with tables:, truncate: and salt:")
    unknown = [str(k) for k in data if k not in ("tables", "truncate", "salt")]
    if unknown:
        raise fail(unknown[0], "unknown key (expected tables, truncate or salt)")
    salt = env.get("SANITIZE_SALT") or data.get("salt") or ""
    if not isinstance(salt, str):
        raise fail("salt", "expected a string")

    tables_data = data.get("tables") or {}
    if not isinstance(tables_data, dict):
        raise fail("tables", "expected a mapping of table name to its rule")
    tables = []
    for key, spec in tables_data.items():
        key = str(key)
        at = f"tables.{key}"
        if not isinstance(spec, dict):
            raise fail(at, "expected a mapping with columns: (and optionally where:)")
        unknown = [str(k) for k in spec if k not in ("columns", "where")]
        if unknown:
            raise fail(f"{at}.{unknown[0]}", "unknown key (expected columns or where)")
        where = spec.get("where")
        if where is not None and (not isinstance(where, str) or not where.strip()):
            raise fail(f"{at}.where", "expected an SQL condition as a string")
        columns_data = spec.get("columns") or {}
        if not isinstance(columns_data, dict):
            raise fail(f"{at}.columns", "expected a mapping of column name to strategy")
        rule = TableRule(key, where.strip() if where else None)
        for column, strategy in columns_data.items():
            column = str(column)
            cat = f"{at}.columns.{column}"
            if strategy is None:
                strategy = "null"
            if isinstance(strategy, dict):
                if list(strategy) != ["constant"]:
                    raise fail(cat, "expected a strategy name or {constant: VALUE}")
                value = strategy["constant"]
                if value is None or isinstance(value, (dict, list)):
                    raise fail(cat, "constant needs a value (use null for NULL)")
                rule.columns.append(ColumnRule(column, "constant", _scalar_text(value)))
                continue
            named = isinstance(strategy, str) and strategy in STRATEGIES
            if not named or strategy == "constant":
                raise fail(cat, f"unknown strategy {strategy!r} (expected one of: "
                                "email, name, phone, address, hash, null, blank, "
                                "{constant: VALUE}, keep)")
            rule.columns.append(ColumnRule(column, strategy))
        tables.append(rule)

    truncate = data.get("truncate") or []
    if not isinstance(truncate, list) or not all(isinstance(t, str) for t in truncate):
        raise fail("truncate", "expected a list of table names")
    return Rules(path, salt, tables, list(truncate))


def load_rules(path: str, env: dict[str, str] | None = None) -> Rules:
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except FileNotFoundError:
        raise SanitizeError(f"{path}: no such rules file") from None
    except yaml.YAMLError as error:
        raise SanitizeError(f"{path}: not valid YAML: {error}") from None
    return parse_rules(data, path, env)


# --- catalog -----------------------------------------------------------------------------

@dataclass
class Column:
    name: str
    not_null: bool
    base_type: str
    max_length: int | None
    unique: bool
    pk_position: int


@dataclass
class Table:
    schema: str
    name: str
    columns: dict[str, Column] = field(default_factory=dict)

    @property
    def qualified(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"

    @property
    def label(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def primary_key(self) -> list[str]:
        keyed = [c for c in self.columns.values() if c.pk_position]
        return [c.name for c in sorted(keyed, key=lambda c: c.pk_position)]


def read_catalog(rows: list[tuple]) -> dict[tuple[str, str], Table]:
    tables: dict[tuple[str, str], Table] = {}
    for schema, name, column, not_null, base_type, max_length, unique, pk_position in rows:
        table = tables.setdefault((schema, name), Table(schema, name))
        table.columns[column] = Column(column, bool(not_null), base_type,
                                       int(max_length) if max_length is not None else None,
                                       bool(unique), int(pk_position or 0))
    return tables


def looks_personal(column: str) -> bool:
    snake = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", column).lower()
    words = [w for w in re.split(r"[^a-z0-9]+", snake) if w]
    return any(w in PERSONAL_WORDS for w in words) or any(p in snake for p in PERSONAL_PARTS)


# --- SQL ---------------------------------------------------------------------------------

def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass
class Step:
    """One table's work: count, change, verify; in the order the rules file gives."""
    label: str
    kind: str  # "update" or "truncate"
    count_sql: str
    change_sql: str
    verify_sql: str
    checks: list[str]  # what each verify count after the first means, for the message


@dataclass
class Plan:
    steps: list[Step]
    uncovered: list[str]

    def sql(self) -> str:
        lines = []
        for step in self.steps:
            lines += [step.count_sql + ";", step.change_sql + ";", step.verify_sql + ";"]
        return "\n".join(lines) + "\n"


def resolve(tables: dict[tuple[str, str], Table], key: str, search_path: list[str],
            path: str, at: str) -> Table:
    if "." in key:
        schema, name = key.split(".", 1)
        if (schema, name) in tables:
            return tables[(schema, name)]
    else:
        for schema in search_path:
            if (schema, key) in tables:
                return tables[(schema, key)]
    where = "" if "." in key else f" (search path: {', '.join(search_path) or 'empty'})"
    raise SanitizeError(f"{path}: {at}: no table {key} in the database{where}")


def column_expression(rule: ColumnRule, column: Column, table: Table, key_columns: list[str],
                      salt: str, path: str, at: str) -> tuple[str, str | None]:
    """The SET expression for one column, and the verify condition that counts failures.

    Values derive from the row's primary key when the table has one and the column is not
    part of it: stable across reruns, unique, and cheap to index (they arrive in key order).
    Otherwise from an md5 of the salt and the value, which keeps distinct values distinct;
    those are checked in the statement itself, since the original is gone afterwards.
    """
    col = quote_ident(column.name)
    strategy = rule.strategy
    text_like = column.base_type in TEXT_TYPES
    if (strategy in GENERATED or strategy == "blank") and not text_like:
        raise SanitizeError(f"{path}: {at}: {strategy} needs a text column, "
                            f"{table.label}.{column.name} is {column.base_type} "
                            "(use null, constant or keep)")
    if strategy == "null":
        if column.not_null:
            raise SanitizeError(f"{path}: {at}: {table.label}.{column.name} is NOT NULL "
                                "(use blank, constant or a generated strategy)")
        return "NULL", f"{col} IS NOT NULL"
    if strategy in ("blank", "constant"):
        if column.unique:
            raise SanitizeError(f"{path}: {at}: {table.label}.{column.name} is unique, so "
                                f"{strategy} would repeat one value (use email, name, phone, "
                                "address, hash or null)")
        literal = "''" if strategy == "blank" else quote_literal(rule.value or "")
        return (f"CASE WHEN {col} IS NULL THEN NULL ELSE {literal} END",
                f"{col} IS NOT NULL AND {col} IS DISTINCT FROM {literal}")

    limit = column.max_length
    if limit is not None and column.unique and limit < 16:
        raise SanitizeError(f"{path}: {at}: {table.label}.{column.name} is unique and holds "
                            f"only {limit} characters, too few for a unique replacement")
    digest = f"md5({quote_literal(salt)} || {col}::text)"
    by_key = strategy != "hash" and bool(key_columns)
    if strategy == "hash":
        value = digest
    else:
        if by_key:
            key = " || '-' || ".join(f"{quote_ident(k)}::text" for k in key_columns)
        else:
            key = f"left({digest}, 16)"
        prefix, suffix = SHAPES[strategy]
        parts = ([quote_literal(prefix)] if prefix else []) + [key] + (
            [quote_literal(suffix)] if suffix else [])
        value = " || ".join(parts)
    if limit is not None:
        value = f"left({value}, {limit})"
    if by_key:
        return (f"CASE WHEN {col} IS NULL THEN NULL ELSE {value} END",
                f"{col} IS NOT NULL AND {col}::text IS DISTINCT FROM {value}")
    # No key to recompute from afterwards: fail the statement if a value came out unchanged.
    message = quote_literal(f"sanitize: {table.label}.{column.name} kept an original value")
    failure = f"CAST(CAST(left({col}::text, 0) || {message} AS integer) AS text)"
    guarded = (f"CASE WHEN {col} IS NULL THEN NULL "
               f"ELSE coalesce(nullif({value}, {col}::text), {failure}) END")
    return guarded, None


def compile_plan(rules: Rules, tables: dict[tuple[str, str], Table],
                 search_path: list[str]) -> Plan:
    path = rules.path
    steps: list[Step] = []
    covered: set[tuple[str, str, str]] = set()
    truncated: set[tuple[str, str]] = set()
    seen: dict[tuple[str, str], str] = {}

    emptied: list[Table] = []
    for index, key in enumerate(rules.truncate):
        table = resolve(tables, key, search_path, path, f"truncate[{index}] ({key})")
        if (table.schema, table.name) not in truncated:
            truncated.add((table.schema, table.name))
            emptied.append(table)

    for rule in rules.tables:
        at = f"tables.{rule.key}"
        table = resolve(tables, rule.key, search_path, path, at)
        ident = (table.schema, table.name)
        if ident in truncated:
            raise SanitizeError(f"{path}: {at}: {table.label} is also in truncate:, "
                                "choose one")
        if ident in seen:
            raise SanitizeError(f"{path}: {at}: {table.label} already has a rule "
                                f"(tables.{seen[ident]})")
        seen[ident] = rule.key
        changed = {c.column for c in rule.columns if c.strategy != "keep"}
        # The primary key names each row, unless a rule changes it.
        key_columns = [] if changed & set(table.primary_key) else table.primary_key
        assignments, checks, labels = [], [], []
        for column_rule in rule.columns:
            cat = f"{at}.columns.{column_rule.column}"
            column = table.columns.get(column_rule.column)
            if column is None:
                raise SanitizeError(f"{path}: {cat}: no column {column_rule.column} in "
                                    f"{table.label} (it has: {', '.join(table.columns)})")
            covered.add((table.schema, table.name, column.name))
            if column_rule.strategy == "keep":
                continue
            expression, check = column_expression(column_rule, column, table, key_columns,
                                                   rules.salt, path, cat)
            assignments.append(f"{quote_ident(column.name)} = {expression}")
            if check:
                checks.append(check)
                labels.append(column.name)
        if not assignments:
            continue
        where = f" WHERE ({rule.where})" if rule.where else ""
        scope = f"({rule.where}) AND " if rule.where else ""
        counts = "".join(f", count(*) FILTER (WHERE {scope}{check})" for check in checks)
        steps.append(Step(
            label=table.label, kind="update",
            count_sql=f"SELECT count(*) FROM {table.qualified}",
            change_sql=f"UPDATE {table.qualified} SET {', '.join(assignments)}{where}",
            verify_sql=f"SELECT count(*){counts} FROM {table.qualified}",
            checks=labels))

    if emptied:
        # One statement, so tables that reference each other empty together.
        counts = ", ".join(f"(SELECT count(*) FROM {t.qualified})" for t in emptied)
        steps.append(Step(
            label=", ".join(t.label for t in emptied), kind="truncate",
            count_sql=f"SELECT {counts}",
            change_sql=f"TRUNCATE TABLE {', '.join(t.qualified for t in emptied)}",
            verify_sql=f"SELECT {counts}",
            checks=[t.label for t in emptied]))

    uncovered = [
        f"{table.label}.{column.name}"
        for (schema, name), table in sorted(tables.items())
        if (schema, name) not in truncated
        for column in table.columns.values()
        if looks_personal(column.name) and (schema, name, column.name) not in covered
    ]
    return Plan(steps, uncovered)


# --- running -----------------------------------------------------------------------------

def _fetch(cursor, sql: str) -> list[tuple]:
    cursor.execute(sql)
    return cursor.fetchall()


def plan_for(connection, rules: Rules, allow_uncovered: bool = False) -> Plan:
    cursor = connection.cursor()
    tables = read_catalog(_fetch(cursor, CATALOG_SQL))
    search_path = list(_fetch(cursor, "SELECT current_schemas(false)")[0][0])
    plan = compile_plan(rules, tables, search_path)
    if plan.uncovered and not allow_uncovered:
        raise SanitizeError(
            f"{rules.path}: these columns look personal and no rule covers them: "
            f"{', '.join(plan.uncovered)}. Add a strategy for each, or `keep` once reviewed "
            "(--allow-uncovered runs anyway).")
    return plan


def run(connection, rules: Rules, *, allow_uncovered: bool = False, dry_run: bool = False,
        out: TextIO | None = None, env: dict[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic) -> Plan:
    """Sanitize through a DB-API connection (psycopg 3 or psycopg2), all or nothing."""
    import sys

    out = out or sys.stdout
    allowed = guard(env)
    started = clock()
    # Django hands over connections in autocommit; one transaction needs it off.
    autocommit = getattr(connection, "autocommit", False)
    if autocommit:
        connection.autocommit = False
    try:
        plan = plan_for(connection, rules, allow_uncovered)
        if plan.uncovered:
            print(f"sanitize: not covered, allowed: {', '.join(plan.uncovered)}", file=out,
                  flush=True)
        if dry_run:
            out.write(plan.sql())
            connection.rollback()
            return plan
        print(f"sanitize: {allowed}; {len(plan.steps)} tables, one transaction", file=out,
              flush=True)
        cursor = connection.cursor()
        for step in plan.steps:
            began = clock()
            before = _fetch(cursor, step.count_sql)[0]
            cursor.execute(step.change_sql)
            changed = cursor.rowcount
            after = _fetch(cursor, step.verify_sql)[0]
            elapsed = clock() - began
            if step.kind == "truncate":
                _verify_truncate(step, after)
                for label, count in zip(step.checks, before):
                    print(f"sanitize: {label}: truncated {count} rows in {elapsed:.2f}s",
                          file=out)
            else:
                _verify_update(step, before[0], after)
                print(f"sanitize: {step.label}: updated {changed} of {before[0]} rows "
                      f"in {elapsed:.2f}s", file=out, flush=True)
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    finally:
        if autocommit:
            connection.autocommit = True
    print(f"sanitize: committed and verified in {clock() - started:.2f}s", file=out, flush=True)
    return plan


def _verify_truncate(step: Step, after: tuple) -> None:
    left = [f"{label} ({count} rows)" for label, count in zip(step.checks, after) if count]
    if left:
        raise SanitizeError(f"verification failed: rows left after TRUNCATE in "
                            f"{', '.join(left)}; nothing was changed")


def _verify_update(step: Step, before: int, verified: tuple) -> None:
    after, *failures = verified
    if after != before:
        raise SanitizeError(f"verification failed: {step.label} had {before} rows and now "
                            f"has {after}; nothing was changed")
    bad = [f"{column} ({count} rows)" for column, count in zip(step.checks, failures) if count]
    if bad:
        raise SanitizeError(f"verification failed: {step.label}: values not replaced as the "
                            f"rules say in {', '.join(bad)}; nothing was changed")


def connect(database_url: str):
    """A connection from psycopg 3, or psycopg2 when that is what the app has."""
    try:
        import psycopg
    except ImportError:
        import psycopg2

        return psycopg2.connect(database_url)
    return psycopg.connect(database_url)
