"""Sanitize a PostgreSQL database in place from declarative rules (config/sanitize.yml).

The rules compile into set-based SQL: one UPDATE per table (every column at once), or in
offline mode one ALTER TABLE that rewrites the table whole, plus one TRUNCATE; all of it
runs in a single transaction, checked before the first write and verified before the
commit. lib/heroku_sanitize.rb in Rails apps is the same engine in Ruby: both read the
catalog with config/sanitize_catalog.sql, accept the same YAML, print the same SQL and the
same messages. Change one, change the other; tests/data/sanitize/golden holds them equal.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

STRATEGIES = ("email", "name", "phone", "address", "hash", "null", "blank", "constant", "keep")
GENERATED = ("email", "name", "phone", "address")
# Shapes of generated values, (prefix, suffix) around the row key: the full shape first,
# then the compact one used when a length limit leaves no room for the full one.
FORMS = {
    "email": (("user", "@example.invalid"), ("u", "@x.invalid")),
    "name": (("User ", ""), ("", "")),
    "phone": (("555-", ""), ("", "")),
    "address": (("", " Example Street"), ("", "")),
}
# Longest text of an integer key, so a limit that fits it needs no fallback.
KEY_TEXT_LENGTH = {"int2": 6, "int4": 11, "int8": 20}
TEXT_TYPES = ("text", "varchar", "bpchar", "citext")
# Columns whose values the content check reads: text, JSON, and arrays of them.
SCAN_TYPES = TEXT_TYPES + ("json", "jsonb", "xml", "_text", "_varchar", "_bpchar",
                           "_citext", "_json", "_jsonb")
ALLOWED_STAGES = ("staging", "review", "development", "test")
PRODUCTION_STAGES = ("production", "prod")
MODES = ("online", "offline")
MIN_SALT = 16
MIN_UNIQUE_DIGEST = 8  # hex digits of md5 that must fit where a unique value is hashed
SAMPLE_ROWS = 10000
# A rewrite rebuilds the table's indexes; sorting them in memory saves a fifth to two
# fifths of its time on a million rows. Raised for the run's transaction, never lowered.
REWRITE_MEMORY = (
    "SELECT set_config('maintenance_work_mem', CASE WHEN pg_size_bytes(current_setting("
    "'maintenance_work_mem')) < pg_size_bytes('256MB') THEN '256MB' ELSE current_setting("
    "'maintenance_work_mem') END, true)")
CATALOG_FILE = "sanitize_catalog.sql"

# A column name looks personal when one of its words is in PERSONAL_WORDS (or, for text
# columns, TEXT_WORDS), or its words run together contain one of PERSONAL_PARTS: so
# "e_mail", "postalCode" and "encrypted_password" count, "zipper" and "hotel" do not. The
# list follows PostgreSQL Anonymizer's identifier dictionary and the usual PII scanners.
PERSONAL_WORDS = frozenset((
    "name", "names", "ip", "ipv4", "ipv6", "ssn", "sin", "nin", "nino", "dob", "zip",
    "postcode", "postal", "street", "city", "mobile", "cell", "tel", "fax", "mail", "iban",
    "bic", "passport", "lat", "lng", "lon", "geo", "gps", "coords", "coordinates",
    "msisdn", "imei", "cvv", "cvc", "ccn",
))
TEXT_WORDS = frozenset(("login", "user"))
PERSONAL_PARTS = (
    "email", "phone", "passw", "token", "secret", "address", "birth", "surname",
    "firstname", "lastname", "fullname", "middlename", "maidenname", "username",
    "nickname", "zipcode", "postcode", "postalcode", "creditcard", "cardnumber", "cardno",
    "iban", "passport", "nationalid", "nationalidentity", "socialsecurity", "taxnumber",
    "useragent", "ipaddr", "macaddr", "latitude", "longitude", "geolocation", "driverlicen",
)
PERSONAL_TYPES = frozenset(("inet", "macaddr", "macaddr8"))

# What the content check looks for, as PostgreSQL regular expressions. E-mail addresses at
# reserved domains (example.com, *.invalid, *.test ...) are what sanitize writes, not
# personal data.
_ADDR = "[^][:space:]@<>()[,;:\"'`\\\\/]"
_LABEL = "[^][:space:]@<>()[,;:\"'`\\\\/.]"
EMAIL_PATTERN = (
    f"(?i){_ADDR}+@(?!(?:{_LABEL}+\\.)*(?:example\\.(?:com|net|org)|invalid|test|example|"
    f"localhost)(?!{_ADDR}))(?:{_LABEL}+\\.)+[[:alpha:]]{{2,}}")
PHONE_PATTERN = (
    "\\+[0-9][0-9 ().-]{6,20}[0-9]"
    "|\\(?[2-9][0-9]{2}\\)?[ .-][0-9]{3}[ .-][0-9]{4}"
    "|(?:^|\")0[0-9]{1,4}[ ().-][0-9 ().-]{5,14}[0-9](?:\"|$)")
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_HEX = "[0-9A-Fa-f]{1,4}"
IP_PATTERN = (
    f"(?<![0-9.])(?:{_OCTET}\\.){{3}}{_OCTET}(?![0-9.])"
    f"|(?<![0-9A-Fa-f:])(?:{_HEX}:){{7}}{_HEX}(?![0-9A-Fa-f:])"
    f"|(?<![0-9A-Fa-f:]){_HEX}(?::{_HEX}){{1,6}}::(?:{_HEX}(?::{_HEX}){{0,5}})?"
    "(?![0-9A-Fa-f:])")
CARD_PATTERN = "(?<![0-9])[3-6][0-9](?:[ -]?[0-9]){11,17}(?![0-9])"
FINDINGS = ("e-mail addresses", "phone numbers", "IP addresses", "card numbers")


class SanitizeError(Exception):
    """Anything that stops the run: one sentence for the user, without its ending.

    The command prints it as `sanitize: MESSAGE; nothing was changed.`, which is true of
    every failure but a connection lost during the commit (`unsure`).
    """

    def __init__(self, message: str, unsure: bool = False):
        super().__init__(message)
        self.unsure = unsure


def sentence(error: SanitizeError) -> str:
    if error.unsure:
        return f"sanitize: {error}."
    return f"sanitize: {error}; nothing was changed."


# --- guard -------------------------------------------------------------------------------

def guard(env: dict[str, str] | None = None) -> str:
    """Refuse production. Returns the stage it allows, in words; raises otherwise.

    APP_STAGE alone decides, on every stack: only a known non-production stage, written
    as the setup script writes it, is allowed. Framework variables (RAILS_ENV, ...) cannot
    vouch for a database: staging runs RAILS_ENV=production, and an unset APP_STAGE counts
    as production, as the apps themselves count it.
    """
    env = os.environ if env is None else env
    stage = env.get("APP_STAGE", "").strip()
    if stage in ALLOWED_STAGES:
        return f"APP_STAGE={stage}"
    if not stage:
        what = "APP_STAGE is unset, which counts as production"
    elif stage == "production":
        what = "APP_STAGE is production"
    elif stage.lower() in PRODUCTION_STAGES:
        what = f"APP_STAGE is {quote_text(stage)}, which means production"
    else:
        what = f"APP_STAGE is {quote_text(stage)}, not a known stage, which counts as production"
    raise SanitizeError(f"refusing to run: {what} (sanitize runs only where APP_STAGE is "
                        f"{', '.join(ALLOWED_STAGES[:-1])} or {ALLOWED_STAGES[-1]})")


def quote_text(text: str) -> str:
    """A value inside a message: single-quoted, the same way in both engines."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


# --- the YAML subset ---------------------------------------------------------------------
#
# Both engines read YAML through libyaml's events and build the data themselves, so they
# accept the same files and read them the same way: mappings, sequences, anchors and
# aliases; every scalar is text as written (`2020-01-01`, `yes` and `007` stay text, for
# the column's type to read), except a plain empty, `~` or `null`, which is null. Tags
# other than !!str, merge keys (<<) and duplicate keys are refused.

_STR = "tag:yaml.org,2002:str"
_NULLS = ("", "~", "null", "Null", "NULL")
_MAX_NODES = 100000


def parse_yaml(text: str, path: str) -> Any:
    import yaml

    loader = getattr(yaml, "CBaseLoader", None) or yaml.BaseLoader
    try:
        events = list(yaml.parse(text, Loader=loader))
    except yaml.MarkedYAMLError as error:
        mark = error.context_mark if error.context else error.problem_mark
        problem = " ".join(p for p in (error.problem, error.context) if p)
        raise SanitizeError(f"{path}: not valid YAML at line {mark.line + 1}, column "
                            f"{mark.column + 1}: {problem}") from None
    except yaml.YAMLError as error:
        raise SanitizeError(f"{path}: not valid YAML: {error}") from None
    builder = _YamlBuilder(path)
    documents = []
    position = 0
    while position < len(events):
        if type(events[position]).__name__ == "DocumentStartEvent":
            value, position = builder.node(events, position + 1)
            documents.append(value)
        position += 1
    if len(documents) > 1:
        raise SanitizeError(f"{path}: holds {len(documents)} YAML documents (---), "
                            "the rules take one")
    return documents[0] if documents else None


class _YamlBuilder:
    def __init__(self, path: str):
        self.path = path
        self.anchors: dict[str, tuple[list, int]] = {}
        self.active: set[str] = set()
        self.count = 0

    def fail(self, event, message: str) -> SanitizeError:
        mark = event.start_mark
        return SanitizeError(f"{self.path}: not valid YAML at line {mark.line + 1}, column "
                             f"{mark.column + 1}: {message}")

    def node(self, events: list, position: int) -> tuple[Any, int]:
        """The value of the node at events[position], and the position of its last event."""
        event = events[position]
        kind = type(event).__name__
        self.count += 1
        if self.count > _MAX_NODES:
            raise SanitizeError(f"{self.path}: expands to more than {_MAX_NODES} YAML nodes")
        if kind == "AliasEvent":
            if event.anchor not in self.anchors:
                raise self.fail(event, "found undefined alias")
            if event.anchor in self.active:
                raise self.fail(event, "an alias refers to the node that contains it")
            source, start = self.anchors[event.anchor]
            self.active.add(event.anchor)
            value, _ = self.node(source, start)
            self.active.discard(event.anchor)
            return value, position
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self.anchors[anchor] = (events, position)
            self.active.add(anchor)
        tag = event.tag
        if kind == "ScalarEvent":
            if tag not in (None, _STR):
                raise self.fail(event, f"the tag {tag} is not supported (write the value "
                                       "as plain text)")
            value = event.value
            if tag is None and event.style in (None, "") and value in _NULLS:
                value = None
            end = position
        elif kind == "SequenceStartEvent":
            if tag not in (None, "tag:yaml.org,2002:seq"):
                raise self.fail(event, f"the tag {tag} is not supported")
            value = []
            position += 1
            while type(events[position]).__name__ != "SequenceEndEvent":
                item, position = self.node(events, position)
                value.append(item)
                position += 1
            end = position
        else:  # MappingStartEvent
            if tag not in (None, "tag:yaml.org,2002:map"):
                raise self.fail(event, f"the tag {tag} is not supported")
            value = {}
            position += 1
            while type(events[position]).__name__ != "MappingEndEvent":
                key_event = events[position]
                key, position = self.node(events, position + 0)
                if not isinstance(key, str):
                    raise self.fail(key_event, "a key must be plain text")
                plain = type(key_event).__name__ == "ScalarEvent" and key_event.style in (None, "")
                if key == "<<" and plain:
                    raise self.fail(key_event, "merge keys (<<) are not supported (repeat "
                                               "the keys, or alias the whole mapping)")
                if key in value:
                    raise self.fail(key_event, f"duplicate key {key}")
                item, position = self.node(events, position + 1)
                value[key] = item
                position += 1
            end = position
        if anchor is not None:
            self.active.discard(anchor)
        return value, end


# --- rules -------------------------------------------------------------------------------

@dataclass
class ColumnRule:
    column: str
    strategy: str
    value: str | None = None  # for constant
    reason: str | None = None  # for keep: why the column is kept on purpose


@dataclass
class TableRule:
    key: str
    where: str | None
    columns: list[ColumnRule] = field(default_factory=list)
    where_has_subquery: bool = False


@dataclass
class Rules:
    path: str
    salt: str
    tables: list[TableRule]
    truncate: list[str]


def parse_rules(data: Any, path: str, env: dict[str, str] | None = None) -> Rules:
    """Check the rules file's shape; every error names the file and the rule."""
    env = os.environ if env is None else env

    def fail(where: str, message: str) -> SanitizeError:
        return SanitizeError(f"{path}: {where}: {message}")

    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise fail("top level", "expected a mapping with tables:, truncate: and salt:")
    unknown = [k for k in data if k not in ("tables", "truncate", "salt")]
    if unknown:
        raise fail(unknown[0], "unknown key (expected tables, truncate or salt)")
    salt = env.get("SANITIZE_SALT") or data.get("salt") or ""
    if not isinstance(salt, str):
        raise fail("salt", "expected text")

    tables_data = data.get("tables") or {}
    if not isinstance(tables_data, dict):
        raise fail("tables", "expected a mapping of table name to its rule")
    tables = []
    for key, spec in tables_data.items():
        at = f"tables.{key}"
        if not isinstance(spec, dict):
            raise fail(at, "expected a mapping with columns: (and optionally where:)")
        unknown = [k for k in spec if k not in ("columns", "where")]
        if unknown:
            raise fail(f"{at}.{unknown[0]}", "unknown key (expected columns or where)")
        where = spec.get("where")
        if where is not None and (not isinstance(where, str) or not where.strip()):
            raise fail(f"{at}.where", "expected an SQL condition as text")
        subquery = False
        if where is not None:
            problem, subquery = check_where(where)
            if problem:
                raise fail(f"{at}.where", f"{problem} (where: takes one SQL condition)")
        columns_data = spec.get("columns") or {}
        if not isinstance(columns_data, dict):
            raise fail(f"{at}.columns", "expected a mapping of column name to strategy")
        rule = TableRule(key, where.strip() if where else None, where_has_subquery=subquery)
        for column, strategy in columns_data.items():
            cat = f"{at}.columns.{column}"
            if strategy is None:
                strategy = "null"
            if isinstance(strategy, dict):
                if len(strategy) != 1 or next(iter(strategy)) not in ("constant", "keep"):
                    raise fail(cat, "expected a strategy name, {constant: VALUE} or "
                                    "{keep: REASON}")
                name, value = next(iter(strategy.items()))
                if name == "constant":
                    if not isinstance(value, str):
                        raise fail(cat, "constant needs one value as text (use null for NULL)")
                    rule.columns.append(ColumnRule(column, "constant", value))
                else:
                    if not isinstance(value, str) or not value.strip():
                        raise fail(cat, "keep: needs the reason the column is safe to keep")
                    rule.columns.append(ColumnRule(column, "keep", reason=value.strip()))
                continue
            named = isinstance(strategy, str) and strategy in STRATEGIES
            if not named or strategy == "constant":
                shown = quote_text(strategy) if isinstance(strategy, str) else "a list"
                raise fail(cat, f"unknown strategy {shown} (expected one of: email, name, "
                                "phone, address, hash, null, blank, {constant: VALUE}, keep, "
                                "{keep: REASON})")
            rule.columns.append(ColumnRule(column, strategy))
        tables.append(rule)

    truncate = data.get("truncate") or []
    if not isinstance(truncate, list) or not all(isinstance(t, str) for t in truncate):
        raise fail("truncate", "expected a list of table names")
    return Rules(path, salt, tables, list(truncate))


def load_rules(path: str, env: dict[str, str] | None = None) -> Rules:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise SanitizeError(f"{path}: no such rules file") from None
    except OSError as error:
        raise SanitizeError(f"{path}: cannot read the rules file ({error.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SanitizeError(f"{path}: not UTF-8 text") from None
    return parse_rules(parse_yaml(text, path), path, env)


_IDENT_CHAR = re.compile(r"[A-Za-z0-9_$]")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


def check_where(text: str) -> tuple[str | None, bool]:
    """Whether a where: text is one condition: (the problem or None, has a subquery).

    It is read as PostgreSQL reads it, quoted strings and names included, so that a
    semicolon, a comment or an unbalanced parenthesis outside them is refused: together
    with the extended protocol, which runs one statement only, a condition cannot carry a
    second statement. A subquery keeps the table off the rewrite (ALTER TABLE refuses it).
    """
    depth = 0
    subquery = False
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        previous = text[i - 1] if i else ""
        if ch == "'":
            escapes = previous in ("E", "e") and (i < 2 or not _IDENT_CHAR.match(text[i - 2]))
            i += 1
            while True:
                if i >= n:
                    return "a quoted string is not closed", subquery
                if escapes and text[i] == "\\":
                    i += 2
                    continue
                if text[i] == "'":
                    if i + 1 < n and text[i + 1] == "'":
                        i += 2
                        continue
                    break
                i += 1
        elif ch == '"':
            i += 1
            while True:
                if i >= n:
                    return "a quoted name is not closed", subquery
                if text[i] == '"':
                    if i + 1 < n and text[i + 1] == '"':
                        i += 2
                        continue
                    break
                i += 1
        elif ch == "$" and not _IDENT_CHAR.match(previous or " "):
            tag = _DOLLAR.match(text, i)
            if tag:
                close = text.find(tag.group(0), tag.end())
                if close < 0:
                    return "a dollar-quoted string is not closed", subquery
                i = close + len(tag.group(0))
                continue
        elif text.startswith("--", i) or text.startswith("/*", i):
            return "a comment is not allowed", subquery
        elif ch == ";":
            return "a semicolon ends the condition", subquery
        elif ch == "(":
            depth += 1
        elif ch == ")":
            if depth == 0:
                return "a parenthesis closes that was not opened", subquery
            depth -= 1
        elif _WORD.match(ch) and not _IDENT_CHAR.match(previous or " "):
            word = _WORD.match(text, i).group(0)
            if word.lower() in ("select", "values", "table"):
                subquery = True
            i += len(word)
            continue
        i += 1
    if depth:
        return "a parenthesis is not closed", subquery
    return None, subquery


# --- catalog -----------------------------------------------------------------------------

@dataclass
class Column:
    name: str
    not_null: bool
    base_type: str
    sql_type: str
    max_length: int | None
    unique: bool
    pk_position: int
    generated: bool
    collation: str | None
    rewrite_blocker: str | None


@dataclass
class Table:
    """A relation that holds rows: a table (r), a partitioned table (p), a materialized
    view (m) or a foreign table (f)."""
    schema: str
    name: str
    kind: str = "r"
    populated: bool = True
    refresh_level: int = 0
    has_children: bool = False
    columns: dict[str, Column] = field(default_factory=dict)

    @property
    def qualified(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"

    @property
    def only(self) -> str:
        """The table in a FROM, UPDATE or TRUNCATE, without its inheritance children."""
        return f"ONLY {self.qualified}" if self.has_children else self.qualified

    @property
    def label(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def primary_key(self) -> list[str]:
        keyed = [c for c in self.columns.values() if c.pk_position]
        return [c.name for c in sorted(keyed, key=lambda c: c.pk_position)]

    @property
    def what(self) -> str:
        return {"r": "table", "p": "partitioned table", "m": "materialized view",
                "f": "foreign table"}.get(self.kind, "relation")


def catalog_sql() -> str:
    """The catalog query, config/sanitize_catalog.sql beside this package."""
    path = Path(__file__).resolve().parent.parent / "config" / CATALOG_FILE
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        raise SanitizeError(f"{path}: missing (it comes with the template: run copier "
                            "update)") from None


def _flag(value: Any) -> bool:
    return value in (True, "t", "true")


def read_catalog(rows: list) -> dict[tuple[str, str], Table]:
    tables: dict[tuple[str, str], Table] = {}
    for row in rows:
        (schema, name, kind, column, not_null, base_type, sql_type, max_length, unique,
         pk_position, generated, collation, blocker, populated, level, children) = row
        table = tables.get((schema, name))
        if table is None:
            table = tables[(schema, name)] = Table(
                schema, name, kind, _flag(populated), int(level or 0), _flag(children))
        table.columns[column] = Column(
            column, _flag(not_null), base_type, sql_type,
            int(max_length) if max_length is not None else None, _flag(unique),
            int(pk_position or 0), _flag(generated), collation, blocker)
    return tables


def looks_personal(column: str, base_type: str = "text") -> bool:
    if base_type in PERSONAL_TYPES:
        return True
    snake = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", column).lower()
    words = [w for w in re.split(r"[^a-z0-9]+", snake) if w]
    joined = "".join(words)
    text_like = base_type in TEXT_TYPES
    return (any(w in PERSONAL_WORDS or (text_like and w in TEXT_WORDS) for w in words)
            or any(p in joined for p in PERSONAL_PARTS))


def mask(example: str) -> str:
    """An example value for a message: its shape, not its content."""
    if len(example) <= 2:
        return re.sub(r"[A-Za-z0-9]", "*", example)
    return example[0] + re.sub(r"[A-Za-z0-9]", "*", example[1:-1]) + example[-1]


# --- SQL ---------------------------------------------------------------------------------

def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _luhn(value: str) -> str:
    digits = f"reverse(regexp_replace({value}, '[^0-9]', '', 'g'))"
    return (f"(SELECT sum(CASE WHEN i % 2 = 0 THEN (2 * d) / 10 + (2 * d) % 10 ELSE d END) "
            f"% 10 = 0 FROM (SELECT i, substr(r, i, 1)::integer AS d FROM (SELECT {digits} "
            "AS r) x, generate_series(1, length(r)) i) y)")


def scan_sql(parts: list[tuple[Table, list[Column]]], limit: int | None) -> str:
    """One query that finds, per column, an example of each kind of personal value: a row
    per table, (its number, an array of four examples or NULLs per column)."""
    patterns = ", ".join(quote_literal(p) for p in (EMAIL_PATTERN, PHONE_PATTERN, IP_PATTERN,
                                                    CARD_PATTERN))
    branches = []
    for number, (table, columns) in enumerate(parts, 1):
        picks, results = [], []
        for index, column in enumerate(columns, 1):
            value = f"t.{quote_ident(column.name)}::text"
            e, p, i, c = (f"e{index}", f"p{index}", f"i{index}", f"c{index}")
            picks += [f"substring({value} FROM sanitize_patterns.email_re) AS {e}",
                      f"substring({value} FROM sanitize_patterns.phone_re) AS {p}",
                      f"substring({value} FROM sanitize_patterns.ip_re) AS {i}",
                      f"substring({value} FROM sanitize_patterns.card_re) AS {c}"]
            results += [f"min({e})",
                        (f"min(CASE WHEN length(regexp_replace({p}, '[^0-9]', '', 'g')) "
                         f"BETWEEN 8 AND 15 THEN {p} END)"),
                        f"min({i})",
                        f"min(CASE WHEN {c} IS NULL THEN NULL WHEN {_luhn(c)} THEN {c} END)"]
        sample = f" LIMIT {limit}" if limit else ""
        branches.append(f"SELECT {number}, ARRAY[{', '.join(results)}] FROM (SELECT "
                        f"{', '.join(picks)} FROM {table.only} AS t, sanitize_patterns"
                        f"{sample}) s")
    return ("WITH sanitize_patterns (email_re, phone_re, ip_re, card_re) AS (VALUES "
            f"({patterns}))\n" + "\nUNION ALL\n".join(branches))


@dataclass
class Scan:
    """The content check over some tables: which columns of which table, and its SQL."""
    parts: list[tuple[Table, list[Column]]]
    sql: str


@dataclass
class Check:
    """A read before any write: its SQL, what it checks (for a database error), and what
    a non-NULL first value means."""
    sql: str
    at: str
    subject: str
    finding: str | None = None


@dataclass
class Step:
    """One table's work: count, change, verify; in the order the rules file gives."""
    label: str
    at: str
    kind: str  # "update", "rewrite" or "truncate"
    count_sql: str
    change_sql: str
    verify_sql: str
    checks: list[str]  # what each verify count after the first means, for the message
    note: str | None = None
    analyze_sql: str | None = None
    where: bool = False


@dataclass
class Plan:
    mode: str
    casts: list[Check]
    steps: list[Step]
    unique_checks: list[Check]
    refreshes: list[tuple[str, str]]
    prescan: Scan | None
    postscan: Scan | None
    uncovered: list[str]
    settings: list[str] = field(default_factory=list)

    def sql(self) -> str:
        """Every statement, in the order a run sends them."""
        lines = [f"-- sanitize plan, {self.mode} mode: checks before any change"]
        lines += [c.sql + ";" for c in self.casts]
        lines += [s.count_sql + ";" for s in self.steps]
        lines += [c.sql + ";" for c in self.unique_checks]
        lines += [self.prescan.sql + ";"] if self.prescan else []
        lines.append("-- changes, each verified")
        lines += [sql + ";" for sql in self.settings]
        for step in self.steps:
            if step.note:
                lines.append(f"-- {step.note}")
            lines += [step.change_sql + ";", step.verify_sql + ";"]
        lines += [sql + ";" for _, sql in self.refreshes]
        lines.append("-- what no rule changed holds nothing personal")
        lines += [self.postscan.sql + ";"] if self.postscan else []
        lines += [s.analyze_sql + ";" for s in self.steps if s.analyze_sql]
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


def _join(parts: list[str]) -> str:
    return " || ".join(p for p in parts if p)


def _shaped(prefix: str, key: str, suffix: str) -> str:
    return _join([quote_literal(prefix) if prefix else "", key,
                  quote_literal(suffix) if suffix else ""])


class _Compiler:
    def __init__(self, rules: Rules, tables: dict[tuple[str, str], Table]):
        self.rules = rules
        self.tables = tables
        self.path = rules.path

    def fail(self, at: str, message: str) -> SanitizeError:
        return SanitizeError(f"{self.path}: {at}: {message}")

    def salt(self, at: str, strategy: str) -> str:
        salt = self.rules.salt
        if len(salt) < MIN_SALT:
            size = "empty" if not salt else f"only {len(salt)} characters"
            raise self.fail(at, f"{strategy} mixes the salt into its values, and the salt is "
                                f"{size} (set SANITIZE_SALT, or salt: in the rules file, to at "
                                f"least {MIN_SALT} random characters; bin/heroku-setup sets "
                                "one on staging)")
        return quote_literal(salt)

    def value(self, rule: ColumnRule, column: Column, table: Table, key_columns: list[str],
              at: str) -> tuple[str, str | None, str | None, bool]:
        """The new value of one column: (SET expression, verify condition or None, the
        shape its values take as a condition on {v} or None, whether values are hashed
        so that two rows could meet)."""
        col = quote_ident(column.name)
        strategy = rule.strategy
        where = f"{table.label}.{column.name}"
        if column.generated:
            raise self.fail(at, f"{where} is a generated column, computed from other "
                                "columns (rule those, and it follows)")
        if strategy in GENERATED + ("hash", "blank") and column.base_type not in TEXT_TYPES:
            raise self.fail(at, f"{strategy} needs a text column, {where} is "
                                f"{column.sql_type} (use null, constant or keep)")
        if strategy == "null":
            if column.not_null:
                raise self.fail(at, f"{where} is NOT NULL (use blank, constant or a "
                                    "generated strategy)")
            return "NULL", f"{col} IS NOT NULL", None, False
        if strategy in ("blank", "constant"):
            if column.unique:
                raise self.fail(at, f"{where} is unique, so {strategy} would repeat one value "
                                    "(use email, name, phone, address, hash or null)")
            if strategy == "blank":
                literal = "''"
            else:
                text = rule.value or ""
                if column.max_length is not None and len(text) > column.max_length:
                    raise self.fail(at, f"constant {quote_text(text)} is {len(text)} "
                                        f"characters, {where} holds {column.max_length}")
                literal = f"CAST({quote_literal(text)} AS {column.sql_type})"
            return (f"CASE WHEN {col} IS NULL THEN NULL ELSE {literal} END",
                    f"{col} IS NOT NULL AND {col}::text IS DISTINCT FROM {literal}::text",
                    None, False)

        limit = column.max_length
        if strategy == "hash":
            digest = f"md5({self.salt(at, strategy)} || {col}::text)"
            if limit is not None and limit < 32:
                if column.unique and limit < MIN_UNIQUE_DIGEST:
                    raise self.fail(at, f"{where} is unique and holds only {limit} "
                                        "characters, too few for a unique hash")
                digest = f"left({digest}, {limit})"
            return self._unchanged_guard(col, digest, table, column), None, \
                "{v} ~ '^[0-9a-f]+$'", column.unique
        full, compact = FORMS[strategy]
        need = len(compact[0]) + len(compact[1]) + (MIN_UNIQUE_DIGEST if column.unique else 1)
        if limit is not None and limit < need:
            raise self.fail(at, f"{where} holds only {limit} characters, too few for "
                                f"{'unique ' if column.unique else ''}{strategy} values "
                                f"(they need {need})")
        shape = "(" + " OR ".join(
            f"{{v}} LIKE {quote_literal(like_escape(p) + '%' + like_escape(s))}"
            for p, s in (full, compact)) + ")" if any(compact) else None
        if not key_columns:
            digest = f"md5({self.salt(at, strategy)} || {col}::text)"
            for prefix, suffix in (full, compact):
                room = None if limit is None else limit - len(prefix) - len(suffix)
                if room is None or room >= 16:
                    return (self._unchanged_guard(
                        col, _shaped(prefix, f"left({digest}, 16)", suffix), table, column),
                        None, shape, column.unique)
            prefix, suffix = compact
            value = _shaped(prefix, f"left({digest}, {limit - len(prefix) - len(suffix)})",
                            suffix)
            return self._unchanged_guard(col, value, table, column), None, shape, column.unique

        key = " || '-' || ".join(f"{quote_ident(k)}::text" for k in key_columns)
        lengths = [KEY_TEXT_LENGTH.get(table.columns[k].base_type) for k in key_columns]
        longest = (sum(lengths) + len(lengths) - 1) if None not in lengths else None
        hashed = False
        if limit is None:
            value = _shaped(full[0], key, full[1])
        else:
            branches = []
            for prefix, suffix in (full, compact):
                room = limit - len(prefix) - len(suffix)
                if room <= 0:
                    continue
                shaped = _shaped(prefix, key, suffix)
                if longest is not None and longest <= room:
                    branches.append((None, shaped))
                    break
                branches.append((f"length({key}) <= {room}", shaped))
            if not branches or branches[-1][0] is not None:
                prefix, suffix = compact
                room = limit - len(prefix) - len(suffix)
                branches.append((None, _shaped(prefix, f"left(md5({key}), {room})", suffix)))
                hashed = True
            if len(branches) == 1:
                value = branches[0][1]
            else:
                value = "CASE " + " ".join(
                    f"WHEN {test} THEN {shaped}" for test, shaped in branches[:-1]
                ) + f" ELSE {branches[-1][1]} END"
        return (f"CASE WHEN {col} IS NULL THEN NULL ELSE {value} END",
                f"{col} IS NOT NULL AND {col}::text IS DISTINCT FROM {value}",
                shape, column.unique and hashed)

    def _unchanged_guard(self, col: str, value: str, table: Table, column: Column) -> str:
        """No key to recompute from afterwards: fail the statement if a value came out
        unchanged."""
        message = quote_literal(f"sanitize: {table.label}.{column.name} kept an original value")
        failure = f"CAST(CAST(left({col}::text, 0) || {message} AS integer) AS text)"
        return (f"CASE WHEN {col} IS NULL THEN NULL "
                f"ELSE coalesce(nullif({value}, {col}::text), {failure}) END")


def compile_plan(rules: Rules, tables: dict[tuple[str, str], Table], search_path: list[str],
                 mode: str = "online", allow_uncovered: bool = False) -> Plan:
    path = rules.path
    compiler = _Compiler(rules, tables)
    steps: list[Step] = []
    casts: list[Check] = []
    unique_checks: list[Check] = []
    covered: set[tuple[str, str, str]] = set()
    changed_columns: set[tuple[str, str, str]] = set()
    reasoned: set[tuple[str, str, str]] = set()
    truncated: set[tuple[str, str]] = set()
    seen: dict[tuple[str, str], str] = {}

    emptied: list[Table] = []
    for index, key in enumerate(rules.truncate):
        at = f"truncate[{index}] ({key})"
        table = resolve(tables, key, search_path, path, at)
        if table.kind not in ("r", "p"):
            raise SanitizeError(f"{path}: {at}: {table.label} is a {table.what}, which "
                                "TRUNCATE cannot empty")
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
        for column_rule in rule.columns:
            if column_rule.column not in table.columns:
                raise SanitizeError(
                    f"{path}: {at}.columns.{column_rule.column}: no column "
                    f"{column_rule.column} in {table.label} (it has: "
                    f"{', '.join(table.columns)})")
        changing = [c for c in rule.columns if c.strategy != "keep"]
        if table.kind in ("m", "f") and (changing or rule.where):
            if table.kind == "m":
                reason = ("refreshed from its tables after the changes (rule those tables; "
                          "a materialized view takes keep: REASON only)")
            else:
                reason = ("whose rows another server holds, so sanitize cannot change them "
                          "(a foreign table takes keep: REASON only)")
            raise SanitizeError(f"{path}: {at}: {table.label} is a {table.what}, {reason}")
        for column_rule in rule.columns:
            ident3 = (table.schema, table.name, column_rule.column)
            covered.add(ident3)
            if column_rule.strategy == "keep" and column_rule.reason:
                reasoned.add(ident3)
        if not changing:
            continue
        # The primary key names each row, unless a rule changes it.
        changed = {c.column for c in changing}
        key_columns = [] if changed & set(table.primary_key) else table.primary_key
        assignments, rewrites, checks, labels = [], [], [], []
        blockers = [f"{table.columns[c.column].rewrite_blocker} uses {c.column}"
                    for c in changing if table.columns[c.column].rewrite_blocker]
        rewrite = mode == "offline" and not blockers and not rule.where_has_subquery
        for column_rule in changing:
            cat = f"{at}.columns.{column_rule.column}"
            column = table.columns[column_rule.column]
            changed_columns.add((table.schema, table.name, column.name))
            expression, check, shape, hashed = compiler.value(
                column_rule, column, table, key_columns, cat)
            col = quote_ident(column.name)
            assignments.append(f"{col} = {expression}")
            kept = f"CASE WHEN ({rule.where}) THEN {expression} ELSE {col} END" \
                if rule.where else expression
            collate = f" COLLATE {column.collation}" if column.collation else ""
            rewrites.append(f"ALTER COLUMN {col} TYPE {column.sql_type}{collate} USING {kept}")
            if column_rule.strategy == "constant":
                casts.append(Check(
                    f"SELECT CAST({quote_literal(column_rule.value or '')} AS "
                    f"{column.sql_type})", cat,
                    f"constant {quote_text(column_rule.value or '')} does not fit "
                    f"{table.label}.{column.name} ({column.sql_type})"))
            if check:
                checks.append(check)
                labels.append(column.name)
            if column.unique:
                unique_checks += _unique_checks(table, column, expression, shape, hashed,
                                                rule, rewrite, cat)
        note = None
        if mode == "offline" and not rewrite:
            why = blockers[0] if blockers else "its where: holds a subquery"
            note = f"{table.label}: UPDATE in place, since {why}"
        where = f" WHERE ({rule.where})" if rule.where else ""
        scope = f"({rule.where}) AND " if rule.where else ""
        counts = "".join(f", count(*) FILTER (WHERE {scope}{check})" for check in checks)
        matching = f", count(*) FILTER (WHERE {rule.where})" if rule.where else ""
        if rewrite:
            change = f"ALTER TABLE {table.qualified} {', '.join(rewrites)}"
        else:
            change = f"UPDATE {table.only} SET {', '.join(assignments)}{where}"
        steps.append(Step(
            label=table.label, at=at, kind="rewrite" if rewrite else "update",
            count_sql=f"SELECT count(*){matching} FROM {table.only}",
            change_sql=change,
            verify_sql=f"SELECT count(*){counts} FROM {table.only}",
            checks=labels, note=note,
            analyze_sql=f"ANALYZE {table.qualified}" if rewrite else None,
            where=bool(rule.where)))

    if emptied:
        # One statement, so tables that reference each other empty together.
        counts = ", ".join(f"(SELECT count(*) FROM {t.only})" for t in emptied)
        steps.append(Step(
            label=", ".join(t.label for t in emptied), at="truncate", kind="truncate",
            count_sql=f"SELECT {counts}",
            change_sql=f"TRUNCATE TABLE {', '.join(t.only for t in emptied)}",
            verify_sql=f"SELECT {counts}",
            checks=[t.label for t in emptied]))

    ordered = sorted(tables.items())
    foreign = [t for _, t in ordered if t.kind == "f"
               and any((t.schema, t.name, c) not in reasoned for c in t.columns)]
    if foreign:
        raise SanitizeError(
            f"{path}: {', '.join(t.label for t in foreign)}: a foreign table's rows are held "
            "by another server, which sanitize cannot change or check (drop it from this "
            "database, or give each of its columns keep: REASON)")

    uncovered = [
        f"{table.label}.{column.name}"
        for (schema, name), table in ordered
        if table.kind in ("r", "p") and (schema, name) not in truncated
        for column in table.columns.values()
        if not column.generated and looks_personal(column.name, column.base_type)
        and (schema, name, column.name) not in covered
    ]
    if uncovered and not allow_uncovered:
        raise SanitizeError(
            f"{path}: these columns look personal and no rule covers them: "
            f"{', '.join(uncovered)} (give each a strategy, or keep once reviewed; "
            "ALLOW_UNCOVERED=1 runs anyway)")

    before_parts, after_parts = [], []
    for (schema, name), table in ordered:
        if (schema, name) in truncated or table.kind == "f":
            continue
        if table.kind == "m" and not table.populated:
            continue
        candidates = [c for c in table.columns.values()
                      if c.base_type in SCAN_TYPES
                      and (schema, name, c.name) not in changed_columns
                      and (schema, name, c.name) not in reasoned]
        before = [c for c in candidates if not c.generated] if table.kind != "m" else []
        if before:
            before_parts.append((table, before))
        if candidates:
            after_parts.append((table, candidates))

    refreshes = [(t.label, f"REFRESH MATERIALIZED VIEW {t.qualified}")
                 for _, t in sorted(tables.items(), key=lambda i: (i[1].refresh_level, i[0]))
                 if t.kind == "m" and t.populated]
    prescan = Scan(before_parts, scan_sql(before_parts, SAMPLE_ROWS)) if before_parts else None
    postscan = Scan(after_parts, scan_sql(after_parts, None)) if after_parts else None
    settings = [REWRITE_MEMORY] if any(s.kind == "rewrite" for s in steps) else []
    return Plan(mode, casts, steps, unique_checks, refreshes, prescan, postscan, uncovered,
                settings)


def _unique_checks(table: Table, column: Column, expression: str, shape: str | None,
                   hashed: bool, rule: TableRule, rewrite: bool, at: str) -> list[Check]:
    """Reads that find a unique value the change would give twice, before any write.

    A row that already holds the value another row will get makes an UPDATE fail half-way
    (the index is checked row by row) and, if the rule leaves that row alone, makes the
    result break the index; a rewrite checks the index once, at the end, so only rows the
    rule leaves alone matter there. Values hashed to fit a length limit may also meet.
    """
    col = quote_ident(column.name)
    label = f"{table.label}.{column.name}"
    found: list[Check] = []
    rewritten = f" AND ({rule.where})" if rule.where else ""
    if not rewrite or rule.where:
        untouched = f" AND NOT coalesce(({rule.where}), false)" if rewrite else ""
        shaped = " AND " + shape.replace("{v}", f"taken.{col}::text") if shape else ""
        taken = f"FROM {table.only} AS taken WHERE taken.{col} IS NOT NULL{shaped}{untouched}"
        # Only when some row holds a value of the rule's shape (rarely, on a fresh copy) is
        # the costly comparison with every row's new value made.
        found.append(Check(
            f"SELECT CASE WHEN EXISTS (SELECT 1 {taken}) THEN (SELECT min(taken.{col}::text) "
            f"{taken} AND EXISTS (SELECT 1 FROM {table.only} AS given WHERE given.{col} IS NOT "
            f"NULL{rewritten} AND ({expression})::text = taken.{col}::text AND "
            "(given.tableoid, given.ctid) <> (taken.tableoid, taken.ctid))) END",
            at, label,
            finding=(f"{label} is unique and a row already holds {{example}}, the value this "
                     "rule gives another row (change or clear that row first)")))
    if hashed:
        found.append(Check(
            f"SELECT min(v) FROM (SELECT ({expression})::text AS v FROM {table.only} "
            f"WHERE {col} IS NOT NULL{rewritten} GROUP BY 1 HAVING count(*) > 1) d",
            at, label,
            finding=(f"{label} is unique and two rows would get {{example}}, a value cut "
                     "to fit the column (widen the column, or use hash)")))
    return found


# --- running -----------------------------------------------------------------------------

class DatabaseRefused(Exception):
    def __init__(self, primary: str):
        super().__init__(primary)
        self.primary = primary


def _primary(error: Exception) -> str:
    diag = getattr(error, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    if not primary:
        primary = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return primary.rstrip(".")


class _Database:
    """Statements through the extended protocol, which runs one statement per call."""

    def __init__(self, connection):
        self.connection = connection
        # psycopg 3 names its classes' module "psycopg"; psycopg2 has no extended protocol,
        # and the where: check is what keeps a second statement out there.
        self.psycopg3 = type(connection).__module__.split(".")[0] == "psycopg"
        if self.psycopg3:
            import psycopg

            # Not connection.cursor(): Django makes that a ClientCursor, which binds on the
            # client and sends statements through the simple protocol.
            self.cursor = psycopg.Cursor(connection)
        else:
            self.cursor = connection.cursor()

    def _execute(self, sql: str):
        try:
            if self.psycopg3:
                self.cursor.execute(sql, binary=True)
            else:
                self.cursor.execute(sql)
        except Exception as error:
            if _is_database_error(error):
                raise DatabaseRefused(_primary(error)) from None
            raise

    def rows(self, sql: str) -> list[tuple]:
        self._execute(sql)
        return self.cursor.fetchall()

    def row(self, sql: str) -> tuple:
        return self.rows(sql)[0]

    def execute(self, sql: str) -> int:
        self._execute(sql)
        return self.cursor.rowcount


def _is_database_error(error: Exception) -> bool:
    return any(c.__name__ == "Error" and c.__module__.split(".")[0] in ("psycopg", "psycopg2")
               for c in type(error).__mro__)


def read_database(db: _Database) -> tuple[list, list[str]]:
    try:
        rows = db.rows(catalog_sql())
        search_path = db.row("SELECT current_schemas(false)::text[]")[0]
    except DatabaseRefused as error:
        raise SanitizeError(f"the database refused the catalog query: {error.primary}") from None
    return [list(r) for r in rows], list(search_path)


def run(connection, rules: Rules, *, allow_uncovered: bool = False, dry_run: bool = False,
        mode: str = "online", out: TextIO | None = None, env: dict[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic) -> Plan:
    """Sanitize through a DB-API connection (psycopg 3 or psycopg2), all or nothing."""
    import sys

    out = out or sys.stdout
    allowed = guard(env)
    check_mode(mode)
    started = clock()
    # Django hands over connections in autocommit; one transaction needs it off.
    autocommit = getattr(connection, "autocommit", False)
    if autocommit:
        connection.autocommit = False
    db = _Database(connection)
    committed = False
    try:
        try:
            db.execute("SET LOCAL standard_conforming_strings = on")
        except DatabaseRefused as error:
            raise SanitizeError(f"the database refused a setting: {error.primary}") from None
        rows, search_path = read_database(db)
        plan = compile_plan(rules, read_catalog(rows), search_path, mode, allow_uncovered)
        if plan.uncovered:
            print(f"sanitize: not covered, allowed: {', '.join(plan.uncovered)}", file=out,
                  flush=True)
        if dry_run:
            out.write(plan.sql())
            out.flush()
        before = _checks(db, plan, rules.path)
        if dry_run:
            connection.rollback()
            return plan
        print(f"sanitize: {allowed}; {len(plan.steps)} tables, one transaction, {mode} mode",
              file=out, flush=True)
        for sql in plan.settings:
            try:
                db.rows(sql)
            except DatabaseRefused as error:
                raise SanitizeError(f"the database refused a setting: {error.primary}") from None
        for step in plan.steps:
            began = clock()
            try:
                db.execute(step.change_sql)
                after = db.row(step.verify_sql)
            except DatabaseRefused as error:
                raise SanitizeError(f"{rules.path}: {step.at}: {step.label}: the database "
                                    f"refused the change: {error.primary}") from None
            elapsed = clock() - began
            counts = before[id(step)]
            if step.kind == "truncate":
                _verify_truncate(step, after)
                for label, count in zip(step.checks, counts):
                    print(f"sanitize: {label}: truncated {count} rows in {elapsed:.2f}s",
                          file=out)
            else:
                _verify_update(step, counts[0], after)
                changed = counts[1] if step.where else counts[0]
                print(f"sanitize: {step.label}: updated {changed} of {counts[0]} rows "
                      f"in {elapsed:.2f}s", file=out, flush=True)
        for label, sql in plan.refreshes:
            began = clock()
            try:
                db.execute(sql)
            except DatabaseRefused as error:
                raise SanitizeError(f"{label}: the database refused to refresh the "
                                    f"materialized view: {error.primary}") from None
            print(f"sanitize: {label}: refreshed in {clock() - began:.2f}s", file=out,
                  flush=True)
        findings = _scan(db, plan.postscan)
        if findings:
            raise SanitizeError(f"verification failed: these columns still hold values that "
                                f"look personal: {findings} (give each a rule, or keep: "
                                "REASON)")
        for step in plan.steps:
            if step.analyze_sql:
                try:
                    db.execute(step.analyze_sql)
                except DatabaseRefused as error:
                    raise SanitizeError(f"{step.label}: the database refused ANALYZE: "
                                        f"{error.primary}") from None
        try:
            connection.commit()
            committed = True
        except Exception as error:
            if not _is_database_error(error):
                raise
            if getattr(connection, "closed", False):
                raise SanitizeError(f"the connection was lost during the commit "
                                    f"({_primary(error)}), so whether the changes were kept "
                                    "is unknown: run sanitize again", unsure=True) from None
            raise SanitizeError(f"the database refused the commit: {_primary(error)}") from None
    except BaseException:
        if not committed:
            # A broken connection cannot roll back; the server does it when it notices.
            with contextlib.suppress(Exception):
                connection.rollback()
        raise
    finally:
        if autocommit:
            with contextlib.suppress(Exception):
                connection.autocommit = True
    print(f"sanitize: committed and verified in {clock() - started:.2f}s", file=out, flush=True)
    return plan


def _checks(db: _Database, plan: Plan, path: str) -> dict[int, tuple]:
    """Every read before the first write; returns each step's counts."""
    for cast in plan.casts:
        try:
            db.rows(cast.sql)
        except DatabaseRefused as error:
            raise SanitizeError(f"{path}: {cast.at}: {cast.subject}: {error.primary}") from None
    counts: dict[int, tuple] = {}
    for step in plan.steps:
        try:
            counts[id(step)] = tuple(int(v) for v in db.row(step.count_sql))
        except DatabaseRefused as error:
            what = "the where: condition" if step.where else "counting the rows"
            at = f"{step.at}.where" if step.where else step.at
            raise SanitizeError(f"{path}: {at}: {step.label}: the database refused {what}: "
                                f"{error.primary}") from None
    for check in plan.unique_checks:
        try:
            example = db.row(check.sql)[0]
        except DatabaseRefused as error:
            raise SanitizeError(f"{path}: {check.at}: {check.subject}: the database refused "
                                f"the uniqueness check: {error.primary}") from None
        if example is not None:
            raise SanitizeError(f"{path}: {check.at}: "
                                + (check.finding or "").replace("{example}", mask(example)))
    findings = _scan(db, plan.prescan)
    if findings:
        raise SanitizeError(f"{path}: these columns hold values that look personal and no rule "
                            f"changes them: {findings} (give each a strategy, or keep: REASON "
                            "to keep it on purpose)")
    return counts


def _scan(db: _Database, scan: Scan | None) -> str:
    """What the content check found, as a list for a message; empty when nothing."""
    if scan is None:
        return ""
    try:
        rows = db.rows(scan.sql)
    except DatabaseRefused as error:
        raise SanitizeError(f"the database refused the content check: {error.primary}") from None
    examples_of = {int(number): examples for number, examples in rows}
    found = []
    for number, (table, columns) in enumerate(scan.parts, 1):
        examples = examples_of[number]
        for index, column in enumerate(columns):
            kinds = [(FINDINGS[k], examples[index * 4 + k]) for k in range(4)
                     if examples[index * 4 + k] is not None]
            if kinds:
                what = ", ".join(f"{name}, e.g. {mask(example)}" for name, example in kinds)
                found.append(f"{table.label}.{column.name} ({what})")
    return "; ".join(found)


def _verify_truncate(step: Step, after: tuple) -> None:
    left = [f"{label} ({count} rows)" for label, count in zip(step.checks, after) if count]
    if left:
        raise SanitizeError(f"verification failed: rows left after TRUNCATE in "
                            f"{', '.join(left)}")


def _verify_update(step: Step, before: int, verified: tuple) -> None:
    after, *failures = verified
    if after != before:
        raise SanitizeError(f"verification failed: {step.label} had {before} rows and now "
                            f"has {after}")
    bad = [f"{column} ({count} rows)" for column, count in zip(step.checks, failures) if count]
    if bad:
        raise SanitizeError(f"verification failed: {step.label}: values not replaced as the "
                            f"rules say in {', '.join(bad)}")


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise SanitizeError(f"the mode is {quote_text(mode)}, expected online (the default: "
                            "the app may be using this database) or offline (nobody is)")
    return mode


def compile_only(rules: Rules, catalog_path: str, mode: str = "online",
                 allow_uncovered: bool = False, out: TextIO | None = None,
                 env: dict[str, str] | None = None) -> Plan:
    """The plan from catalog rows saved as JSON ({"search_path": [...], "rows": [...]}),
    without a database: what --catalog prints."""
    import sys

    out = out or sys.stdout
    guard(env)
    check_mode(mode)
    try:
        with open(catalog_path, encoding="utf-8") as handle:
            saved = json.load(handle)
        rows, search_path = saved["rows"], saved["search_path"]
    except (OSError, ValueError, KeyError, TypeError):
        raise SanitizeError(f"{catalog_path}: not a saved catalog (a JSON object with "
                            "search_path and rows)") from None
    plan = compile_plan(rules, read_catalog(rows), list(search_path), mode, allow_uncovered)
    if plan.uncovered:
        print(f"sanitize: not covered, allowed: {', '.join(plan.uncovered)}", file=out)
    out.write(plan.sql())
    return plan


def database_url(value: str | None, env: dict[str, str]) -> str | None:
    """A URL, or the name of the config var that holds one (HEROKU_POSTGRESQL_PINK_URL), so
    that a command line never shows the credentials."""
    if value and re.fullmatch(r"[A-Z_][A-Z0-9_]*", value):
        named = env.get(value)
        if not named:
            raise SanitizeError(f"SANITIZE_DATABASE_URL names {value}, which is not set")
        return named
    return value


def connect(database_url: str):
    """A connection from psycopg 3, or psycopg2 when that is what the app has."""
    try:
        import psycopg
    except ImportError:
        import psycopg2

        try:
            return psycopg2.connect(database_url)
        except psycopg2.Error as error:
            raise SanitizeError(f"cannot connect to the database: {_primary(error)}") from None
    try:
        return psycopg.connect(database_url)
    except psycopg.Error as error:
        raise SanitizeError(f"cannot connect to the database: {_primary(error)}") from None
