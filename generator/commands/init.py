"""`almgen init`: a new AI service in a folder, from the cookiecutter template, then generated.

The folder may be empty, hold only `.git`, or be an existing repository: init adds the files that
are missing and never overwrites one (it lists what it skipped). Everything is rendered and
generated in a temporary folder first, then copied in; a failure removes what was copied, so it
leaves nothing behind. The answers reach the spec as data (ruamel.yaml), never as YAML text.

The scaffold (spec, prompt, datasets, harnesses, tests, .gitignore) is written once and is the
user's; everything generated from the spec follows with `almgen generate`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from generator.commands.init_answers import Answers
from generator.errors import UsageError
from generator.package_data import data_dir
from generator.regen import manifest as mf
from generator.regen.files import atomic_write

SPEC = "almgen.yaml"
DATASET = "eval/qa.jsonl"
SKIP = ("__pycache__", ".pyc", ".pyo")  # never shipped, even if a checkout has them


@dataclass
class InitResult:
    spec: Path
    created: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    managed: set[str] = field(default_factory=set)  # what generate owns: a skipped one is drift


def init(directory: Path, answers: Answers) -> InitResult:
    """Add a starter service to `directory`; return what was created and what was kept as it was."""
    from generator.regen.generate import generate_spec

    refuse_initialized(directory)
    target = directory.absolute()
    with tempfile.TemporaryDirectory(prefix="almgen-init-") as tmp:
        staged = _render(Path(tmp), answers)
        write_answers(staged / SPEC, answers)
        write_first_row(staged / DATASET, answers.description)
        report = generate_spec(staged / SPEC)
        if report.refused:  # a fresh folder has nothing to refuse
            raise RuntimeError(f"generate refused files in a new folder: {report.refused}")
        created, skipped = _copy_in(staged, target)
        managed = {path for path, entry in mf.load(staged).files.items() if entry.ownership == "managed"}
    return InitResult(target / SPEC, created, skipped, managed)


def refuse_initialized(directory: Path) -> None:
    """A folder with a spec is started already: say what to do instead of asking anything."""
    if (directory / SPEC).exists():
        raise UsageError(
            f"{directory} already has {SPEC}: almgen init starts a service once; "
            f"edit {SPEC}, then run `almgen generate`"
        )
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} is a file, not a folder")


def _render(tmp: Path, answers: Answers) -> Path:
    from cookiecutter.exceptions import CookiecutterException
    from cookiecutter.main import cookiecutter

    context = {"_directory": "service", "name": answers.name}  # a checked name; other answers are data
    try:
        cookiecutter(
            str(data_dir("templates") / "project"), no_input=True, extra_context=context, output_dir=str(tmp)
        )
    except CookiecutterException as exc:
        raise UsageError(f"the project template failed: {exc}") from exc
    return tmp / "service"


def write_answers(spec: Path, answers: Answers) -> None:
    """Set the answers in the starter spec as YAML data; its comments and layout stay."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 110
    yaml.indent(mapping=2, sequence=4, offset=2)
    data = yaml.load(spec.read_text("utf-8"))
    data["service"]["name"] = answers.name
    data["service"]["description"] = answers.description
    data["targets"]["pipelines"] = _flow(answers.pipelines)
    data["azure"]["location"] = answers.region
    prod = data["environments"][-1]
    prod["approval"]["reviewers"] = _flow(answers.reviewers)
    prod["strategy"]["type"] = answers.strategy
    if answers.strategy == "canary":
        prod["strategy"]["steps"] = _flow((10, 50, 100))
    if answers.strategy == "direct":
        del prod["strategy"]
    with spec.open("w", encoding="utf-8") as handle:
        yaml.dump(data, handle)


def write_first_row(dataset: Path, description: str) -> None:
    """The dataset's first row asks what the service does; its description answers (as JSON data)."""
    rows = dataset.read_text("utf-8").splitlines()[1:]
    first = {"query": "What does this service do?", "context": description, "ground_truth": description}
    dataset.write_text("\n".join([json.dumps(first, ensure_ascii=False), *rows]) + "\n", "utf-8")


def _flow(items: tuple[str, ...] | tuple[int, ...]) -> object:
    from ruamel.yaml.comments import CommentedSeq

    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def _staged_files(staged: Path) -> list[Path]:
    return sorted(
        p
        for p in staged.rglob("*")
        if p.is_file() and not any(part == SKIP[0] or part.endswith(SKIP[1:]) for part in p.parts)
    )


def _copy_in(staged: Path, target: Path) -> tuple[list[str], list[str]]:
    """Copy every staged file that `target` lacks; undo every copy if one fails."""
    created: list[str] = []
    skipped: list[str] = []
    made: list[Path] = []  # files and folders this call created, in order
    try:
        for source in _staged_files(staged):
            relative = source.relative_to(staged).as_posix()
            destination = target / relative
            if _occupied(destination, target):
                skipped.append(relative)
                continue
            made += [d for d in reversed(destination.parents) if d not in made and not d.exists()]
            atomic_write(destination, source.read_bytes())
            made.append(destination)
            created.append(relative)
    except BaseException:
        _undo(made)
        raise
    return created, skipped


def _occupied(destination: Path, root: Path) -> bool:
    """Something is already there: the file itself, or a file where one of its folders would be."""
    if destination.exists() or destination.is_symlink():
        return True
    return any(p.is_file() or p.is_symlink() for p in destination.parents if p != root and root in p.parents)


def _undo(made: list[Path]) -> None:
    for path in reversed(made):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
