"""Copier task, after every copy and update: the layer's lines in files the app owns.

    app_files.py ANSWERS_FILE TEMPLATE_ROOT

Reads the answers Copier just wrote, plans them as the templates did, and keeps, in the
app's own files (owned_lines.py):

- the dependency include, once: `eval_gemfile "Gemfile.deploy"` in the Gemfile, `-r
  requirements-deploy.txt` in requirements.txt (left alone when present, even commented
  out; when the file is missing, says which line to add);
- the marked block at the end of .gitignore (`.env` and the key files stay out of git), of
  Procfile.dev (the layer's processes; the app's watchers stay) and, with Puma on Rails, of
  config/puma.rb (Heroku's Puma settings): present, current and last;
- with Heroku Postgres on Rails, a `url:` reading DATABASE_URL in each production database
  of config/database.yml that has none (Rails 8's cache, queue and cable databases);
- an unedited copy of a file an older release owned whole (config/puma.rb of v0.2.0) is
  replaced by the one the layer writes for a new app today, rendered from TEMPLATE_ROOT.

Touches nothing else.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from copier_heroku import build_plan, owned_lines  # noqa: E402
from copier_heroku.plan import Plan  # noqa: E402

SAID = {
    ".gitignore": ".gitignore: the copier-heroku block is back in place, last "
                  "(.env stays out of git)",
    "Procfile.dev": "Procfile.dev: the copier-heroku block holds the layer's processes; "
                    "your other lines stay",
}


def read_texts(folder: Path, plan: Plan) -> dict[str, str | None]:
    """The current text of every app file the plan keeps lines in; None when missing."""
    paths = [*plan.owned_blocks, plan.stack.dependency.app_file]
    if plan.database_config:
        paths.append(plan.database_config)
    return {path: (folder / path).read_text(encoding="utf-8")
            if (folder / path).is_file() else None for path in paths}


def pending(folder: Path, plan: Plan) -> dict[str, str]:
    """path -> the new text, for each app file that is not in line with the plan."""
    return owned_lines.changes(read_texts(folder, plan), blocks=plan.owned_blocks,
                               include=plan.stack.dependency,
                               database_config=plan.database_config)


def render(template_root: Path, path: str, plan: Plan) -> str:
    """A file of template/ as a copy writes it: its templates read nothing but the plan."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined  # Copier's own

    environment = Environment(loader=FileSystemLoader(str(template_root)),
                              undefined=StrictUndefined, keep_trailing_newline=True)
    return environment.get_template(f"template/{path}.jinja").render(deploy=plan)


def replace_legacy(folder: Path, plan: Plan, template_root: Path) -> list[str]:
    said = []
    for path in owned_lines.LEGACY_WHOLE_FILES:
        target = folder / path
        if path in plan.owned_blocks and target.is_file() and \
                owned_lines.is_legacy(path, target.read_text(encoding="utf-8")):
            target.write_text(render(template_root, path, plan), encoding="utf-8")
            said.append(f"{path}: unedited since an older release wrote it, so replaced by "
                        f"the one a new app gets (it is yours from now on)")
    return said


def ensure(folder: Path, plan: Plan, template_root: Path | None = None) -> list[str]:
    """Bring the app's own files in line; return what happened, in words for the user."""
    said = replace_legacy(folder, plan, template_root) if template_root else []
    include = plan.stack.dependency
    if not (folder / include.app_file).exists():
        said.append(f"No {include.app_file} here: add this line to the app's "
                    f"{include.app_file}: {include.line}")
    for path, text in pending(folder, plan).items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        if path == include.app_file:
            said.append(f"Added to {include.app_file}: {include.line}")
        elif path == plan.database_config:
            said.append(f"{path}: every production database reads DATABASE_URL, as Heroku "
                        f"has one")
        else:
            said.append(SAID.get(path, f"{path}: the copier-heroku block is in place, last"))
    return said


def load_plan(answers_file: Path) -> Plan:
    import yaml  # Copier's own dependency

    return build_plan(yaml.safe_load(answers_file.read_text(encoding="utf-8")) or {})


if __name__ == "__main__":
    for line in ensure(Path.cwd(), load_plan(Path(sys.argv[1])), Path(sys.argv[2])):
        print(line)
