"""copier-heroku's catalog and plan, as a package of plain Python.

    model.py       the shapes of the entries (dataclasses)
    catalog.py     the entries: stacks, servers, workers, autoscalers, add-ons; a fork edits this
    answers.py     the questions' choices, rendered from the catalog, and the validators
    plan.py        build_plan(answers): the one vocabulary everything after the questions reads

No Jinja and no I/O here: extensions/heroku.py exposes these to Copier's templates.
"""

from . import answers, catalog, model, plan
from .plan import Plan, build_plan

__all__ = ["Plan", "answers", "build_plan", "catalog", "model", "plan"]
