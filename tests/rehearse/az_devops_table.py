"""The `az devops` (azure-devops extension) commands `almgen setup` runs, with every flag each accepts.

The azure-devops extension is not on PyPI, so the real parser cannot check these lines here. This
table was read from the public Azure/azure-devops-cli-extension repository (version 1.0.7):
the flags are the parameters of the functions the commands call (knack turns `in_file` into
`--in-file`): azext_devops/dev/team/invoke.py `invoke`, dev/team/service_endpoint.py
`list_service_endpoints` and `create_service_endpoint` (its `service_endpoint_configuration` has no
default: required), dev/pipelines/pipeline_create.py `pipeline_create` (`name` required) and
dev/pipelines/pipeline.py `pipeline_list` and `pipeline_show`; dev/team/arguments.py gives `--org`
beside `--organization` and `-p` beside `--project` (load_global_args), and `--http-method`'s
choices; dev/pipelines/arguments.py gives `--yaml-path` beside `--yml-path`, `--skip-run` beside
`--skip-first-run` (a three-state flag: alone, or true/false) and `--repository-type`'s choices.
Global flags (--output/-o, --query, --only-show-errors, --debug, --verbose) are accepted everywhere.
"""

from __future__ import annotations

GLOBAL = {"--output", "-o", "--query", "--only-show-errors", "--debug", "--verbose"}
_ORGANIZATION = {"--organization", "--org", "--detect"}
_PROJECT = _ORGANIZATION | {"--project", "-p"}

DEVOPS_COMMANDS: dict[tuple[str, ...], set[str]] = {
    ("devops", "invoke"): _ORGANIZATION
    | {
        "--area",
        "--resource",
        "--route-parameters",
        "--query-parameters",
        "--api-version",
        "--http-method",
        "--in-file",
        "--encoding",
        "--media-type",
        "--accept-media-type",
        "--out-file",
    },
    ("devops", "service-endpoint", "list"): _PROJECT,
    ("devops", "service-endpoint", "create"): _PROJECT | {"--service-endpoint-configuration", "--encoding"},
    ("pipelines", "create"): _PROJECT
    | {
        "--name",
        "--description",
        "--repository",
        "--branch",
        "--yml-path",
        "--yaml-path",
        "--repository-type",
        "--service-connection",
        "--queue-id",
        "--skip-first-run",
        "--skip-run",
        "--folder-path",
    },
    ("pipelines", "list"): _PROJECT
    | {"--name", "--top", "--repository", "--query-order", "--folder-path", "--repository-type"},
    ("pipelines", "show"): _PROJECT | {"--id", "--name", "--open", "--folder-path"},
}
REQUIRED: dict[tuple[str, ...], set[str]] = {
    ("devops", "service-endpoint", "create"): {"--service-endpoint-configuration"},
    ("pipelines", "create"): {"--name"},
}
CHOICES: dict[str, set[str]] = {  # the flag's value, in any case
    "--http-method": {"GET", "POST", "PATCH", "DELETE", "OPTIONS", "PUT", "HEAD"},  # get_enum_type
    "--repository-type": {"TFSGIT", "GITHUB"},  # pipelines create: type=str.lower
    "--skip-first-run": {"TRUE", "FALSE", "YES", "NO", "ON", "OFF", "1", "0"},  # three-state flag
}


def check_devops(argv: list[str]) -> str | None:
    """Why the azure-devops extension would reject ARGV, or None when it parses."""
    words = tuple(argv[: next((i for i, a in enumerate(argv) if a.startswith("-")), len(argv))])
    if words not in DEVOPS_COMMANDS:
        return f"az {' '.join(words)}: not a command of the azure-devops extension table"
    flags = [a.split("=", 1)[0] for a in argv[len(words) :] if a.startswith("-")]
    unknown = [flag for flag in flags if flag not in DEVOPS_COMMANDS[words] | GLOBAL]
    if unknown:
        return f"unrecognized arguments: {' '.join(unknown)}"
    missing = sorted(REQUIRED.get(words, set()) - set(flags))
    if missing:
        return f"the following arguments are required: {', '.join(missing)}"
    for flag, choices in CHOICES.items():
        if flag in argv:
            value = argv[argv.index(flag) + 1 :][:1]
            if flag == "--skip-first-run" and (not value or value[0].startswith("-")):
                continue  # a three-state flag may stand alone
            if not value or value[0].upper() not in choices:
                return f"argument {flag}: invalid choice: {value}"
    return None
