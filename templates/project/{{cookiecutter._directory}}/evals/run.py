"""The evaluation gate's command: score the deployed candidate and write the metrics JSON.

The pipeline sets ALMGEN_OUTPUTS (the deployment outputs) and ALMGEN_ENVIRONMENT; the gate
reads the file named by --out. Replace the scoring with azure-ai-evaluation's evaluators
(GroundednessEvaluator, RelevanceEvaluator) once the service answers questions.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.dataset.read_text("utf-8").splitlines() if line.strip()]
    if not rows:
        raise SystemExit("the evaluation dataset is empty")
    raise SystemExit(
        "evals/run.py is a starting point: call your service for each of the "
        f"{len(rows)} rows, score the answers, and write {{'metrics': {{...}}}} to {args.out}"
    )


if __name__ == "__main__":
    main()
