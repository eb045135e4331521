"""The `az devops` (azure-devops extension) commands `almgen setup` runs, with every flag each accepts.

The azure-devops extension is not on PyPI, so the real parser cannot check these lines here. This
table was read from the public Azure/azure-devops-cli-extension repository (version 1.0.7):
the flags are the parameters of the functions the commands call (knack turns `in_file` into
`--in-file`): azext_devops/dev/team/invoke.py `invoke`, dev/team/service_endpoint.py
`list_service_endpoints` and `create_service_endpoint` (its `service_endpoint_configuration` has no
default: required); dev/team/arguments.py gives `--org` beside `--organization` and `-p` beside
`--project` (load_global_args), and `--http-method`'s choices. Global flags (--output/-o, --query,
--only-show-errors, --debug, --verbose) are accepted everywhere.
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
}
REQUIRED: dict[tuple[str, ...], set[str]] = {
    ("devops", "service-endpoint", "create"): {"--service-endpoint-configuration"}
}
HTTP_METHODS = {"GET", "POST", "PATCH", "DELETE", "OPTIONS", "PUT", "HEAD"}  # get_enum_type: any case


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
    if "--http-method" in argv:
        method = argv[argv.index("--http-method") + 1 :][:1]
        if not method or method[0].upper() not in HTTP_METHODS:
            return f"argument --http-method: invalid choice: {method}"
    return None
