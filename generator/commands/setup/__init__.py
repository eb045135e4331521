"""`almgen setup`: the one-time setup that docs/alm/SETUP.md describes, done idempotently.

`actions` is pure (Spec, Plan, Facts -> Actions); `run` reads the world and executes.
"""
