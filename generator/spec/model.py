"""The resolved spec: frozen, fully typed, defaults and per-environment values applied.

Everything after `resolve` reads these classes, never the raw YAML data.
"""

from __future__ import annotations

from dataclasses import field
from pathlib import Path
from typing import Literal

from generator.frozen import frozen

GateKind = Literal["evaluation", "safety"]
StrategyType = Literal["direct", "blue-green", "canary", "ab"]
AbMetric = Literal["latencyP95Ms", "errorRatePercent", "tokensPerRequest"]
AbDecide = Literal["rule", "manual"]
ModelKind = Literal["foundation", "custom"]
Operator = Literal[">=", ">", "<=", "<", "=="]


@frozen
class PerEnv:
    """A value per environment name, in promotion order."""

    items: tuple[tuple[str, int], ...]

    def __getitem__(self, env: str) -> int:
        for name, value in self.items:
            if name == env:
                return value
        raise KeyError(env)

    def as_dict(self) -> dict[str, int]:
        return dict(self.items)


@frozen
class PerEnvText:
    """A text value per environment name, in promotion order (e.g. a search tier)."""

    items: tuple[tuple[str, str], ...]

    def __getitem__(self, env: str) -> str:
        for name, value in self.items:
            if name == env:
                return value
        raise KeyError(env)

    def as_dict(self) -> dict[str, str]:
        return dict(self.items)


@frozen
class Threshold:
    metric: str
    operator: Operator
    value: float
    text: str  # as the user wrote the number, e.g. "4.0"

    def __str__(self) -> str:
        return f"{self.operator} {self.text}"


@frozen
class Setup:
    """What a test or gate command needs installed first: a pip requirements file, or a command."""

    requirements: str | None = None
    command: str | None = None

    def as_json(self) -> dict[str, str]:
        return {"requirements": self.requirements} if self.requirements else {"command": self.command or ""}


@frozen
class Gate:
    kind: GateKind
    command: str
    thresholds: tuple[Threshold, ...]
    results_variable: str  # the environment variable naming the results file
    dataset: str | None = None
    setup: Setup | None = None


@frozen
class Rollback:
    error_rate_percent: float
    latency_p95_ms: int | None
    min_requests: int = 0  # fewer requests in a health window: wait, then roll back


@frozen
class AbTest:
    """An A/B test: the candidate takes `split` % beside the serving version, then the rule decides."""

    split: int
    metric: AbMetric
    tolerance_percent: float
    decide: AbDecide = "rule"  # manual: a person approves the candidate after the comparison
    reviewers: tuple[str, ...] = ()  # manual: who decides


@frozen
class Strategy:
    type: StrategyType
    steps: tuple[int, ...] = ()
    bake_minutes: int = 0  # an A/B test's durationMinutes: the one wait before its comparison
    rollback: Rollback | None = None
    ab: AbTest | None = None

    def describe(self, arrow: str = "→") -> str:
        """`direct`, `blue-green`, `ab 50% for 60 min`, or `canary 10% → 50% → 100%`."""
        if self.ab is not None:
            return f"ab {self.ab.split}% for {self.bake_minutes} min"
        if self.type != "canary":
            return self.type
        return "canary " + f" {arrow} ".join(f"{step}%" for step in self.steps)


@frozen
class Approval:
    required: bool
    reviewers: tuple[str, ...] = ()


@frozen
class Test:
    name: str
    command: str
    timeout_minutes: int
    setup: Setup | None = None


@frozen
class Stack:
    """The resources of one environment in one region."""

    region: str
    resource_group: str
    primary: bool
    suffix: str  # appended to resource names; "" for a single-region environment


@frozen
class Environment:
    name: str
    index: int  # position in the promotion path, 0 first
    sku: str
    stacks: tuple[Stack, ...]
    service_connection: str
    public_network_access: Literal["Enabled", "Disabled"]
    tests: tuple[Test, ...]
    gates: tuple[Gate, ...]
    approval: Approval
    strategy: Strategy
    is_first: bool
    production: bool  # the last environment of a path of two or more: purge protection, locks

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(stack.region for stack in self.stacks)

    @property
    def primary(self) -> Stack:
        return self.stacks[0]


@frozen
class TrainingData:
    asset: str
    version: str


@frozen
class FineTune:
    """Azure OpenAI fine-tuning of a foundation model: the base is the model's `model` and `version`."""

    training_data: TrainingData
    validation_data: TrainingData | None = None
    epochs: int | None = None
    batch_size: int | None = None
    learning_rate_multiplier: float | None = None
    seed: int | None = None

    def hyperparameters(self) -> dict[str, int | float]:
        """The job's hyperparameters, as the REST API names them; the ones the spec omits are absent."""
        values = {
            "n_epochs": self.epochs,
            "batch_size": self.batch_size,
            "learning_rate_multiplier": self.learning_rate_multiplier,
        }
        return {k: v for k, v in values.items() if v is not None}


@frozen
class Model:
    name: str
    kind: ModelKind
    description: str
    version: str | None
    # foundation
    format: str | None = None
    model: str | None = None
    sku: str | None = None
    capacity: PerEnv | None = None
    standby_capacity: int | None = None  # the colour that serves nothing, between releases
    version_upgrade: str | None = None
    content_filter: str | None = None
    fine_tune: FineTune | None = None  # deploy a fine-tuned model of `model` `version` instead
    # custom
    path: str | None = None
    training_data: TrainingData | None = None
    preprocessing: tuple[str, ...] = ()
    feature_engineering: tuple[str, ...] = ()
    hyperparameters_file: str | None = None
    hyperparameters: tuple[tuple[str, str], ...] = ()  # inline values, as text
    training_job: str | None = None
    instance_type: str | None = None
    instance_count: PerEnv | None = None


@frozen
class Agent:
    name: str
    version: str
    description: str
    model: str
    instructions: str | None
    tools: tuple[str, ...]


@frozen
class Chunking:
    size: int  # characters
    overlap: int  # characters repeated from the previous chunk
    splitter: Literal["pages", "sentences"]


@frozen
class Retrieval:
    """The retrieval (RAG) artifact: documents, chunking, embedding model and index, versioned."""

    alias: str  # the name agents and tests query; each build is <alias>-v<N>
    source_version: str
    chunking: Chunking
    embedding: str  # a foundation model name from `models`
    sku: PerEnvText  # the Azure AI Search tier per environment
    source_asset: str | None = None  # exactly one of asset and path
    source_path: str | None = None
    fields: tuple[str, ...] = ()  # extra filterable metadata fields
    algorithm: Literal["hnsw", "exhaustiveKnn"] = "hnsw"
    metric: Literal["cosine", "dotProduct", "euclidean"] = "cosine"
    semantic_ranker: bool = False
    agents: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()


@frozen
class ContentFilter:
    name: str
    blocking: bool
    severity: Literal["low", "medium", "high"]
    protected_material: bool = True  # Protected Material Text and Code on completions
    indirect_attack: bool = True  # prompt shields for documents and tool output


@frozen
class Configuration:
    secrets: tuple[str, ...] = ()
    settings: tuple[tuple[str, str], ...] = ()
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    allowed_origins: tuple[str, ...] = ()


@frozen
class Gateway:
    """The AI gateway (Azure API Management) in front of the foundation models, or none."""

    type: Literal["apim", "none"]
    sku: Literal["BasicV2", "StandardV2"] = "BasicV2"

    @property
    def enabled(self) -> bool:
        return self.type == "apim"


@frozen
class Alerts:
    latency_p95_ms: int | None = None
    error_rate_percent: float | None = None
    quota_percent: int | None = None


@frozen
class Drift:
    frequency: Literal["day", "week", "month"]
    threshold: float


@frozen
class ProductionEvaluation:
    """monitoring.evaluation: the lifecycle workflow evaluates production on a schedule."""

    schedule: Literal["hourly", "daily"]
    safety: bool  # also the safety gate (when the spec has one)


@frozen
class Budget:
    monthly_amount: float
    start_date: str | None  # None: the first of the month the deployment runs


@frozen
class Monitoring:
    log_retention_days: int
    emails: tuple[str, ...] = ()
    alerts: Alerts = field(default_factory=Alerts)
    anomalies: bool = False
    drift: Drift | None = None
    dashboard: bool = False
    budget: Budget | None = None
    evaluation: ProductionEvaluation | None = None


@frozen
class Retirement:
    kind: Literal["model", "agent"]
    name: str
    version: str
    reason: str
    date: str


@frozen
class Registry:
    keep_versions: int
    retired: tuple[Retirement, ...] = ()
    name: str | None = None  # the Azure ML registry; None: naming.ml_registry(service)
    record_days: PerEnv = PerEnv(())  # per environment: days its records stay unchangeable (WORM)
    cleanup: bool = False  # registry.retention.cleanup: delete the data no version needs, certify it


@frozen
class Service:
    name: str
    description: str
    owner: str | None
    tags: tuple[tuple[str, str], ...]


@frozen
class AlmgenInstall:
    """Which almgen the generated pipelines install (`targets.almgen`): exactly one form."""

    form: Literal["version", "git", "wheel"]
    source: str  # the version, the git+https address pinned to a commit, or the wheel's address
    sha256: str = ""  # the wheel's, for form "wheel" only


@frozen
class Spec:
    source: Path  # the spec file, absolute
    service: Service
    pipelines: tuple[str, ...]
    infrastructure: str
    almgen: AlmgenInstall
    reusable_workflow_ref: Literal["self", "local"]  # targets.github.reusableWorkflowRef
    location: str
    environments: tuple[Environment, ...]
    models: tuple[Model, ...]
    agents: tuple[Agent, ...]
    tests: tuple[Test, ...]
    evaluation: Gate | None
    safety: Gate | None
    content_filters: tuple[ContentFilter, ...]
    configuration: Configuration
    gateway: Gateway
    monitoring: Monitoring
    registry: Registry
    extends: str | None
    policies: tuple[str, ...]
    templates: str | None
    inputs: tuple[Path, ...]  # every file the spec was built from (spec, bases, policies)
    retrieval: Retrieval | None = None

    @property
    def root(self) -> Path:
        return self.source.parent

    def environment(self, name: str) -> Environment:
        for env in self.environments:
            if env.name == name:
                return env
        raise KeyError(name)

    def model(self, name: str) -> Model:
        for model in self.models:
            if model.name == name:
                return model
        raise KeyError(name)

    @property
    def gates(self) -> tuple[Gate, ...]:
        """The gate sections the spec defines: evaluation, then safety."""
        return tuple(g for g in (self.evaluation, self.safety) if g is not None)

    @property
    def regions(self) -> tuple[str, ...]:
        """Every region any environment deploys to, sorted."""
        return tuple(sorted({r for env in self.environments for r in env.regions}))

    @property
    def gateway_failover(self) -> bool:
        """Whether an environment's gateways fail over between its regions (AI gateway, 2+ regions)."""
        return self.gateway.enabled and any(len(env.stacks) > 1 for env in self.environments)

    @property
    def custom_models(self) -> tuple[Model, ...]:
        return tuple(m for m in self.models if m.kind == "custom")

    @property
    def foundation_models(self) -> tuple[Model, ...]:
        return tuple(m for m in self.models if m.kind == "foundation")

    @property
    def fine_tuned_models(self) -> tuple[Model, ...]:
        """The foundation models the pipeline fine-tunes (`fineTune`) before deploying them."""
        return tuple(m for m in self.foundation_models if m.fine_tune is not None)

    @property
    def foundry_project(self) -> bool:
        """Each environment's AI Services account has a Foundry project: agents live in one, and the
        safety gate's content-safety evaluators (azure-ai-evaluation) call one."""
        return bool(self.agents) or self.safety is not None
