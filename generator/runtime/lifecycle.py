"""models.py check-retirements and check-quota: the scheduled checks of the foundation models."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import sys
from typing import Any

if __package__:
    from . import common, facts, retirement
else:  # run as .almgen/scripts/<name>.py: the folder is on sys.path
    common = importlib.import_module("common")
    facts = importlib.import_module("facts")
    retirement = importlib.import_module("retirement")


# --------------------------------------------------------------------------- scheduled checks


def cell(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def markdown(title: str, header: list[str], rows: list[list[object]], failed: bool) -> str:
    lines = [f"### {cell(title)}: {'FAILED' if failed else 'PASSED'}", ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def publish(text: str, name: str) -> None:
    sys.stdout.write(text)
    common.publish_summary(text, name)


def iso_date(value: object) -> dt.date | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def today_of(text: str | None) -> dt.date:
    if not text:
        return common.now().date()
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise common.InputError(f"--today {text!r} is not a date (YYYY-MM-DD)") from exc


def catalog_entries(catalog: object, model: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for item in catalog if isinstance(catalog, list) else []:
        spec = item.get("model") if isinstance(item, dict) else None
        if not isinstance(spec, dict):
            continue
        if (
            spec.get("name") == model["model"]
            and str(spec.get("version")) == model["version"]
            and str(spec.get("format", "")).casefold() == model["format"].casefold()
        ):
            out.append(item)
    return out


def retirement_findings(  # noqa: PLR0912 (moved from models.py as it was)
    model: dict[str, Any], entries: list[dict[str, Any]], today: dt.date, days: int
) -> tuple[str, str, list[str]]:
    """(lifecycle status, inference retirement date, findings) of a model in one region's catalog."""
    if not entries:
        return "not offered", "", ["not offered in this region"]
    findings: list[str] = []
    statuses, dates = set(), []
    skus: dict[str, dict[str, Any]] = {}
    for item in entries:
        spec = item["model"]
        status = spec.get("lifecycleStatus") or item.get("lifecycleStatus") or ""
        statuses.add(str(status))
        deprecation = spec.get("deprecation") if isinstance(spec.get("deprecation"), dict) else {}
        raw = (deprecation or {}).get("inference")
        if raw:
            parsed = iso_date(raw)
            if parsed is None:
                findings.append(f"unreadable retirement date {raw!r}")
            else:
                dates.append(parsed)
        for sku in spec.get("skus") or []:
            if isinstance(sku, dict) and isinstance(sku.get("name"), str):
                skus[sku["name"].casefold()] = sku
    for status in sorted(statuses):
        if status.casefold() in facts.DEPRECATED_STATUSES:
            findings.append(f"lifecycle status {status}")
    if model["sku"] and skus:
        sku = skus.get(model["sku"].casefold())
        if sku is None:
            findings.append(f"SKU {model['sku']} not offered")
        else:
            parsed = iso_date(sku.get("deprecationDate"))
            if parsed is not None:
                dates.append(parsed)
    first = min(dates) if dates else None
    if first is not None and (first - today).days <= days:
        left = (first - today).days
        findings.append(f"retires {first.isoformat()} ({'passed' if left < 0 else f'in {left} days'})")
    if findings and model["versionUpgrade"] == "NoAutoUpgrade":
        findings.append("versionUpgrade NoAutoUpgrade: the deployment breaks at retirement")
    return ", ".join(sorted(statuses)) or "unknown", first.isoformat() if first else "", findings


def models_to_check(release: dict[str, Any]) -> list[dict[str, Any]]:
    models = facts.foundation_models(release)
    if not models:
        print("no foundation models in release.json: nothing to check")
    return models


def cmd_check_retirements(args: argparse.Namespace) -> int:
    release = common.read_object(args.release, "release.json")
    regions = facts.regions_of(args.regions)
    if args.days < 0:
        raise common.InputError("--days must not be negative")
    today = today_of(args.today)
    models = models_to_check(release)
    if not models:
        return 0
    rows: list[list[object]] = []
    failed = False
    for region in regions:
        catalog = common.az_json(
            ["cognitiveservices", "model", "list", "-l", region], f"list the models of {region}"
        )
        for model in models:
            status, retires, findings = retirement_findings(
                model, catalog_entries(catalog, model), today, args.days
            )
            failed = failed or bool(findings)
            rows.append(
                [
                    f"{model['name']} ({model['format']} {model['model']})",
                    model["version"],
                    region,
                    status,
                    retires or "none announced",
                    "FAIL: " + "; ".join(findings) if findings else "PASS",
                ]
            )
    title = f"Model retirements (within {args.days} days of {today.isoformat()})"
    header = ["model", "version", "region", "lifecycle", "inference retirement", "result"]
    publish(markdown(title, header, rows, failed), "almgen-model-retirements.md")
    if failed:
        common.say(
            "model retirement check FAILED: plan an upgrade (a new version in almgen.yaml) before the date"
        )
    return 1 if failed else 0


def usage_matches(usage_name: str, model: dict[str, Any]) -> bool:
    """`<Format>.<sku>.<model>`, case-insensitively; any single-word SKU when release.json names none."""
    name, fmt, target = usage_name.casefold(), model["format"].casefold(), model["model"].casefold()
    if model["sku"]:
        return name == f"{fmt}.{model['sku'].casefold()}.{target}"
    prefix, suffix = f"{fmt}.", f".{target}"
    if not (name.startswith(prefix) and name.endswith(suffix)) or len(name) <= len(prefix) + len(suffix):
        return False
    middle = name[len(prefix) : -len(suffix)]
    return "." not in middle


def cmd_check_quota(args: argparse.Namespace) -> int:
    release = common.read_object(args.release, "release.json")
    regions = facts.regions_of(args.regions)
    if not 0 < args.percent <= 100:
        raise common.InputError("--percent must be above 0 and at most 100")
    models = models_to_check(release)
    if not models:
        return 0
    failed = False
    rows: list[list[object]] = []
    for region in regions:
        usages = (
            common.az_json(
                ["cognitiveservices", "usage", "list", "-l", region], f"list the usage of {region}"
            )
            or []
        )
        for model in models:
            label = f"{model['format']}.{model['sku'] or '*'}.{model['model']}"
            matches = [
                u
                for u in usages
                if isinstance(u, dict)
                and isinstance(u.get("name"), dict)
                and isinstance(u["name"].get("value"), str)
                and usage_matches(u["name"]["value"], model)
            ]
            if not matches:
                failed = True
                rows.append([label, region, "", "", "", "FAIL: no usage reported for this model and SKU"])
                continue
            for usage in matches:
                current, limit = (
                    retirement.number(usage.get("currentValue")),
                    retirement.number(usage.get("limit")),
                )
                if limit <= 0:
                    share, bad = "n/a", True
                    verdict = "FAIL: no quota (limit 0)"
                else:
                    used = 100 * current / limit
                    share, bad = f"{used:.1f}%", used >= args.percent
                    verdict = f"FAIL: at or above {args.percent:g}%" if bad else "PASS"
                failed = failed or bad
                rows.append([usage["name"]["value"], region, f"{current:g}", f"{limit:g}", share, verdict])
    title = f"Model quota (alert at {args.percent:g}%)"
    publish(
        markdown(title, ["usage", "region", "current", "limit", "used", "result"], rows, failed),
        "almgen-model-quota.md",
    )
    if failed:
        common.say("quota check FAILED: request more quota, or lower capacity in almgen.yaml")
    return 1 if failed else 0
