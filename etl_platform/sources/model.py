"""The source-spec contract: one YAML file per source, validated at definitions load."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from etl_platform.sources.rules import RuleError, compile_rule

# Identifiers from specs end up as table and column names; restrict them so they never need quoting
# tricks and can never carry SQL.
Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$")]


class ColumnType(StrEnum):
    """Logical column types; each engine maps them in one place (`quality.types`)."""

    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"


class MaskMethod(StrEnum):
    """How a PII column is masked before it reaches the warehouse."""

    HMAC = "hmac"  # keyed token: joinable within one environment, irreversible without the key
    LAST4 = "last4"  # display mask: everything but the last four characters becomes X
    REDACT = "redact"  # value replaced by a constant marker
    CARD = "card"  # display mask keeping the BIN (first 6) and last 4 digits, as PCI DSS allows
    AADHAAR = "aadhaar"  # display mask keeping the last 4 digits, as UIDAI allows


class SchemaPolicy(StrEnum):
    """What to do when a landed file's columns differ from the spec."""

    EVOLVE = "evolve"  # keep extra columns in raw, record the drift
    DISCARD_COLUMNS = "discard_columns"  # drop extra columns before raw, record the drift
    FREEZE = "freeze"  # refuse the file with a clear error


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Checks(_Strict):
    """Row-level checks on one column; each failure quarantines the row with its own reason."""

    min: float | None = None
    max: float | None = None
    allowed: list[str] | None = None
    regex: str | None = None
    unique: bool = False

    @model_validator(mode="after")
    def _coherent(self) -> Checks:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"regex {self.regex!r} does not compile: {exc}") from exc
        return self


class ColumnSpec(_Strict):
    """One declared column."""

    name: Identifier
    type: ColumnType
    description: str = ""
    nullable: bool = True
    checks: Checks = Checks()
    pii: MaskMethod | None = None

    @model_validator(mode="after")
    def _checks_fit_type(self) -> ColumnSpec:
        numeric = {ColumnType.INTEGER, ColumnType.FLOAT, ColumnType.DECIMAL}
        if (
            self.checks.min is not None or self.checks.max is not None
        ) and self.type not in numeric:
            raise ValueError(f"min/max need a numeric type, not {self.type.value}")
        if self.checks.regex is not None and self.type is not ColumnType.STRING:
            raise ValueError(f"regex needs type string, not {self.type.value}")
        return self


class Landing(_Strict):
    """Where a source's files land, relative to the landing root: `<prefix>/<YYYY-MM-DD>/<file>`."""

    prefix: Identifier
    pattern: str = "*"


class Dedup(_Strict):
    """For duplicate primary keys, the row with the greatest `latest_by` wins."""

    latest_by: Identifier


class Rule(_Strict):
    """A row-level business rule over several columns, e.g. `updated_at >= order_ts`.

    A row where the expression is false fails the rule; where it is NULL (an operand missing) the
    rule does not apply. `error` rules quarantine the row; `warn` rules stage it and report.
    """

    name: Identifier
    expression: str
    description: str = ""
    severity: Literal["error", "warn"] = "error"


class Quality(_Strict):
    """Partition-level quality gates; row-level checks live on the columns."""

    max_quarantine_rate: float = Field(0.05, ge=0, le=1)
    # error: a day over the rate is blocked from curated; warn: it is reported and proceeds.
    quarantine_rate_severity: Literal["error", "warn"] = "error"
    volume_lookback_days: int = Field(14, ge=3)
    # A day's row count is an anomaly outside median ± k·MAD of the lookback (k ≈ 3.5 is the
    # usual outlier cut; 5 keeps weekly seasonality from paging anyone).
    volume_mad_k: float = Field(5.0, gt=0)
    # By this cron (platform time zone) the previous day's partition must be materialized.
    freshness_deadline_cron: str = "0 9 * * *"


class SourceSpec(_Strict):
    """A declared source: everything the factory needs to build its assets and sensor."""

    name: Identifier
    description: str
    format: Literal["csv", "jsonl", "parquet"]
    landing: Landing
    columns: list[ColumnSpec] = Field(min_length=1)
    primary_key: list[Identifier] = Field(min_length=1)
    event_time: Identifier
    dedup: Dedup
    schema_policy: SchemaPolicy = SchemaPolicy.EVOLVE
    quality: Quality = Quality()
    rules: list[Rule] = []
    # Where staging runs: DuckDB in process (default), or Spark through the `spark` resource for
    # sources too big for one machine's DuckDB. Same rows, reasons and accounting either way.
    engine: Literal["duckdb", "spark"] = "duckdb"

    @model_validator(mode="after")
    def _references_exist(self) -> SourceSpec:
        names = [c.name for c in self.columns]
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise ValueError(f"column {name!r} is declared twice")
            seen.add(name)
        by_name = {c.name: c for c in self.columns}
        for key in self.primary_key:
            if key not in by_name:
                raise ValueError(f"primary_key column {key!r} is not declared in columns")
            if by_name[key].nullable:
                raise ValueError(f"primary_key column {key!r} must be nullable: false")
        event = by_name.get(self.event_time)
        if event is None or event.type is not ColumnType.TIMESTAMP:
            raise ValueError(
                f"event_time {self.event_time!r} must name a declared timestamp column"
            )
        if self.dedup.latest_by not in by_name:
            raise ValueError(f"dedup.latest_by {self.dedup.latest_by!r} is not declared in columns")
        if len({r.name for r in self.rules}) != len(self.rules):
            raise ValueError("rules: two rules share a name")
        for rule in self.rules:
            try:
                compile_rule(rule.expression, set(by_name))
            except RuleError as exc:
                raise ValueError(f"rule {rule.name!r}: {exc}") from exc
        return self

    @property
    def column_names(self) -> list[str]:
        """Declared column names, in spec order."""
        return [c.name for c in self.columns]


class SpecError(ValueError):
    """A source spec file that cannot be used; the message names the file and the field."""


def load_spec(path: Path) -> SourceSpec:
    """Parse and validate one spec file, naming the file and field in any error."""
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from exc
    try:
        spec = SourceSpec.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()
        )
        raise SpecError(f"{path}: invalid source spec: {problems}") from exc
    if spec.name != path.stem:
        raise SpecError(f"{path}: name: {spec.name!r} must match the file name {path.stem!r}")
    return spec


SPEC_DIR = Path(__file__).parent / "specs"


def load_specs(directory: Path = SPEC_DIR) -> list[SourceSpec]:
    """All specs in a folder, sorted by name; an empty folder is an error, not an empty platform."""
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        raise SpecError(f"{directory}: no source specs (*.yaml) found")
    return [load_spec(p) for p in paths]
