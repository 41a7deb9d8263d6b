"""copier-heroku's catalog and plan, as a package of plain Python.

    model.py       the shapes of the entries (dataclasses)
    stacks.py      the frameworks: stacks, web and development servers, their config vars
    catalog.py     the services: add-ons, workers, autoscalers and their plans; a fork edits this
    answers.py     the questions' choices, rendered from the catalog, and the validators
    plan.py        build_plan(answers): the one vocabulary everything after the questions reads
    owned_lines.py the layer's lines in files the app owns (.gitignore's block, include lines)
    python_packages.py  which package manager a Python app uses, and the layer's packages in it

No Jinja and no I/O here: extensions/heroku.py exposes these to Copier's templates.
"""

from . import answers, catalog, model, owned_lines, plan, python_packages, stacks
from .plan import Plan, build_plan

__all__ = ["Plan", "answers", "build_plan", "catalog", "model", "owned_lines", "plan",
           "python_packages", "stacks"]
