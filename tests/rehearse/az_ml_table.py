"""The `az ml` (ml extension v2) commands almgen's scripts call, with every flag each accepts.

The `ml` extension is not on PyPI, so the real parser cannot check these lines here. This table
was read from the public Azure/azure-cli-extensions repository:
src/machinelearningservices/azext_mlv2/manual/_params/_common_params.py (add_common_params:
--resource-group/-g, --workspace-name/-w; add_override_param: --set; add_lro_param: --no-wait;
add_file_param: --file/-f), _online_endpoint_params.py, _online_deployment_params.py,
_model_params.py and _job_params.py. Delete commands are registered with confirmation, which adds
--yes/-y. Global flags (--output/-o, --query, --only-show-errors, --debug, --verbose,
--subscription) are accepted everywhere.
"""

from __future__ import annotations

GLOBAL = {"--output", "-o", "--query", "--only-show-errors", "--debug", "--verbose", "--subscription"}
COMMON = {"--resource-group", "-g", "--workspace-name", "-w"}
_ENDPOINT = {"--name", "-n"}
_DEPLOYMENT = {"--name", "-n", "--endpoint-name", "-e", "--local"}
_MODEL = {"--name", "-n", "--version", "-v", "--registry-name"}
_WEB_E = {"--web", "-e"}

ML_COMMANDS: dict[tuple[str, ...], set[str]] = {
    # _data_params.py: show takes --name, --version or --label, and a workspace or --registry-name
    ("ml", "data", "show"): COMMON | {"--name", "-n", "--version", "-v", "--label", "-l", "--registry-name"},
    # az ml datastore show --name --resource-group --workspace-name (the data collector's store)
    ("ml", "datastore", "show"): COMMON | {"--name", "-n"},
    ("ml", "online-endpoint", "show"): COMMON | _ENDPOINT | {"--local"} | _WEB_E,
    ("ml", "online-endpoint", "list"): COMMON | {"--local"},
    ("ml", "online-endpoint", "update"): COMMON
    | _ENDPOINT
    | {"--local", "--no-wait", "--traffic", "-r", "--file", "-f", "--mirror-traffic", "--web", "-e"},
    ("ml", "online-endpoint", "delete"): COMMON | _ENDPOINT | {"--local", "--no-wait", "--yes", "-y"},
    ("ml", "online-deployment", "show"): COMMON | _DEPLOYMENT | {"--web"},
    ("ml", "online-deployment", "list"): COMMON | {"--endpoint-name", "-e", "--local"},
    ("ml", "online-deployment", "create"): COMMON
    | _DEPLOYMENT
    | {
        "--file",
        "-f",
        "--local-enable-gpu",
        "--all-traffic",
        "--vscode-debug",
        "--set",
        "--web",
        "--skip-script-validation",
        "--package-model",
        "--no-wait",
    },
    ("ml", "online-deployment", "update"): COMMON
    | _DEPLOYMENT
    | {
        "--vscode-debug",
        "--file",
        "-f",
        "--set",
        "--local-enable-gpu",
        "--web",
        "--skip-script-validation",
        "--no-wait",
    },
    ("ml", "online-deployment", "delete"): COMMON | _DEPLOYMENT | {"--yes", "-y", "--no-wait"},
    ("ml", "model", "show"): COMMON | _MODEL | {"--label", "-l"},
    ("ml", "model", "list"): COMMON
    | {
        "--name",
        "-n",
        "--stage",
        "-s",
        "--max-results",
        "-r",
        "--registry-name",
        "--include-archived",
        "--archived-only",
    },
    ("ml", "model", "create"): COMMON
    | _MODEL
    | {
        "--set",
        "--tags",
        "--file",
        "-f",
        "--datastore",
        "--stage",
        "-s",
        "--path",
        "-p",
        "--type",
        "-t",
        "--description",
        "--default-deployment-template",
        "-d",
    },
    ("ml", "model", "update"): COMMON
    | _MODEL
    | {"--set", "--label", "-l", "--stage", "-s", "--file", "-f", "--description"},
    ("ml", "model", "archive"): COMMON | _MODEL | {"--label", "-l"},
    ("ml", "job", "create"): COMMON
    | {
        "--name",
        "-n",
        "--set",
        "--skip-validation",
        "--file",
        "-f",
        "--save-as",
        "-a",
        "--stream",
        "-s",
        "--web",
        "-e",
    },
    ("ml", "job", "show"): COMMON | {"--name", "-n", "--web", "-e"},
}


def check_ml(argv: list[str]) -> str | None:
    """Why the ml extension would reject ARGV, or None when it parses."""
    command = tuple(argv[:3])
    if command not in ML_COMMANDS:
        return f"az {' '.join(command)}: not a command of the ml extension table"
    allowed = ML_COMMANDS[command] | GLOBAL
    unknown = [a for a in argv[3:] if a.startswith("-") and a.split("=", 1)[0] not in allowed]
    return f"unrecognized arguments: {' '.join(unknown)}" if unknown else None
