"""Which topics a logged-in device may publish and subscribe to, and what each is.

The platform's topics (``losant/<deviceId>/state`` to publish,
``losant/<deviceId>/command`` to subscribe) are reserved: any other topic under
``losant/`` is refused. Everything else is a custom topic, governed by the
access key's ``pubTopics`` / ``subTopics`` filters (MQTT filters, ``+``/``#``).
Who a device may speak for (itself, a gateway also its peripherals) is the
access-key model's rule (``ApplicationKeys.may_report_for``), not repeated here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from losant_kit.mockserver.errors import ValidationError
from losant_kit.mockserver.models.commands import (
    check_topic_filter,
    check_topic_name,
    topic_matches,
)

PLATFORM_PREFIX = "losant/"
Channel = Literal["state", "command"]


class TopicRefused(Exception):
    """A publish or subscription the device's key does not allow (the reason is the text)."""


@dataclass(frozen=True, slots=True)
class DeviceTopic:
    """``losant/<device_id>/<channel>``."""

    device_id: str
    channel: Channel

    @property
    def name(self) -> str:
        return f"{PLATFORM_PREFIX}{self.device_id}/{self.channel}"


def platform_topic(topic: str) -> DeviceTopic | None:
    """The device topic ``topic`` names, None for a custom topic; refuses other
    ``losant/`` topics (wildcards included: a filter never spans devices)."""
    if not topic.startswith(PLATFORM_PREFIX):
        return None
    parts = topic.split("/")
    if len(parts) == 3 and parts[1] and parts[2] in ("state", "command") and _plain(parts[1]):
        return DeviceTopic(parts[1], parts[2])  # type: ignore[arg-type]
    raise TopicRefused(f"{topic} is a reserved topic (losant/<deviceId>/state or /command)")


def check_custom_publish(topic: str, pub_topics: list[str]) -> str:
    """A custom topic the key lets a device publish to, or TopicRefused."""
    try:
        check_topic_name(topic, "topic")
    except ValidationError as exc:
        raise TopicRefused(exc.message) from None
    if not any(topic_matches(allowed, topic) for allowed in pub_topics):
        raise TopicRefused(f"the access key's pubTopics do not include {topic}")
    return topic


def check_custom_subscription(topic_filter: str, sub_topics: list[str]) -> str:
    """A custom filter the key lets a device subscribe to, or TopicRefused."""
    try:
        check_topic_filter(topic_filter, "topic filter")
    except ValidationError as exc:
        raise TopicRefused(exc.message) from None
    if not any(filter_covers(allowed, topic_filter) for allowed in sub_topics):
        raise TopicRefused(f"the access key's subTopics do not cover {topic_filter}")
    return topic_filter


def filter_covers(allowed: str, wanted: str) -> bool:
    """Whether every topic that filter ``wanted`` matches is also matched by ``allowed``.

    A subscription is allowed only when it cannot see more than the key's
    ``subTopics`` filter: ``a/+`` covers ``a/b`` and ``a/+``, not ``a/#``.
    """
    if wanted.startswith("$") and allowed[:1] in ("+", "#"):
        return False  # first-level wildcards never match $ topics
    have, want = allowed.split("/"), wanted.split("/")
    for index, level in enumerate(have):
        if level == "#":
            # "a/#" also matches "a": it covers "a" and anything below it.
            return True
        if index >= len(want):
            return False
        if want[index] == "#":
            return False
        if level != "+" and level != want[index]:
            return False
    return len(have) == len(want)


def _plain(level: str) -> bool:
    return "+" not in level and "#" not in level
