"""The simulated Azure behind a rehearsal's `az` stand-in (like moto for AWS).

`<world>/bin/az ARGS` runs `python -m generator.rehearse.azure ARGS` (see `__main__`), which keeps
the subscription in `<world>/azure.json` under a file lock and logs every call to
`<world>/az-calls.jsonl`.

Modules: `__main__` (argv, login lifetime, output and --query, the command table), `commands`
(handlers), `arm` (`az deployment sub create|show|what-if`: what infra/main.bicep creates, and its
outputs), `bicepparam` (the literal .bicepparam subset almgen emits), `metrics`
(`az monitor metrics list` over simulated time), `store` (state, locking, errors), `snapshot`
(`traffic_snapshot(world)`: what serves where).

Faults honoured (from `World.faults()`): `metric` (error rate / p95 latency of a model's candidate
from its Nth traffic increase on), `region` (a deployment fails at that region's stack after the
earlier stacks were created), `slow-deploy` (a deployment create takes that many minutes; past the
deadline the step's process group gets SIGTERM), `agents` (`az rest` writes to the agents of that
environment are refused with 403). The clock moves MINUTES_PER_STACK (arm) per
stack deployed; an `az ml job` completes JOB_MINUTES (commands) after it was created; a login lasts
`loginLifetimeMinutes` (azure.json, default 60) of simulated time.
"""
