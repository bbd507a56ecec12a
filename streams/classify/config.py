"""Classification standards: value tiers per currency, VIP threshold, tag thresholds.

The rule set is data with a version (a content hash plus a label); every output event
carries the version that produced it, so a changed threshold is traceable downstream.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator


class TierThresholds(BaseModel):
    """An order is ``high`` at or above ``high``, ``medium`` at or above ``medium``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    high: Decimal = Field(gt=0)
    medium: Decimal = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> TierThresholds:
        if self.medium >= self.high:
            raise ValueError(f"medium ({self.medium}) must be below high ({self.high})")
        return self


class ClassificationConfig(BaseModel):
    """Everything the classifier decides with; defaults reproduce the documented behaviour."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str = "builtin"
    default_tiers: TierThresholds = TierThresholds(high=Decimal(10000), medium=Decimal(1000))
    tiers: dict[str, TierThresholds] = Field(
        default_factory=dict, description="per-currency overrides of default_tiers"
    )
    vip_lifetime_spend: Decimal = Field(
        default=Decimal(100000), gt=0, description="lifetime spend (per currency) that makes a VIP"
    )
    vip_lifetime_spend_by_currency: dict[str, Decimal] = Field(default_factory=dict)
    bulk_quantity: int = Field(default=50, ge=1, description="total item quantity tagged bulk")

    def tiers_for(self, currency: str) -> TierThresholds:
        return self.tiers.get(currency, self.default_tiers)

    def vip_threshold_for(self, currency: str) -> Decimal:
        return self.vip_lifetime_spend_by_currency.get(currency, self.vip_lifetime_spend)

    @property
    def version(self) -> str:
        """``label@hash``: the hash covers every threshold, so equal labels cannot hide edits."""
        canonical = json.dumps(self.model_dump(mode="json", exclude={"label"}), sort_keys=True)
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        return f"{self.label}@{digest[:12]}"

    @classmethod
    def from_yaml(cls, path: Path) -> ClassificationConfig:
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping at the top level")
        return cls.model_validate(data)
