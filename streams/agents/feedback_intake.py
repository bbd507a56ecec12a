"""Feedback intake: a received feedback is classified, people's actions are re-keyed.

A received feedback is validated and classified (the pure classifier: rules plus the shipped
model) and goes on without its text, to the order book when it names an order (which counts a
complaint and says what the order is worth), else straight to the desk
(``streams.agents.feedback_desk``). A status change or a correction is validated and re-keyed
by feedback id, so the desk never depends on the producer's partitioner.
"""

from __future__ import annotations

import logging
import time
from typing import TypeVar

from faust import StreamT
from faust.types.tuples import Message
from pydantic import BaseModel

from schemas.events import FeedbackCorrection, FeedbackReceived
from schemas.events import FeedbackStatusChanged as StatusChange
from streams.app import Worker
from streams.classify.feedback import artifact
from streams.classify.feedback.classifier import FeedbackClassifier, classify_event
from streams.classify.feedback.decision import FeedbackDecision
from streams.classify.feedback.model import FeedbackModel
from streams.classify.masking import mask_optional, mask_text
from streams.classify.rules import RuleSet
from streams.records import FeedbackCase, FeedbackUpdate
from streams.rules import models
from streams.rules.models import ModelBook
from streams.runtime.deadletters import SOURCE_HEADER, source_of

log = logging.getLogger("ordertriage.feedback")
M = TypeVar("M", bound=BaseModel)


class Classifiers:
    """The live and shadow models (``streams.rules.models``) with the active rule set's feedback
    section; a classifier is built once per (rules, model) version pair."""

    def __init__(self, book: ModelBook) -> None:
        self.book = book
        self.built: dict[tuple[str, str], FeedbackClassifier] = {}

    def _for(self, model: FeedbackModel, rules: RuleSet) -> FeedbackClassifier | None:
        key = (rules.version, model.version)
        if key not in self.built:
            try:
                self.built = {
                    **{k: v for k, v in self.built.items() if k[0] == rules.version},
                    key: FeedbackClassifier(model, rules.feedback, rules.version),
                }
            except ValueError:
                log.exception("model %s does not fit rules %s", model.version, rules.version)
                return None
        return self.built[key]

    def decide(
        self, rules: RuleSet, event: FeedbackReceived
    ) -> tuple[FeedbackDecision, FeedbackDecision | None]:
        """The live decision and, when a shadow model runs, the shadow's on the same message."""
        live = self._for(self.book.live, rules) or self._for(artifact.load(), rules)
        if live is None:  # the shipped model does not fit either: a misconfigured rule set
            raise ValueError(f"no feedback model fits rules {rules.version}")
        shadow_model = self.book.shadow
        shadow = self._for(shadow_model, rules) if shadow_model is not None else None
        return classify_event(live, event), classify_event(shadow, event) if shadow else None


class Intake:
    def __init__(self, w: Worker, classifiers: Classifiers) -> None:
        self.w, self.classifiers = w, classifiers
        self.received = w.topics.feedback_received.get_topic_name()
        self.corrections = w.topics.feedback_corrections.get_topic_name()

    async def run(self, stream: StreamT[bytes]) -> None:
        w, book = self.w, self.classifiers.book
        async for event in stream.events():
            if not w.rulebook.ready.is_set():
                await w.rulebook.ready.wait()
            if not book.ready.is_set():
                book.wanted.set()  # the shipped model is built on demand (streams.rules.models)
                await book.ready.wait()  # the models topic read: never classify with a stale one
            message = event.message
            started = time.perf_counter()
            w.metrics.events_consumed.labels(topic=message.topic).inc()
            handle = (
                self.on_received
                if message.topic == self.received
                else self.on_correction
                if message.topic == self.corrections
                else self.on_status
            )
            await w.deadletters.process(message, handle)
            w.metrics.processing_seconds.labels(topic=message.topic).observe(
                time.perf_counter() - started
            )

    async def on_received(self, message: Message) -> None:
        w = self.w
        event = await w.deadletters.decode(
            FeedbackReceived, message, max_bytes=w.settings.max_value_bytes
        )
        if event is None:
            return
        decision, shadow = self.classifiers.decide(w.rulebook.current, event)
        # The model's strongest features are words of the text: phones and e-mails masked.
        decision, shadow = masked(decision), masked(shadow) if shadow is not None else None
        if shadow is not None:
            agree = shadow.category == decision.category
            w.metrics.feedback_shadow.labels(agree=str(agree).lower()).inc()
        case = FeedbackCase(
            event_id=event.event_id,
            feedback_id=event.feedback_id,
            occurred_at=event.occurred_at,
            channel=event.channel,
            customer_id=event.customer_id,
            order_id=event.order_id,
            rating=event.rating,
            decision=decision,
            shadow=shadow,
            source=source_of(message),
        )
        if event.order_id is not None:
            await w.topics.feedback_by_order.send(key=event.order_id.encode(), value=case)
        else:
            await w.topics.feedback_cases.send(key=event.feedback_id.encode(), value=case)

    async def on_status(self, message: Message) -> None:
        change = await self._decode(StatusChange, message)
        if change is not None:
            change = change.model_copy(update={"comment": mask_optional(change.comment)})
            await self._rekey(message, FeedbackUpdate(change=change, source=source_of(message)))

    async def on_correction(self, message: Message) -> None:
        fix = await self._decode(FeedbackCorrection, message)
        if fix is not None:
            fix = fix.model_copy(update={"reason": mask_optional(fix.reason)})
            await self._rekey(message, FeedbackUpdate(correction=fix, source=source_of(message)))

    async def _decode(self, model: type[M], message: Message) -> M | None:
        return await self.w.deadletters.decode(
            model, message, max_bytes=self.w.settings.max_value_bytes
        )

    async def _rekey(self, message: Message, update: FeedbackUpdate) -> None:
        """By feedback id with our partitioner, the source in a header (for dead letters)."""
        await self.w.topics.feedback_updates.send(
            key=update.feedback_id.encode(),
            value=update,
            headers=[(SOURCE_HEADER, update.source.model_dump_json().encode())],
        )


def register(w: Worker, book: ModelBook | None = None) -> Intake:
    """``book``: the models to classify with (default: follow the models topic)."""
    following = book is None
    book = book or ModelBook()
    intake = Intake(w, Classifiers(book))

    if following:

        @w.app.task
        async def follow_feedback_models() -> None:
            await models.follow(book, w.settings, after=w.app.tables.recovery.completed.wait())

    async def feedback_intake(stream: StreamT[bytes]) -> None:
        await intake.run(stream)

    w.app.agent(w.topics.feedback_intake, name="feedback-intake")(feedback_intake)
    return intake


def masked(decision: FeedbackDecision) -> FeedbackDecision:
    """The decision with phones and e-mails masked in its reasons (model features are words
    of the text)."""
    return decision.model_copy(update={"reasons": [mask_text(r) for r in decision.reasons]})
