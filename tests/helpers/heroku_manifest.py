"""Checks `heroku` command lines against the real Heroku CLI's command manifests.

The npm package `heroku` ships `oclif.manifest.json` files (the core CLI and each plugin)
that describe every command: its id, aliases, flags (boolean or option, short chars,
required, allowed values) and positional args (required or not, strict or not). Heroku's
API cannot be reached from the tests, so this is what keeps the scripts and the recording
stand-in honest: a line that passes here is one the real CLI would parse.

The parsing rules follow oclif's parser, stricter where scripts should be explicit: a flag
that the CLI could fill from an environment variable or the git remote (`--app`) must still
be on the line when the manifest marks it required.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: nothing more is imported at run time
    from typing import Any, Sequence

# Kept light (no dataclasses, typing or pathlib at import): the heroku stand-in imports
# this module on each of the thousands of calls the fault tests make.

_MANIFEST_GLOBS = (
    "node_modules/*/oclif.manifest.json",
    "node_modules/@*/*/oclif.manifest.json",
    "node_modules/heroku/node_modules/*/oclif.manifest.json",
    "node_modules/heroku/node_modules/@*/*/oclif.manifest.json",
)


class ManifestError(ValueError):
    """A command line the real CLI would reject; the message says why."""


class Parsed:
    def __init__(self, command: str):
        self.command = command
        self.flags: dict[str, list[str | bool]] = {}
        self.args: list[str] = []

    def flag(self, name: str, default: Any = None) -> Any:
        values = self.flags.get(name)
        return values[-1] if values else default


class Manifest:
    def __init__(self, commands: dict[str, dict[str, Any]]):
        self.commands = commands
        self.ids: dict[str, str] = {}
        for command_id, command in commands.items():
            self.ids[command_id] = command_id
        for command_id, command in commands.items():
            for alias in [*command.get("aliases", []), *command.get("hiddenAliases", [])]:
                self.ids.setdefault(alias, command_id)

    @classmethod
    def load(cls, cli_dir) -> "Manifest":
        from pathlib import Path

        # Plugins are packages of their own, hoisted to node_modules or nested under heroku.
        root = Path(cli_dir)
        paths = sorted({p for pattern in _MANIFEST_GLOBS for p in root.glob(pattern)})
        if not any(p.parent.name == "heroku" for p in paths):
            raise FileNotFoundError(f"no heroku/oclif.manifest.json under {cli_dir}")
        commands: dict[str, dict[str, Any]] = {}
        for path in paths:
            data = json.loads(path.read_text())
            for command_id, command in data.get("commands", {}).items():
                commands.setdefault(command_id, command)
        return cls(commands)

    def resolve(self, word: str) -> str:
        return self.ids[word]

    def parse(self, argv: Sequence[str]) -> Parsed:
        """Parse one command line (the words after `heroku`), or raise ManifestError."""
        argv = list(argv)
        if not argv:
            raise ManifestError("no command given")
        word = argv[0]
        if word.startswith("-"):
            raise ManifestError(f"the command must come first, not {word!r}")
        if " " in word:
            raise ManifestError(f"legacy space-separated command {word!r}: use "
                                f"{word.replace(' ', ':')!r}")
        if word not in self.ids:
            raise ManifestError(f"unknown command {word!r}")
        if len(argv) > 1 and f"{word}:{argv[1]}" in self.ids:
            raise ManifestError(f"legacy space-separated command '{word} {argv[1]}': use "
                                f"'{word}:{argv[1]}'")
        command_id = self.ids[word]
        spec = self.commands[command_id]
        flags: dict[str, dict[str, Any]] = spec.get("flags", {})
        by_char = {f["char"]: name for name, f in flags.items() if f.get("char")}
        by_alias = {a: name for name, f in flags.items() for a in f.get("aliases", [])}
        parsed = Parsed(command_id)

        def flag_named(token: str) -> tuple[str, bool]:
            """(flag name, negated) for --name or -c; unknown flags raise."""
            if token.startswith("--"):
                name = token[2:]
                if name in flags:
                    return name, False
                if name in by_alias:
                    return by_alias[name], False
                if name.startswith("no-") and flags.get(name[3:], {}).get("allowNo"):
                    return name[3:], True
                raise ManifestError(f"unknown flag {token} for {command_id}")
            if len(token) == 2 and token[1] in by_char:
                return by_char[token[1]], False
            raise ManifestError(f"unknown flag {token} for {command_id}")

        rest = argv[1:]
        i = 0
        positional_only = False
        while i < len(rest):
            token = rest[i]
            i += 1
            if positional_only or not token.startswith("-") or token == "-":
                parsed.args.append(token)
                continue
            if token == "--":
                positional_only = True
                continue
            value: str | None = None
            if token.startswith("--") and "=" in token:
                token, value = token.split("=", 1)
            elif not token.startswith("--") and len(token) > 2:
                # -aAPP: a short option flag with its value attached.
                token, value = token[:2], token[2:]
            name, negated = flag_named(token)
            spec_flag = flags[name]
            if spec_flag["type"] == "boolean":
                if value is not None:
                    raise ManifestError(f"--{name} is a boolean flag of {command_id} and "
                                        f"takes no value")
                got: str | bool = not negated
            else:
                if value is None:
                    if i >= len(rest) or rest[i].startswith("-"):
                        raise ManifestError(f"--{name} of {command_id} needs a value")
                    value = rest[i]
                    i += 1
                if spec_flag.get("options") and value not in spec_flag["options"]:
                    raise ManifestError(f"--{name} of {command_id} must be one of "
                                        f"{', '.join(spec_flag['options'])}; got {value!r}")
                got = value
            if name in parsed.flags and not spec_flag.get("multiple"):
                raise ManifestError(f"--{name} given twice to {command_id}")
            parsed.flags.setdefault(name, []).append(got)

        for name, spec_flag in flags.items():
            if spec_flag.get("required") and name not in parsed.flags:
                raise ManifestError(f"{command_id} needs the required flag --{name}")
            if name in parsed.flags:
                for other in spec_flag.get("exclusive", []) or []:
                    if other in parsed.flags:
                        raise ManifestError(f"--{name} and --{other} of {command_id} "
                                            f"cannot go together")
                for other in spec_flag.get("dependsOn", []) or []:
                    if other not in parsed.flags:
                        raise ManifestError(f"--{name} of {command_id} needs --{other}")

        args_spec = spec.get("args") or {}
        if isinstance(args_spec, list):  # older manifests list args instead of naming them
            args_spec = {a["name"]: a for a in args_spec}
        names = list(args_spec)
        for index, arg_name in enumerate(names):
            if args_spec[arg_name].get("required") and index >= len(parsed.args):
                raise ManifestError(f"{command_id} needs the argument {arg_name.upper()}")
        if spec.get("strict", True) and len(parsed.args) > len(names):
            extra = parsed.args[len(names):]
            raise ManifestError(f"{command_id} takes {len(names)} argument(s); unexpected "
                                f"{' '.join(map(repr, extra))}")
        return parsed

    def error(self, argv: Sequence[str]) -> str:
        """"" when the line is valid, else the reason."""
        try:
            self.parse(argv)
        except ManifestError as exc:
            return str(exc)
        return ""


@lru_cache(maxsize=4)
def load_manifest(cli_dir: str) -> Manifest:
    return Manifest.load(cli_dir)
