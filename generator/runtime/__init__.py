"""Runtime scripts the generated pipelines call, copied verbatim into `.almgen/scripts/`.

Each module is a standalone, standard-library-only command-line script: it imports nothing from
`generator`, so the copy in a user's repository runs with any Python 3.10+ and no install step.
"""
