"""Business metrics, built once against a registry passed in (tests pass a fresh one)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from streams.classify.staff import BOUNDS as STAFF_BUCKETS

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 21600, 86400)


@dataclass(frozen=True)
class Metrics:
    events_consumed: Counter
    orders_classified: Counter
    notifications: Counter
    deadletters: Counter
    unknown_fields: Counter
    processing_seconds: Histogram
    gc_full_pause_seconds: Histogram
    event_loop_lag_seconds: Histogram
    event_time_lag_seconds: Histogram
    parked_status_events: Gauge
    created_path_drained_seconds: Gauge
    feedback_received: Counter
    feedback_review: Counter
    feedback_first_response_seconds: Histogram
    feedback_sla_breaches: Counter
    feedback_shadow: Counter
    misrouted_records: Counter
    analytics_windows_published: Counter
    analytics_late_events: Counter
    replayed_events: Counter
    refetched_offsets: Counter
    rules_info: Gauge
    rules_rejected: Counter
    rules_switches: Counter
    reclassified: Counter
    reclassify_pending: Gauge
    sla_breaches: Counter
    corrections: Counter
    escalations: Counter
    orders_expired: Counter
    out_of_order_events: Counter
    open_orders: Gauge
    oldest_open_seconds: Gauge
    overdue_orders: Gauge
    consumer_lag_records: Gauge
    stalled_seconds: Gauge
    backpressure_waiting_records: Gauge
    inputs_held: Gauge
    input_holds: Counter
    staff_status_changes: Counter
    staff_hold_seconds: Histogram
    staff_sla_breaches: Counter
    staff_corrections_made: Counter
    staff_corrections_received: Counter
    staff_feedback_seconds: Histogram
    staff_feedback_reopened: Counter
    segment_moves: Counter
    followups_opened: Counter
    followups_done: Counter
    followups_overdue: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> Metrics:
        p = "ordertriage_"
        return cls(
            events_consumed=Counter(
                f"{p}events_consumed",
                "Input records consumed, per topic.",
                ["topic"],
                registry=registry,
            ),
            orders_classified=Counter(
                f"{p}orders_classified",
                "Classified order records published, per dimension and value.",
                ["dimension", "value"],
                registry=registry,
            ),
            notifications=Counter(
                f"{p}notifications",
                "Notifications published, per kind.",
                ["kind"],
                registry=registry,
            ),
            deadletters=Counter(
                f"{p}deadletters",
                "Records sent to the dead-letter topic, per reason.",
                ["reason"],
                registry=registry,
            ),
            unknown_fields=Counter(
                f"{p}unknown_fields",
                "Input records carrying fields the contract does not know, per topic.",
                ["topic"],
                registry=registry,
            ),
            processing_seconds=Histogram(
                f"{p}processing_seconds",
                "Time to process one input record, from receipt to outputs sent.",
                ["topic"],
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            gc_full_pause_seconds=Histogram(
                f"{p}gc_full_pause_seconds",
                "Duration of each full (generation 2) garbage collection: the whole process"
                " waits meanwhile.",
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            event_loop_lag_seconds=Histogram(
                f"{p}event_loop_lag_seconds",
                "How late the event loop ran a callback that was due (sampled every 0.1 s):"
                " every output in flight waits as long.",
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            event_time_lag_seconds=Histogram(
                f"{p}event_time_lag_seconds",
                "Processing time minus the event's occurred_at.",
                ["topic"],
                buckets=LAG_BUCKETS,
                registry=registry,
            ),
            parked_status_events=Gauge(
                f"{p}parked_status_events",
                "Status changes waiting for their order to arrive.",
                registry=registry,
            ),
            created_path_drained_seconds=Gauge(
                f"{p}created_path_drained_seconds",
                "How long ago the created path (input, by-customer, enriched) was last drained"
                " group-wide: every order appended before then is in the order book. Parked"
                " status changes give up once it is past their parking plus the grace.",
                registry=registry,
            ),
            feedback_received=Counter(
                f"{p}feedback_received",
                "Customer feedback routed, per channel and category.",
                ["channel", "category"],
                registry=registry,
            ),
            feedback_review=Counter(
                f"{p}feedback_review",
                "Feedback the classifier was unsure of, sent to the review queue.",
                registry=registry,
            ),
            feedback_first_response_seconds=Histogram(
                f"{p}feedback_first_response_seconds",
                "From a feedback's arrival to its first acknowledgement or response.",
                buckets=(60, 300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 86400, 3 * 86400),
                registry=registry,
            ),
            feedback_sla_breaches=Counter(
                f"{p}feedback_sla_breaches",
                "Feedback SLA steps fired (reminders and escalations), per clock.",
                ["clock"],
                registry=registry,
            ),
            feedback_shadow=Counter(
                f"{p}feedback_shadow",
                "Messages a shadow feedback model classified beside the live one, by whether"
                " they agreed on the category.",
                ["agree"],
                registry=registry,
            ),
            misrouted_records=Counter(
                f"{p}misrouted_records",
                "Input records on another partition than their order id's (murmur2), per"
                " producer pattern; status changes among them take one internal hop.",
                ["topic", "pattern"],
                registry=registry,
            ),
            analytics_windows_published=Counter(
                f"{p}analytics_windows_published",
                "Analytics window records published, per window size.",
                ["window_seconds"],
                registry=registry,
            ),
            analytics_late_events=Counter(
                f"{p}analytics_late_events",
                "Classified records too late for any retained analytics window.",
                registry=registry,
            ),
            replayed_events=Counter(
                f"{p}replayed_events",
                "Records seen again after a crash or rebalance; outputs re-sent, state kept.",
                ["topic"],
                registry=registry,
            ),
            refetched_offsets=Counter(
                f"{p}refetched_offsets",
                "Input offsets Faust's fetch loop skipped, read again (runtime/continuity.py).",
                ["topic"],
                registry=registry,
            ),
            rules_info=Gauge(
                f"{p}rules_info",
                "The active classification rule set (value is 1).",
                ["version"],
                registry=registry,
            ),
            rules_rejected=Counter(
                f"{p}rules_rejected",
                "Invalid rule sets found on the rules topic and ignored (last good set kept).",
                registry=registry,
            ),
            rules_switches=Counter(
                f"{p}rules_switches",
                "Switches to a newly published rule set.",
                registry=registry,
            ),
            reclassified=Counter(
                f"{p}reclassified",
                "Open orders re-evaluated in background sweeps, per outcome.",
                ["outcome"],
                registry=registry,
            ),
            reclassify_pending=Gauge(
                f"{p}reclassify_pending",
                "Open orders queued for re-evaluation on this worker.",
                registry=registry,
            ),
            sla_breaches=Counter(
                f"{p}sla_breaches",
                "SLA deadlines missed (reminder sent), per SLA.",
                ["sla"],
                registry=registry,
            ),
            corrections=Counter(
                f"{p}corrections",
                "People's corrections of an order's classification, per dimension and what had"
                " decided the value (a rule id, thresholds, or 'a person'; never a person's id).",
                ["dimension", "decided_by"],
                registry=registry,
            ),
            escalations=Counter(
                f"{p}escalations",
                "SLA escalations sent, per ladder level (1 = first escalation).",
                ["level"],
                registry=registry,
            ),
            orders_expired=Counter(
                f"{p}orders_expired",
                "Finished orders removed from state after the retention period.",
                registry=registry,
            ),
            out_of_order_events=Counter(
                f"{p}out_of_order_events",
                "Status changes older than the order's current status: recorded, not applied.",
                registry=registry,
            ),
            open_orders=Gauge(
                f"{p}open_orders",
                "Open orders held by this worker, per status.",
                ["status"],
                registry=registry,
            ),
            oldest_open_seconds=Gauge(
                f"{p}oldest_open_seconds",
                "Age in its status of the oldest open order held by this worker, per status.",
                ["status"],
                registry=registry,
            ),
            overdue_orders=Gauge(
                f"{p}overdue_orders",
                "Open orders past an SLA deadline, held by this worker.",
                registry=registry,
            ),
            consumer_lag_records=Gauge(
                f"{p}consumer_lag_records",
                "Records waiting in the assigned input and internal partitions (not committed).",
                registry=registry,
            ),
            stalled_seconds=Gauge(
                f"{p}stalled_seconds",
                "How long a topic with waiting records has committed nothing (0 = moving).",
                registry=registry,
            ),
            backpressure_waiting_records=Gauge(
                f"{p}backpressure_waiting_records",
                "Internal-topic records assigned here and not read yet (what backpressure sees).",
                registry=registry,
            ),
            inputs_held=Gauge(
                f"{p}inputs_held",
                "1 while input topics are not read because internal topics are backed up.",
                registry=registry,
            ),
            input_holds=Counter(
                f"{p}input_holds",
                "Times input topics were held for backed-up internal topics (backpressure).",
                registry=registry,
            ),
            # Staff KPIs per team only: a person's id is never a label (docs/staff.md).
            staff_status_changes=Counter(
                f"{p}staff_status_changes",
                "Order status changes people made (orders handled), per team.",
                ["team"],
                registry=registry,
            ),
            staff_hold_seconds=Histogram(
                f"{p}staff_hold_seconds",
                "Time an order spent in one person's hands in a status, per team and status.",
                ["team", "status"],
                buckets=STAFF_BUCKETS,
                registry=registry,
            ),
            staff_sla_breaches=Counter(
                f"{p}staff_sla_breaches",
                "SLA steps that fired while an order was in a person's hands, per team.",
                ["team"],
                registry=registry,
            ),
            staff_corrections_made=Counter(
                f"{p}staff_corrections_made",
                "Classification corrections people made, per team and dimension.",
                ["team", "dimension"],
                registry=registry,
            ),
            staff_corrections_received=Counter(
                f"{p}staff_corrections_received",
                "Corrections overriding a value a person had set, per team and dimension.",
                ["team", "dimension"],
                registry=registry,
            ),
            staff_feedback_seconds=Histogram(
                f"{p}staff_feedback_seconds",
                "From a feedback's arrival to a person's first response or resolution, per"
                " team and step.",
                ["team", "step"],
                buckets=STAFF_BUCKETS,
                registry=registry,
            ),
            staff_feedback_reopened=Counter(
                f"{p}staff_feedback_reopened",
                "Resolved feedback reopened, counted against the resolver's team.",
                ["team"],
                registry=registry,
            ),
            segment_moves=Counter(
                f"{p}segment_moves",
                "Customers moved between care segments, per from and to segment.",
                ["from_segment", "to_segment"],
                registry=registry,
            ),
            followups_opened=Counter(
                f"{p}followups_opened",
                "Follow-up tasks opened, per strategy.",
                ["strategy"],
                registry=registry,
            ),
            followups_done=Counter(
                f"{p}followups_done",
                "Follow-up tasks done, per strategy (by a person, or moot by a segment move).",
                ["strategy", "by"],
                registry=registry,
            ),
            followups_overdue=Counter(
                f"{p}followups_overdue",
                "Follow-up tasks that fell overdue (their reminder fired), per strategy.",
                ["strategy"],
                registry=registry,
            ),
        )
