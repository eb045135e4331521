"""Runtime scripts the generated pipelines call, copied verbatim into `.almgen/scripts/`.

The command-line scripts (agents, gate, models, release, run, traffic) and the helper modules they
import (common, and the pieces of models and traffic) use the standard library only and import
nothing from `generator`: copied side by side, they run with any Python 3.10+ and no install step.
A module imports its siblings with `from . import common` as part of this package (the tests) and
with `importlib.import_module("common")` when run as `python .almgen/scripts/<name>.py` (see common.py).
"""
