"""Classify an order: standard dimensions from the rule set's thresholds, then custom rules.

A classification is a function of the order's facts, its status and one rule set, so a new
rule set or a status change re-runs the same code; ``Outcome.trace`` says which threshold or
rule decided each dimension (``GET /orders/{id}/explain``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

import streams.classify.dimensions as dimensions
from schemas.events import (
    ClassifiedOrder,
    CustomerSegment,
    OrderCorrection,
    Priority,
    Status,
    StatusChanged,
    ValueTier,
)
from streams.classify.conditions import Fact, evaluate, holds
from streams.classify.corrections import Override, applied, override
from streams.classify.facts import OrderFacts
from streams.classify.rules import RuleSet

Cause = Literal["order-created", "status-changed", "reclassified", "corrected"]


@dataclass(frozen=True)
class Decision:
    """One dimension's value, what decided it (a threshold, the matrix or rule ids), and why."""

    dimension: str
    value: str
    decided_by: str
    reason: str


@dataclass(frozen=True)
class Outcome:
    classification: ClassifiedOrder
    #: The facts after the rules ran (priority, tags): what SLA conditions are tested on.
    facts: dict[str, Fact] = field(default_factory=dict)
    trace: list[Decision] = field(default_factory=list)
    inputs: dict[str, str] = field(default_factory=dict)
    #: Per correctable dimension, what decided its value (a rule, thresholds, a correction).
    decided_by: dict[str, str] = field(default_factory=dict)


def classify(
    facts: OrderFacts,
    status: Status,
    rules: RuleSet,
    *,
    cause: Cause,
    event_id: str,
    occurred_at: datetime,
    now: datetime,
    status_reason: str = "new orders start in status new",
    as_of: datetime | None = None,
    explain: bool = False,
) -> Outcome:
    """``as_of`` is the time facts like ``age_hours`` are taken at: the event's time for
    events (so a replay decides the same), the sweep's time for re-evaluations."""
    fix = facts.corrections
    types, primary, primary_reason = dimensions.product_types(facts.items, rules)
    tier, tier_reason = dimensions.value_tier(facts.total_amount, facts.currency, rules)
    segment, segment_reason = dimensions.segment(
        vip_flag=facts.customer_vip,
        prior_orders=facts.prior_orders,
        lifetime_spend=facts.lifetime_spend,
        currency=facts.currency,
        rules=rules,
    )
    by = {
        "primary_product_type": "product_types",
        "value_tier": "value_tiers",
        "customer_segment": "vip thresholds and history",
    }
    # A person's value replaces what the rules decide; what follows (the priority matrix,
    # rule conditions) sees the corrected value, as it would had the rules decided it.
    if (o := fix.get("primary_product_type")) is not None:
        primary, primary_reason, by["primary_product_type"] = (
            str(o.value),
            o.why(primary_reason),
            _by(o),
        )
        types = sorted({*types, primary})
    if (o := fix.get("value_tier")) is not None:
        tier, tier_reason, by["value_tier"] = ValueTier(str(o.value)), o.why(tier_reason), _by(o)
    if (o := fix.get("customer_segment")) is not None:
        segment = CustomerSegment(str(o.value))
        segment_reason, by["customer_segment"] = o.why(segment_reason), _by(o)
    prio, prio_reason = dimensions.priority(tier, segment, rules)
    tags: list[str] = []
    tag_by: dict[str, str] = {}
    team: str | None = None
    fired: dict[str, str] = {}
    prio_by, team_by = "priority_matrix", ""
    fixed_prio, fixed_tags, fixed_team = fix.get("priority"), fix.get("tags"), fix.get("team")
    if fixed_prio is not None:
        prio, prio_by = Priority(str(fixed_prio.value)), _by(fixed_prio)
    if fixed_tags is not None:
        tags = list(fixed_tags.value)
        tag_by = dict.fromkeys(tags, _by(fixed_tags))
    if fixed_team is not None:
        team, team_by = str(fixed_team.value), _by(fixed_team)
    known: dict[str, Fact] = {
        "amount": facts.total_amount,
        "currency": facts.currency,
        "item_count": len(facts.items),
        "quantity": facts.quantity,
        "product_types": tuple(types),
        "product_type_count": len(types),
        "primary_product_type": primary,
        "channel": facts.channel,
        "region": facts.region,
        "customer_type": facts.customer_type.value,
        "customer_vip": facts.customer_vip,
        "customer_segment": segment.value,
        "prior_orders": facts.prior_orders,
        "complaints": len(facts.complaints),
        "lifetime_spend": facts.lifetime_spend,
        "age_hours": _hours(facts.created_at, as_of or occurred_at),
        "value_tier": tier.value,
        "status": status.value,
        "status_category": rules.lifecycle.category(status).value,
    }
    for rule, condition in rules.compiled:
        now_known = {**known, "priority": prio.value, "tags": tuple(tags)}
        if not holds(condition, now_known):
            continue
        act = rule.then
        fired[rule.id] = "; ".join(evaluate(condition, now_known)[1])
        # The rules still fire (their notifications go out); a corrected dimension keeps
        # the person's value.
        for tag in act.tags:
            if tag not in tag_by and fixed_tags is None:
                tags.append(tag)
                tag_by[tag] = f"rule {rule.id}"
        if fixed_prio is None and act.priority is not None and act.priority != prio:
            prio, prio_by = act.priority, f"rule {rule.id}"
            prio_reason += f"; set to {prio.value} by rule {rule.id}"
        if (
            fixed_prio is None
            and act.raise_priority is not None
            and _urgency(act.raise_priority) > _urgency(prio)
        ):
            prio, prio_by = act.raise_priority, f"rule {rule.id}"
            prio_reason += f"; raised to {prio.value} by rule {rule.id}"
        if fixed_team is None and act.team is not None:
            team, team_by = act.team, f"rule {rule.id}"
    tags.sort()
    tag_reason = "; ".join(f"{t}: {tag_by[t]}" for t in tags) or "no tag rule fired"
    if fixed_prio is not None:
        prio_reason = fixed_prio.why(prio_reason)
    if fixed_tags is not None:
        tag_reason = fixed_tags.why("not applied")
    reasons = {
        "product_type": primary_reason,
        "customer_type": f"customer.type is {facts.customer_type.value}",
        "customer_segment": segment_reason,
        "value_tier": tier_reason,
        "status": status_reason,
        "tags": tag_reason,
        "priority": prio_reason,
        **({"team": f"routed to {team} by {team_by}"} if team else {}),
        **({"team": fixed_team.why("not applied")} if fixed_team is not None else {}),
        **{f"rule:{rule_id}": why for rule_id, why in fired.items()},
    }
    record = ClassifiedOrder(
        order_id=facts.order_id,
        event_id=event_id,
        cause=cause,
        occurred_at=occurred_at,
        classified_at=now,
        customer_id=facts.customer_id,
        customer_type=facts.customer_type,
        customer_segment=segment,
        product_types=types,
        primary_product_type=primary,
        value_tier=tier,
        total_amount=facts.total_amount,
        currency=facts.currency,
        item_count=len(facts.items),
        channel=facts.channel,
        region=facts.region,
        status=status,
        status_category=rules.lifecycle.category(status),
        tags=tags,
        priority=prio,
        team=team,
        rules_fired=list(fired),
        rules_version=rules.version,
        reasons=reasons,
    )
    final = {**known, "priority": prio.value, "tags": tuple(tags)}
    by["priority"], by["team"] = prio_by, team_by or "-"
    by["tags"] = ", ".join(sorted(set(tag_by.values()))) or "-"
    if not explain:
        return Outcome(record, final, decided_by=by)
    trace = _trace(record, facts, rules, by)
    return Outcome(record, final, trace, {k: _text(v) for k, v in known.items()}, by)


def _trace(
    record: ClassifiedOrder, facts: OrderFacts, rules: RuleSet, by: dict[str, str]
) -> list[Decision]:
    """What decided each dimension of ``record``, for ``GET /orders/{id}/explain``."""
    reasons = record.reasons
    tiers = rules.value_tiers.for_currency(facts.currency)
    tier_source = (
        f"value_tiers.by_currency.{facts.currency}"
        if facts.currency in rules.value_tiers.by_currency
        else "value_tiers.default"
    )
    return [
        Decision(
            "product_type",
            record.primary_product_type,
            _or_person(by, "primary_product_type", "product_types mapping / item types"),
            reasons["product_type"],
        ),
        Decision(
            "value_tier",
            record.value_tier.value,
            _or_person(
                by, "value_tier", f"{tier_source} (high {tiers.high}, medium {tiers.medium})"
            ),
            reasons["value_tier"],
        ),
        Decision(
            "customer_segment",
            record.customer_segment.value,
            _or_person(by, "customer_segment", "vip thresholds and history"),
            reasons["customer_segment"],
        ),
        Decision("priority", record.priority.value, by["priority"], reasons["priority"]),
        Decision("tags", ",".join(record.tags), by["tags"], reasons["tags"]),
        Decision("team", record.team or "", by["team"], reasons.get("team", "no routing rule")),
        Decision("status", record.status.value, "lifecycle", reasons["status"]),
        *(
            Decision(f"rule:{rid}", "fired", f"rule {rid}", reasons[f"rule:{rid}"])
            for rid in record.rules_fired
        ),
    ]


def classify_created(
    facts: OrderFacts, rules: RuleSet, *, event_id: str, occurred_at: datetime, now: datetime
) -> Outcome:
    return classify(
        facts,
        Status.NEW,
        rules,
        cause="order-created",
        event_id=event_id,
        occurred_at=occurred_at,
        now=now,
    )


def classify_status_change(
    current: ClassifiedOrder,
    facts: OrderFacts | None,
    event: StatusChanged,
    rules: RuleSet,
    *,
    now: datetime,
) -> Outcome:
    """Apply a status change (``InvalidTransition`` when refused) and re-run the rules.

    Orders stored before facts were kept (``facts`` None) keep their dimensions unchanged.
    """
    rules.lifecycle.check(current.status, event.from_status, event.to_status)
    status_reason = (
        f"{event.from_status.value} -> {event.to_status.value}"
        f" by {event.changed_by or 'unknown'} at {event.occurred_at.isoformat()}"
    )
    if facts is None:
        return Outcome(
            current.model_copy(
                update={
                    "event_id": event.event_id,
                    "cause": "status-changed",
                    "occurred_at": event.occurred_at,
                    "classified_at": now,
                    "status": event.to_status,
                    "status_category": rules.lifecycle.category(event.to_status),
                    "reasons": {**current.reasons, "status": status_reason},
                }
            )
        )
    return classify(
        facts,
        event.to_status,
        rules,
        cause="status-changed",
        event_id=event.event_id,
        occurred_at=event.occurred_at,
        now=now,
        status_reason=status_reason,
    )


def reclassify(
    current: ClassifiedOrder,
    facts: OrderFacts,
    rules: RuleSet,
    *,
    now: datetime,
    review_at: datetime | None = None,
    because: tuple[str, str] | None = None,
) -> Outcome | None:
    """The order under ``rules`` as of ``now``, or None when nothing would change.

    After a switch the record's ``event_id`` is ``rules:<version>``; in a scheduled review
    (``review_at``) it is ``review:<time>``, so each is one distinct, repeatable cause; for
    new facts (a complaint linked) ``because`` gives the event id and the reason.
    """
    if because is not None:
        event_id, why = because
    elif review_at is not None:
        event_id = f"review:{review_at.isoformat()}"
        why = f"scheduled review at {review_at.isoformat()} under rules {rules.version}"
    else:
        event_id = f"rules:{rules.version}"
        why = f"rules {current.rules_version} -> {rules.version}"
    fresh = classify(
        facts,
        current.status,
        rules,
        cause="reclassified",
        event_id=event_id,
        occurred_at=current.occurred_at,
        now=now,
        status_reason=current.reasons.get("status", ""),
        as_of=now,
    )
    record = fresh.classification
    if _decided(record) == _decided(current):
        return None
    updated = record.model_copy(update={"reasons": {**record.reasons, "rules": why}})
    return Outcome(updated, fresh.facts)


def _decided(c: ClassifiedOrder) -> tuple[object, ...]:
    return (
        c.customer_segment,
        c.product_types,
        c.primary_product_type,
        c.value_tier,
        c.tags,
        c.priority,
        c.team,
        c.rules_fired,
    )


def _or_person(by: dict[str, str], dimension: str, rules_said: str) -> str:
    decided = by.get(dimension, "")
    return decided if decided.startswith("correction by") else rules_said


def _by(o: Override) -> str:
    return f"correction by {o.by}"


def _hours(start: datetime, end: datetime) -> Decimal:
    return (Decimal((end - start).total_seconds()) / 3600).quantize(Decimal("0.01"))


def _urgency(p: Priority) -> int:
    return -int(p.value[1:])  # P1 is the most urgent


def _text(value: Fact) -> str:
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def correct(
    current: ClassifiedOrder,
    facts: OrderFacts,
    correction: OrderCorrection,
    rules: RuleSet,
    *,
    now: datetime,
) -> tuple[Outcome, OrderFacts]:
    """The order with a person's ``correction`` applied, and the facts that now keep it.

    The record (cause ``corrected``) says what the value was, what had decided it (a rule,
    the thresholds, or an earlier correction) and who corrected it; the returned facts make
    every later classification of the order keep the person's value.
    """
    dimension = correction.dimension.value

    def now_as(with_facts: OrderFacts) -> Outcome:
        return classify(
            with_facts,
            current.status,
            rules,
            cause="corrected",
            event_id=correction.event_id,
            occurred_at=correction.occurred_at,
            now=now,
            status_reason=current.reasons.get("status", ""),
            as_of=correction.occurred_at,
        )

    decided_by = now_as(facts).decided_by[dimension]
    if current.rules_version != rules.version and not decided_by.startswith("correction by"):
        decided_by = f"{decided_by} (rules {rules.version})"
    kept = facts.model_copy(
        update={"corrections": {**facts.corrections, dimension: override(correction)}}
    )
    fresh = now_as(kept)
    record = fresh.classification.model_copy(
        update={"correction": applied(current, decided_by, correction)}
    )
    return Outcome(record, fresh.facts, decided_by=fresh.decided_by), kept
