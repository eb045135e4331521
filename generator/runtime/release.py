"""Release record: which versions, trained on what, passed which gates, serve where (lineage).

Usage:
  python release.py --env ENV --out FILE [--release .almgen/release.json] [--gate-verdict FILE ...]
                    [--outputs FILE] [--root DIR] [--retrieval FILE] [--agents FILE]
                    [--fine-tuned FILE] [--ab-test FILE ...] [--live-state FILE]
  python release.py retire --out FILE [--release .almgen/release.json]

`.almgen/release.json` (generated from the spec) holds the static facts: service, spec hash,
generator, and per environment the models (version, training data, preprocessing, feature
engineering, hyperparameters, deployments), the agents and the evaluation dataset. This script adds
what is only known at run time: the commit, the CI run and its URL, the actor, a UTC timestamp, the
gate verdicts (`*.gate.json` written by gate.py), the sha256 of the evaluation dataset and of a
hyperparameters file, the endpoints of every region from the ARM deployment outputs and, with retrieval,
the index version each region serves (`--retrieval`, from `retrieval.py switch`), the agent
versions made live in each region (`--agents`, from `agents.py live`: `agentsLive`), for fine-tuned
models their fine-tuning job and model (`--fine-tuned`, from `models.py fine-tune`), and the A/B
tests' comparisons (`--ab-test`, from `abtest.py compare`), and the version each custom model's
colour serves after the deploy (`--live-state`, from `traffic.py plan-ml`: `deployments`, which the
data clean-up reads to tell which version collected what). The record
is JSON for machines (keep it as a pipeline artifact); a Markdown summary goes to
`$GITHUB_STEP_SUMMARY` (and, on Azure DevOps, to an uploaded summary file).

Files that release.json names are read relative to `--root` (default: the current directory) and
must stay inside it. `retire` writes the retirement record of release.json's `retired` list.

Exit codes: 0 written; 1 lineage incomplete (a dataset or hyperparameters file named in release.json
is missing); 2 usage or bad input (release.json, a verdict or the outputs file missing or not JSON,
an unknown environment).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import importlib
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

if __package__:
    from . import common
else:  # run as .almgen/scripts/release.py: common.py is beside it (also under python -I)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    common = importlib.import_module("common")

RELEASE_SCHEMA = "almgen.release/v1"
RETIREMENT_SCHEMA = "almgen.retirement/v1"
STACK_KEYS = (
    "location",
    "resourceGroup",
    "primary",
    "aiServicesName",
    "aiServicesEndpoint",
    "appConfigurationEndpoint",
    "keyVaultUri",
    "workspaceName",
    "onlineEndpoints",
    "searchEndpoint",
)


class LineageError(Exception):
    """A file the lineage must hash is missing: exit 1."""


def sha256_of(root: Path, relative: str, what: str) -> str:
    """The sha256 of a file release.json names; it must stay inside ROOT."""
    if not relative or Path(relative).is_absolute() or re.match(r"^[A-Za-z]:", relative):
        raise common.InputError(f"{what} path {relative!r} must be relative to the repository")
    base = root.resolve()
    path = (base / relative).resolve()
    if path != base and base not in path.parents:
        raise common.InputError(f"{what} path {relative!r} leaves the repository")
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise LineageError(
            f"{what} {relative} cannot be read ({exc.strerror or exc}): lineage incomplete"
        ) from exc


def ci_context(environ: Mapping[str, str]) -> dict[str, Any]:
    """Commit, run and actor of the current CI run (GitHub Actions, Azure DevOps or local)."""
    if environ.get("GITHUB_RUN_ID"):
        server = environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        repository = environ.get("GITHUB_REPOSITORY", "")
        run_id = environ["GITHUB_RUN_ID"]
        return {
            "provider": "github-actions",
            "commit": environ.get("GITHUB_SHA"),
            "repository": repository or None,
            "run": {
                "id": run_id,
                "attempt": environ.get("GITHUB_RUN_ATTEMPT"),
                "url": f"{server}/{repository}/actions/runs/{run_id}" if repository else None,
            },
            "actor": environ.get("GITHUB_ACTOR"),
        }
    if environ.get("BUILD_BUILDID"):
        collection = environ.get("SYSTEM_COLLECTIONURI", "")
        project = environ.get("SYSTEM_TEAMPROJECT", "")
        build_id = environ["BUILD_BUILDID"]
        url = None
        if collection and project:
            url = f"{collection.rstrip('/')}/{quote(project)}/_build/results?buildId={quote(build_id)}"
        return {
            "provider": "azure-devops",
            "commit": environ.get("BUILD_SOURCEVERSION"),
            "repository": environ.get("BUILD_REPOSITORY_NAME"),
            "run": {"id": build_id, "attempt": environ.get("SYSTEM_JOBATTEMPT"), "url": url},
            "actor": environ.get("BUILD_REQUESTEDFOR"),
        }
    return {"provider": "local", "commit": None, "repository": None, "run": None, "actor": None}


def now_utc() -> str:
    return common.now().strftime("%Y-%m-%dT%H:%M:%SZ")


def models_with_hashes(models: object, root: Path) -> list[dict[str, Any]]:
    """release.json's models, with the sha256 of each hyperparameters file added."""
    if not isinstance(models, list) or not all(isinstance(m, dict) for m in models):
        raise common.InputError("release.json: 'models' must be a list of objects")
    out = []
    for model in copy.deepcopy(models):
        hyper = model.get("hyperparameters")
        if isinstance(hyper, dict) and isinstance(hyper.get("file"), str) and len(hyper) == 1:
            hyper["sha256"] = sha256_of(root, hyper["file"], f"hyperparameters file of {model.get('name')}")
        out.append(model)
    return out


def verdict(path: Path) -> dict[str, Any]:
    """A gate verdict written by gate.py, with the sha256 of the verdict file itself."""
    document = common.read_object(path, "gate verdict")
    if not isinstance(document.get("gate"), str) or not isinstance(document.get("passed"), bool):
        raise common.InputError(f"gate verdict {path} has no 'gate' and 'passed': was it written by gate.py?")
    document["verdictFile"] = str(path)
    document["verdictSha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return document


def endpoints(path: Path) -> list[dict[str, Any]]:
    """Per region, the endpoints from ARM deployment outputs (`{"stacks": {"value": [...]}}`)."""
    document = common.read_object(path, "deployment outputs")
    stacks = document.get("stacks")
    if isinstance(stacks, dict):
        stacks = stacks.get("value")
    if not isinstance(stacks, list) or not all(isinstance(s, dict) for s in stacks):
        raise common.InputError(f"deployment outputs {path} have no 'stacks' array")
    return [{key: stack[key] for key in STACK_KEYS if key in stack} for stack in stacks]


def environment(release: dict[str, Any], env: str) -> dict[str, Any]:
    environments = release.get("environments")
    if not isinstance(environments, dict):
        raise common.InputError("release.json has no 'environments' object")
    facts = environments.get(env)
    if not isinstance(facts, dict):
        known = ", ".join(sorted(environments)) or "none"
        raise common.InputError(f"environment {env!r} is not in release.json (known: {known})")
    return facts


def build_record(args: argparse.Namespace, environ: Mapping[str, str]) -> dict[str, Any]:
    release = common.read_object(args.release, "release file")
    facts = environment(release, args.env)
    root: Path = args.root
    dataset = facts.get("evaluationDataset")
    if dataset is not None and not isinstance(dataset, str):
        raise common.InputError("release.json: 'evaluationDataset' must be a path")
    agents = facts.get("agents", [])
    if not isinstance(agents, list):
        raise common.InputError("release.json: 'agents' must be a list")
    gates = [verdict(path) for path in args.gate_verdict]
    return {
        "schema": RELEASE_SCHEMA,
        "service": release.get("service"),
        "environment": args.env,
        "specSha256": release.get("specSha256"),
        "generator": release.get("generator"),
        **ci_context(environ),
        "timestamp": now_utc(),
        "models": models_with_hashes(facts.get("models", []), root),
        "agents": copy.deepcopy(agents),
        "evaluationDataset": (
            {"path": dataset, "sha256": sha256_of(root, dataset, "evaluation dataset")} if dataset else None
        ),
        "gates": gates,
        "gatesPassed": all(gate["passed"] for gate in gates),
        "endpoints": endpoints(args.outputs) if args.outputs else [],
        **retrieval_lineage(facts, args.retrieval),
        **agents_live(args.agents),
        **fine_tuning_lineage(args.fine_tuned),
        **ab_tests(args.ab_test),
        **colour_deployments(args.live_state),
    }


def colour_deployments(path: Path | None) -> dict[str, Any]:
    """From the live state this deploy applied (traffic.py plan-ml): the version each custom model's
    colour serves after it, so the data clean-up can tell which version collected what."""
    if path is None:
        return {}
    items = common.read_object(path, "live state").get("ml")
    if not isinstance(items, list):
        raise common.InputError(f"{path}: no 'ml' list (the output of traffic.py plan-ml)")
    keys = ("model", "colour", "version")
    return {
        "deployments": [
            {key: str(item[key]) for key in keys}
            for item in items
            if isinstance(item, dict) and all(item.get(k) for k in keys)
        ]
    }


def agents_live(path: Path | None) -> dict[str, Any]:
    """From agents.py live's output: the Foundry version of each agent made live, per region."""
    if path is None:
        return {}
    items = common.read_json(path, "live agent versions")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise common.InputError(f"{path}: not the output of agents.py live")
    keys = ("agent", "semver", "version", "region", "model")
    return {"agentsLive": [{key: str(item.get(key) or "") for key in keys} for item in items]}


def fine_tuning_lineage(path: Path | None) -> dict[str, Any]:
    """From models.py fine-tune --save: per fine-tuned model, its base, data versions, hyperparameters,
    seed, job, the fine-tuned model id and whether this run made it."""
    if path is None:
        return {}
    entries = common.read_json(path, "fine-tuning lineage")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise common.InputError(f"{path}: the fine-tuning lineage must be a list of objects")
    return {"fineTuned": copy.deepcopy(entries)}


def ab_tests(paths: list[Path]) -> dict[str, Any]:
    """The A/B tests of this deployment (abtest.py compare's JSON), when it ran any."""
    tests = [common.read_object(path, "A/B test comparison") for path in paths]
    return {"abTests": tests} if tests else {}


def retrieval_lineage(facts: dict[str, Any], served: Path | None) -> dict[str, Any]:
    """The retrieval inputs (documents and their version, chunking, embedding model and version, index
    definition) and, from retrieval.py switch's output, the index version each region serves."""
    retrieval = facts.get("retrieval")
    if not isinstance(retrieval, dict):
        return {}
    lineage = {
        key: copy.deepcopy(retrieval.get(key))
        for key in ("alias", "source", "chunking", "embedding", "index")
    }
    regions = common.read_object(served, "retrieval switch result").get("stacks", []) if served else []
    lineage["served"] = [
        {key: stack.get(key) for key in ("location", "index", "version", "inputsSha256", "built", "previous")}
        for stack in regions
        if isinstance(stack, dict)
    ]
    return {"retrieval": lineage}


def build_retirement(args: argparse.Namespace, environ: Mapping[str, str]) -> dict[str, Any]:
    release = common.read_object(args.release, "release file")
    retired = release.get("retired", [])
    if not isinstance(retired, list) or not all(isinstance(item, dict) for item in retired):
        raise common.InputError("release.json: 'retired' must be a list of objects")
    return {
        "schema": RETIREMENT_SCHEMA,
        "service": release.get("service"),
        "specSha256": release.get("specSha256"),
        "generator": release.get("generator"),
        **ci_context(environ),
        "timestamp": now_utc(),
        "retired": copy.deepcopy(retired),
    }


def cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def rows(header: list[str], body: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell(value) for value in row) + " |" for row in body]


def run_line(record: dict[str, Any]) -> str:
    run = record.get("run") or {}
    link = f"[{run.get('id')}]({run['url']})" if run.get("url") else cell(run.get("id") or "local")
    commit = cell(record.get("commit") or "unknown")
    actor = cell(record.get("actor") or "unknown")
    return f"commit `{commit}`, run {link}, by {actor}, {record['timestamp']}"


def training_data(model: dict[str, Any]) -> str:
    data = model.get("trainingData")
    return f"{data.get('asset')}:{data.get('version')}" if isinstance(data, dict) else ""


def release_summary(record: dict[str, Any]) -> str:
    lines = [
        f"### Release of {cell(record['service'])} to {cell(record['environment'])}",
        "",
        run_line(record),
        "",
    ]
    versions = [
        [m.get("kind"), m.get("name"), m.get("version"), m.get("model"), training_data(m)]
        for m in record["models"]
    ]
    versions += [["agent", a.get("name"), a.get("version"), a.get("model"), ""] for a in record["agents"]]
    lines += rows(["kind", "name", "version", "model", "training data"], versions)
    if record["evaluationDataset"]:
        dataset = record["evaluationDataset"]
        lines += ["", f"Evaluation dataset `{cell(dataset['path'])}` sha256 `{dataset['sha256']}`"]
    if record["gates"]:
        gates = [
            [g["gate"], g.get("env"), "PASS" if g["passed"] else "FAIL", g.get("resultsSha256")]
            for g in record["gates"]
        ]
        lines += ["", *rows(["gate", "env", "result", "results sha256"], gates)]
    if record["endpoints"]:
        regions = [
            [
                s.get("location"),
                "yes" if s.get("primary") else "",
                s.get("aiServicesEndpoint"),
                ", ".join(f"{e.get('model')}: {e.get('scoringUri')}" for e in s.get("onlineEndpoints") or []),
            ]
            for s in record["endpoints"]
        ]
        lines += ["", *rows(["region", "primary", "AI Services endpoint", "online endpoints"], regions)]
    lines += retrieval_summary(record.get("retrieval"))
    lines += ab_summary(record.get("abTests"))
    return "\n".join(lines) + "\n"


def ab_summary(tests: object) -> list[str]:
    """One row per A/B test, region and variant: what the comparison saw and who won."""
    if not isinstance(tests, list) or not tests:
        return []
    body = [
        [
            test.get("model"),
            region.get("location"),
            variant.get("deployment"),
            variant.get("requests"),
            variant.get("errorRatePercent"),
            variant.get("latencyP95Ms"),
            variant.get("tokensPerRequest"),
            "yes" if test.get("winner") == key else "",
        ]
        for test in tests
        if isinstance(test, dict)
        for region in test.get("regions") or []
        for key in ("serving", "candidate")
        for variant in [region.get(key) or {}]
    ]
    header = ["A/B test", "region", "deployment", "requests", "error rate %", "p95 ms", "tokens/request"]
    lost = [cell(t.get("model")) for t in tests if isinstance(t, dict) and t.get("winner") == "serving"]
    stopped = ["", f"The serving version of {', '.join(lost)} won: this release went no further."]
    return ["", *rows([*header, "won"], body), *(stopped if lost else [])]


def retrieval_summary(retrieval: object) -> list[str]:
    if not isinstance(retrieval, dict):
        return []
    source, chunking, embedding = retrieval["source"], retrieval["chunking"], retrieval["embedding"]
    where = source.get("path") or source.get("asset")
    body = [
        [
            s.get("location"),
            s.get("index"),
            where,
            source.get("version"),
            f"{chunking.get('splitter')} {chunking.get('size')}/{chunking.get('overlap')}",
            f"{embedding.get('catalogModel')} {embedding.get('version')}",
        ]
        for s in retrieval.get("served") or []
    ]
    header = ["region", "index", "documents", "version", "chunking", "embedding"]
    return ["", *rows(header, body)] if body else []


def retirement_summary(record: dict[str, Any]) -> str:
    lines = [f"### Retired versions of {cell(record['service'])}", "", run_line(record), ""]
    body = [
        [r.get("kind"), r.get("name"), r.get("version"), r.get("reason"), r.get("date")]
        for r in record["retired"]
    ]
    lines += rows(["kind", "name", "version", "reason", "date"], body) if body else ["No retired versions."]
    return "\n".join(lines) + "\n"


def publish(markdown: str, name: str, environ: Mapping[str, str]) -> None:
    """Append the summary to the GitHub step summary, or upload it on Azure DevOps."""
    common.publish_summary(markdown, re.sub(r"[^A-Za-z0-9_.-]", "_", name), environ)


def record_parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(
        prog="release.py",
        description="Write the release record of one environment's deployment (lineage).",
        epilog="The retirement record: release.py retire --out FILE [--release PATH].",
    )
    result.add_argument("--env", required=True, help="the environment deployed")
    result.add_argument("--out", required=True, type=Path, help="the record JSON to write")
    result.add_argument("--release", type=Path, default=Path(".almgen/release.json"), help="static facts")
    result.add_argument(
        "--gate-verdict",
        type=Path,
        nargs="+",
        action="extend",
        default=[],
        help="verdicts written by gate.py",
    )
    result.add_argument("--outputs", type=Path, help="ARM deployment outputs JSON (endpoints per region)")
    result.add_argument(
        "--retrieval", type=Path, help="retrieval.py switch's output: the index each region serves"
    )
    result.add_argument(
        "--agents", type=Path, help="agents.py live's output: the agent versions each region made live"
    )
    result.add_argument(
        "--fine-tuned", type=Path, help="models.py fine-tune's lineage: what each fine-tuned model is"
    )
    result.add_argument(
        "--ab-test",
        type=Path,
        nargs="+",
        action="extend",
        default=[],
        help="comparisons written by abtest.py compare",
    )
    result.add_argument(
        "--live-state",
        type=Path,
        help="traffic.py plan-ml's output: the version each custom model's colour serves",
    )
    result.add_argument(
        "--root", type=Path, default=Path("."), help="folder the paths in release.json start from"
    )
    return result


def retire_parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(prog="release.py retire", description="Write the retirement record.")
    result.add_argument("--out", required=True, type=Path, help="the record JSON to write")
    result.add_argument("--release", type=Path, default=Path(".almgen/release.json"), help="static facts")
    return result


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    retire = bool(arguments) and arguments[0] == "retire"
    args = retire_parser().parse_args(arguments[1:]) if retire else record_parser().parse_args(arguments)
    environ = os.environ
    try:
        record = build_retirement(args, environ) if retire else build_record(args, environ)
        common.write_json(args.out, record)
    except common.InputError as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 2
    except LineageError as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"release: cannot write {args.out}: {exc}", file=sys.stderr)
        return 1
    markdown = retirement_summary(record) if retire else release_summary(record)
    print(f"release: record written to {args.out}")
    try:
        publish(markdown, "almgen-retirement.md" if retire else f"almgen-release-{args.env}.md", environ)
    except OSError as exc:
        print(f"release: cannot write the summary: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
