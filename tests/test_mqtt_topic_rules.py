"""Topic rules of the broker (mockserver/mqtt/topics.py), for all inputs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from losant_kit.mockserver.models.commands import topic_matches
from losant_kit.mockserver.mqtt.topics import (
    DeviceTopic,
    TopicRefused,
    check_custom_publish,
    check_custom_subscription,
    filter_covers,
    platform_topic,
)

LEVEL = st.sampled_from(["a", "b", "$s", ""])
TOPIC = st.lists(LEVEL, min_size=1, max_size=4).map("/".join).filter(bool)


@st.composite
def topic_filters(draw: st.DrawFn) -> str:
    levels = draw(st.lists(st.sampled_from(["a", "b", "$s", "", "+"]), min_size=1, max_size=4))
    if draw(st.booleans()):
        levels.append("#")
    return "/".join(levels)


@given(allowed=topic_filters(), wanted=topic_filters(), topic=TOPIC)
def test_a_covered_filter_never_sees_a_topic_the_allowed_one_does_not(
    allowed: str, wanted: str, topic: str
) -> None:
    if filter_covers(allowed, wanted) and topic_matches(wanted, topic):
        assert topic_matches(allowed, topic)


@given(topic_filter=topic_filters())
def test_every_filter_covers_itself(topic_filter: str) -> None:
    assert filter_covers(topic_filter, topic_filter)


@given(allowed=topic_filters(), topic=TOPIC)
def test_for_a_plain_topic_covering_is_matching(allowed: str, topic: str) -> None:
    assert filter_covers(allowed, topic) == topic_matches(allowed, topic)


def test_a_wider_filter_is_not_covered_by_a_narrower_one() -> None:
    assert filter_covers("a/#", "a/+")
    assert not filter_covers("a/+", "a/#")
    assert not filter_covers("a/b", "a/+")


def test_platform_topics_name_a_device_and_a_channel() -> None:
    assert platform_topic("losant/abc/state") == DeviceTopic("abc", "state")
    assert platform_topic("losant/abc/command") == DeviceTopic("abc", "command")
    assert platform_topic("fleet/abc/state") is None


@pytest.mark.parametrize("topic", ["losant/abc", "losant/abc/other", "losant/+/command",
                                   "losant/#", "losant//state", "losant/abc/state/x"])
def test_other_losant_topics_are_reserved(topic: str) -> None:
    with pytest.raises(TopicRefused):
        platform_topic(topic)


def test_custom_publish_needs_a_matching_pub_topic() -> None:
    assert check_custom_publish("fleet/1/alerts", ["fleet/+/alerts"]) == "fleet/1/alerts"
    with pytest.raises(TopicRefused):
        check_custom_publish("fleet/1/other", ["fleet/+/alerts"])
    with pytest.raises(TopicRefused):
        check_custom_publish("anything", [])


def test_custom_subscription_must_stay_inside_a_sub_topic() -> None:
    assert check_custom_subscription("fleet/+", ["fleet/#"]) == "fleet/+"
    with pytest.raises(TopicRefused):
        check_custom_subscription("#", ["fleet/#"])
    with pytest.raises(TopicRefused):
        check_custom_subscription("fleet/#/x", ["#"])  # not a valid filter
