"""The layer's lines in files the app owns: added at a marked place, never the whole file.

A file that the app or its framework also writes (.gitignore, the Gemfile,
requirements.txt, Procfile.dev, Rails's config/puma.rb and config/database.yml) is the
app's. The layer keeps a few lines in it: one include line for its dependency file, a
marked block at the end of .gitignore (keeps `.env` out of git), of Procfile.dev (the
layer's processes) and of config/puma.rb (Heroku's Puma settings), and a `url:` line in
each production database of database.yml. A Copier task puts them back on every copy and
update, whatever a merge or a person did, so the guarantee does not depend on how a
conflict was resolved. Pure functions on text; the task (extensions/app_files.py) reads
and writes the files.
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

from .model import DependencyInclude

BEGIN = "# >>> copier-heroku >>> kept last and rewritten by `copier update`; add your lines above"
END = "# <<< copier-heroku <<<"
_BLOCK = re.compile(rf"^{re.escape(BEGIN[:20])}.*?^{re.escape(END)}[^\n]*\n?", re.M | re.S)

# The tail v0.1.0 and v0.2.0 wrote into .gitignore before the block existed: folded into
# the block when found as written.
LEGACY_GITIGNORE_TAIL = """\
# Local settings and secrets: .env and its variants stay on this machine. Last, so that no
# rule above can un-ignore them. Committed: .env.example (placeholders only) and .env*.erb
# templates (Rails 7.1+).
.env
.env.*
!.env.example
!.env*.erb
"""


def block(lines: Sequence[str]) -> str:
    return "\n".join([BEGIN, *lines, END]) + "\n"


def with_block(text: str, lines: Sequence[str]) -> str:
    """The text with the layer's block present, current, and last (so no line above it can
    un-ignore what it ignores). Everything else stays as it was."""
    body = _BLOCK.sub("", text).replace(LEGACY_GITIGNORE_TAIL, "")
    body = body.rstrip("\n")
    return f"{body}\n\n{block(lines)}" if body.strip() else block(lines)


def needs_block(text: str, lines: Sequence[str]) -> bool:
    return with_block(text, lines) != text


def has_include(text: str, include: DependencyInclude) -> bool:
    """Commented out counts as present: that is the app's decision."""
    return bool(include.present.search(text))


def with_include(text: str, include: DependencyInclude) -> str:
    if has_include(text, include):
        return text
    if text and not text.endswith("\n"):
        text += "\n"
    separator = "\n" if text.strip() else ""
    return f"{text}{separator}{include.comment}\n{include.line}\n"


# --------------------------------------------------------------------------- Procfile.dev

# A process line as foreman and honcho read it; anything else (comments) they skip.
_PROCESS = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")
REPLACED = "# copier-heroku runs this process in its block below: "


def with_procfile_block(text: str, lines: Sequence[str]) -> str:
    """Procfile.dev with the layer's processes in its block, last; every other line (the
    watchers `css:` and `js:` of tailwindcss-rails, cssbundling-rails, jsbundling-rails)
    stays. An app line outside the block that names a process of the block would start a
    second one: it is dropped when it is the layer's own line of a release before the
    block, else commented out, so the app can see what it had."""
    names = {line.split(":", 1)[0] for line in lines}
    kept = []
    for line in _BLOCK.sub("", text).splitlines():
        process = _PROCESS.match(line)
        if process and process.group(1) in names:
            if line.strip() not in lines:
                kept.append(REPLACED + line)
            continue
        kept.append(line)
    return with_block("\n".join(kept) + "\n" if kept else "", lines)


def processes(text: str) -> dict[str, str]:
    """Process name -> command, as foreman reads a Procfile."""
    found = (_PROCESS.match(line) for line in text.splitlines())
    return {m.group(1): m.group(2).strip() for m in found if m}


# --------------------------------------------------------------------------- database.yml

DATABASE_URL = 'url: <%= ENV["DATABASE_URL"] %>'
DATABASE_URL_NOTE = "# copier-heroku: one Heroku Postgres, one DATABASE_URL"
_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_<]+):(?P<value>.*)$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _meaningful(line: str) -> bool:
    return bool(line.strip()) and not line.lstrip().startswith("#")


def with_database_urls(text: str, environment: str = "production") -> str:
    """database.yml with every database of `environment` reading DATABASE_URL.

    Rails gives DATABASE_URL to one database only, the primary (or the environment's
    single one); Rails 8's production also declares cache, queue and cable databases,
    each with a name and user of its own that Heroku does not have, so `db:migrate` fails
    on them. Each database of a multi-database environment without a `url:` gets one,
    right under its name; a single-database environment is left as it is (Rails merges
    DATABASE_URL into it). Edits lines only: comments, anchors and ERB stay."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines)
                  if re.match(rf"^{re.escape(environment)}:\s*(#.*)?$", line)), None)
    if start is None:
        return text
    end = next((i for i in range(start + 1, len(lines))
                if _meaningful(lines[i]) and _indent(lines[i]) == 0), len(lines))
    body = [i for i in range(start + 1, end) if _meaningful(lines[i])]
    if not body:
        return text
    depth = _indent(lines[body[0]])
    children = [i for i in body if _indent(lines[i]) == depth]
    for i in children:
        key = _KEY.match(lines[i])
        value = key["value"].split("#", 1)[0].strip() if key else "?"
        if not key or key["key"] == "<<" or (value and not value.startswith("&")):
            return text  # a key with a value: one database, which Rails points at the URL
    inserts = []
    for n, i in enumerate(children):
        stop = children[n + 1] if n + 1 < len(children) else end
        own = [j for j in range(i + 1, stop) if _meaningful(lines[j])]
        inner = _indent(lines[own[0]]) if own else depth + 2
        if not any(re.match(rf"^ {{{inner}}}url:", lines[j]) for j in own):
            inserts.append((i + 1, f"{' ' * inner}{DATABASE_URL}  {DATABASE_URL_NOTE}"))
    for at, line in reversed(inserts):
        lines.insert(at, line)
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


# --------------------------------------------------------------------------- all of them


# Files the layer owned whole in older releases and the app owns now, by the sha256 of
# their unedited content: v0.1.0 and v0.2.0 wrote the same config/puma.rb for every answer.
# An unedited one is replaced by the file the layer writes for a new app today (so it
# loses the old worker hook Puma 7 renamed); an edited one is the app's, and only gets
# the block.
LEGACY_WHOLE_FILES = {
    "config/puma.rb": ("aa6b99757efa7bf75209fc64d145caa12bcf85b5009d88e7869326aad3e8d972",),
}


def is_legacy(path: str, text: str | None) -> bool:
    """Whether `text` is an unedited copy of what an older release wrote into `path`."""
    import hashlib

    known = LEGACY_WHOLE_FILES.get(path, ())
    return text is not None and hashlib.sha256(text.encode()).hexdigest() in known


def changes(texts: Mapping[str, str | None], *, blocks: Mapping[str, Sequence[str]],
            include: DependencyInclude | None = None,
            database_config: str = "") -> dict[str, str]:
    """The new text of each app file the layer must change; `texts` maps each path named
    here to its current text, None when the file does not exist.

    `blocks`: path -> the lines of the layer's block in it; `include`: the dependency
    include line, added to its file when present there; `database_config`: the database
    configuration whose production databases must all read DATABASE_URL."""
    new: dict[str, str] = {}
    for path, lines in blocks.items():
        text = texts.get(path) or ""
        edit = with_procfile_block if path.endswith("Procfile.dev") else with_block
        if edit(text, lines) != text:
            new[path] = edit(text, lines)
    if include and texts.get(include.app_file) is not None:
        text = texts[include.app_file] or ""
        if not has_include(text, include):
            new[include.app_file] = with_include(text, include)
    if database_config and texts.get(database_config) is not None:
        text = texts[database_config] or ""
        if with_database_urls(text) != text:
            new[database_config] = with_database_urls(text)
    return new
