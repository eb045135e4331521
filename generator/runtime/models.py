"""Model lifecycle: train, register with lineage, retire, retain, and the scheduled retirement and quota
checks.

Usage:
  python models.py train --env ENV --model NAME --outputs FILE [--save FILE] [--release FILE] [--root DIR]
                         [--poll-seconds N] [--timeout-minutes N]
  python models.py fine-tune --env ENV --outputs FILE [--state FILE] [--out FILE] [--save FILE]
                             [--candidates FILE] [--release FILE] [--poll-seconds N] [--timeout-minutes N]
  python models.py register --env ENV --outputs FILE [--trained FILE ...] [--out FILE] [--release FILE]
                            [--root DIR]
  python models.py retire --env ENV --outputs FILE --out FILE [--live-state FILE] [--release FILE]
  python models.py retain --env ENV --outputs FILE --keep N [--out FILE] [--release FILE]
  python models.py clean-up --env ENV --outputs FILE --out FILE [--release FILE]
  python models.py check-retirements --regions R1,R2 [--days 60] [--today YYYY-MM-DD] [--release FILE]
  python models.py check-quota --regions R1,R2 --percent N [--release FILE]

Inputs: `.almgen/release.json` (generated from the spec; `--release` overrides the path) and, for the
per-environment commands, the ARM deployment outputs of the environment (`--outputs`, the JSON of
`az deployment sub show --query properties.outputs`: `{"stacks": {"value": [...]}}`). Stacks are
processed primary first. Files that release.json names (job specs, model folders, hyperparameters) are
read relative to `--root` (default: the current directory) and must stay inside it.

- `train` submits the model's Azure ML job (`trainingJob`) in the primary region's workspace, polls its
  status until it ends, fails unless it Completed, and prints the job name; `--save` writes
  `{"model", "job", "workspace", "resourceGroup"}` for `register --trained`. A version already
  registered there is not trained again (a no-op push trains nothing): with other lineage it fails
  before a job is paid for; with other training code (the job file and its `code:` folder, hashed)
  it says to bump the version.
- `fine-tune` fine-tunes the foundation models with `fineTune` in the primary region's AI Services
  account with Azure OpenAI, only when their inputs (base model and version, data asset versions,
  hyperparameters, seed; hashed into the job's suffix) have no succeeded job yet, and waits for the
  job; `--out` writes the live state with `fineTuned` (deployment -> fine-tuned model id) for the next
  deploy, `--save` the lineage, `--candidates` the deployment each model's fine-tuned model goes to
  (with colours, the one that does not serve when the model is new; see finetuning.py).
- `register` registers every custom model of ENV in every region's workspace. Immutable lineage goes
  into the model version's `properties` (training data asset and version, preprocessing, feature
  engineering, hyperparameters sha256, training code sha256, git commit, spec sha256, training job);
  the mutable stage goes into `tags` (`stage=<env>`). A version that already exists is never
  re-created: its lineage must match (else exit 1 and nothing is changed), and only its stage tag
  moves. The summary
  `[{"model", "version", "workspace", "created"}]` goes to stdout and to `--out`.
- `retire` removes the versions in release.json's `retired` list from ENV: for a custom model, the
  online deployments that serve it (refused while one still receives traffic) and then the model
  version is tagged retired and archived; for a foundation model, an inactive colour deployment that
  still serves it (the active one is skipped with a warning). Nothing changes when anything is
  refused. A retirement record goes to `--out`.
- `retain` archives, per custom model and region, the registered versions past the `--keep` highest
  (`registry.retention.keepVersions`), never the one this release deploys nor one an online
  deployment still references; `--out` writes the retention record (see retention.py).
- `clean-up` (opt-in, after `retire`) deletes, in every environment, what its deployments' data
  collector wrote while only retired versions served and, in the last environment, the training
  data of retired custom versions that no other version needs, and writes a deletion certificate to
  `--out` when it deleted something (see cleanup.py).
- `check-retirements` and `check-quota` are the scheduled lifecycle checks of the foundation models of
  every environment: a Markdown table on stdout, appended to `$GITHUB_STEP_SUMMARY` (uploaded as a
  summary on Azure DevOps), exit 1 on any finding.

Azure is reached only through the Azure CLI (`ALMGEN_AZ` names another executable, for tests).
Exit codes: 0 ok; 1 failure (an Azure call failed, a check found a problem, a lineage mismatch, a
refused retirement); 2 usage or bad input, with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from pathlib import Path

if __package__:
    from . import cleanup, common, finetuning, lifecycle, registration, retention, retirement, training
else:  # run as .almgen/scripts/models.py: its siblings are beside it (also under python -I)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    common = importlib.import_module("common")
    finetuning = importlib.import_module("finetuning")
    lifecycle = importlib.import_module("lifecycle")
    registration = importlib.import_module("registration")
    retirement = importlib.import_module("retirement")
    retention = importlib.import_module("retention")
    training = importlib.import_module("training")
    cleanup = importlib.import_module("cleanup")

# --------------------------------------------------------------------------- CLI


def parser() -> argparse.ArgumentParser:
    result = common.Parser(
        prog="models.py", description="Train, register, retire and check the models of almgen.yaml."
    )
    commands = result.add_subparsers(dest="command", required=True, parser_class=common.Parser)

    def options(sub: argparse.ArgumentParser, env: bool = True) -> None:
        sub.add_argument(
            "--release", type=Path, default=Path(".almgen/release.json"), help="release.json path"
        )
        if env:
            sub.add_argument("--env", required=True, help="environment name in release.json")
            sub.add_argument("--outputs", type=Path, required=True, help="ARM deployment outputs JSON")
            sub.add_argument(
                "--root", type=Path, default=Path("."), help="folder the paths in release.json are in"
            )

    train = commands.add_parser("train", help="submit a model's Azure ML training job and wait for it")
    options(train)
    train.add_argument("--model", required=True, help="the custom model to train")
    train.add_argument("--save", type=Path, help="write {model, job, workspace, resourceGroup} here")
    train.add_argument("--poll-seconds", type=float, default=30.0, help="seconds between status checks")
    train.add_argument("--timeout-minutes", type=float, default=24 * 60.0, help="give up after this long")

    tune = commands.add_parser("fine-tune", help="fine-tune foundation models whose inputs changed")
    options(tune)
    tune.add_argument("--state", type=Path, help="the live state the deploy passes to Bicep")
    tune.add_argument("--out", type=Path, help="write the live state with fineTuned here")
    tune.add_argument("--save", type=Path, help="write the fine-tuning lineage here")
    tune.add_argument(
        "--candidates", type=Path, help="add {model: deployment that gets its fine-tuned model} to this file"
    )
    tune.add_argument("--poll-seconds", type=float, default=60.0, help="seconds between status checks")
    tune.add_argument("--timeout-minutes", type=float, default=12 * 60.0, help="give up after this long")

    register = commands.add_parser("register", help="register custom models with immutable lineage")
    options(register)
    register.add_argument("--trained", type=Path, action="append", help="a file written by train --save")
    register.add_argument("--out", type=Path, help="write the summary JSON here")

    retire = commands.add_parser("retire", help="remove the retired versions from an environment")
    options(retire)
    retire.add_argument("--out", type=Path, required=True, help="write the retirement record here")
    retire.add_argument("--live-state", type=Path, help='live state JSON ({"active": {model: deployment}})')

    retain = commands.add_parser("retain", help="archive registered versions past keepVersions")
    options(retain)
    retain.add_argument("--keep", type=int, required=True, help="registered versions kept per model")
    retain.add_argument("--out", type=Path, help="write the retention record here")

    clean = commands.add_parser(
        "clean-up", help="delete the training and collected data no kept version needs (opt-in)"
    )
    options(clean)
    clean.add_argument("--out", type=Path, required=True, help="write the deletion certificate here")

    check = commands.add_parser("check-retirements", help="fail when a foundation model version retires soon")
    options(check, env=False)
    check.add_argument("--regions", required=True, help="comma-separated Azure regions")
    check.add_argument("--days", type=int, default=60, help="fail when retirement is this close (default 60)")
    check.add_argument("--today", help="YYYY-MM-DD (default: today, UTC)")

    quota = commands.add_parser("check-quota", help="fail when a model's quota use reaches a percentage")
    options(quota, env=False)
    quota.add_argument("--regions", required=True, help="comma-separated Azure regions")
    quota.add_argument(
        "--percent", type=float, required=True, help="fail at or above this share of the limit"
    )
    return result


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train": training.cmd_train,
    "fine-tune": finetuning.cmd_fine_tune,
    "register": registration.cmd_register,
    "retire": retirement.cmd_retire,
    "retain": retention.cmd_retain,
    "clean-up": cleanup.cmd_clean_up,
    "check-retirements": lifecycle.cmd_check_retirements,
    "check-quota": lifecycle.cmd_check_quota,
}


def main(argv: list[str] | None = None) -> int:
    return common.main(parser(), COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
