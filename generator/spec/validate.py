"""load → schema → rules → resolve → policies: the one way from a spec file to a `Spec`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from generator.errors import Issue, SpecInvalid
from generator.package_data import spec_schema
from generator.spec.defaults import with_defaults
from generator.spec.document import Document, FieldPath, display_path
from generator.spec.load import load_document
from generator.spec.model import Spec
from generator.spec.outside import OUTSIDE, outside, redact_outside, repository_root
from generator.spec.resolve import resolve
from generator.spec.rules import rule_issues
from generator.spec.schema import schema_issues


def load_spec(path: Path) -> Spec:
    """The resolved spec at `path`, or SpecInvalid with every located issue.

    Issues located in a file outside the repository (a base spec) show only their position.
    """
    try:
        return _load_spec(path)
    except SpecInvalid as exc:
        raise SpecInvalid(redact_outside(exc.issues, repository_root(path))) from None


def _load_spec(path: Path) -> Spec:
    doc = load_document(path)
    schema = spec_schema()
    issues = schema_issues(doc, schema)
    if issues:  # later layers rely on the types the schema guarantees
        raise SpecInvalid(issues)
    issues = rule_issues(doc)
    if issues:
        raise SpecInvalid(issues)
    complete = with_defaults(doc.data, schema)
    spec = resolve(doc, complete)
    issues = policy_issues(doc, complete)
    if issues:
        raise SpecInvalid(issues)
    extra = [(doc.origin_dir(("policies", i)) / p).resolve() for i, p in enumerate(spec.policies)]
    if spec.templates:
        extra.append((doc.origin_dir(("templates",)) / spec.templates).resolve())
    return replace(spec, inputs=(*spec.inputs, *extra))


def policy_issues(doc: Document, resolved: dict[str, Any]) -> list[Issue]:
    if not resolved.get("policies"):
        return []  # jsonschema is not imported for nothing
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    issues: list[Issue] = []
    root = repository_root(doc.path)
    for index, policy in enumerate(resolved.get("policies", [])):
        at: FieldPath = ("policies", index)
        path = (doc.origin_dir(at) / policy).resolve()
        shown = display_path(path)
        try:
            schema = json.loads(path.read_text("utf-8"))
            Draft202012Validator.check_schema(schema)
        except (OSError, ValueError, SchemaError) as exc:
            reason = getattr(exc, "message", None) or str(exc).splitlines()[0]
            if outside(path, root):
                reason = OUTSIDE  # the reason may quote the file
            issues.append(
                doc.issue(
                    at,
                    f"the policy {shown} is not a usable JSON Schema: {reason}",
                    "a JSON Schema (draft 2020-12) file",
                    "fix the policy file or remove it from policies",
                )
            )
            continue
        name = schema.get("title") or shown
        for error in Draft202012Validator(schema).iter_errors(resolved):
            sub = error.schema if isinstance(error.schema, dict) else {}
            message = sub.get("description") or schema.get("description") or error.message
            issues.append(
                doc.issue(
                    tuple(error.absolute_path),
                    f"policy {name!r} ({shown}) is violated: {message}",
                    str(error.message),
                    "change the spec to satisfy the policy, or ask its owners",
                )
            )
    return sorted(set(issues))
