"""The device list's name index agrees with the glob filter it accelerates."""

from hypothesis import given, settings
from hypothesis import strategies as st

from losant_kit.mockserver.list_filters import glob_matcher
from losant_kit.mockserver.models.devices import Ordering

names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                max_size=12)
patterns = st.lists(st.sampled_from(["*", "a", "B", ".", "[", "\\", "é", "-", "1", "ß"]),
                    min_size=1, max_size=6).map("".join)


@settings(max_examples=300)
@given(device_names=st.lists(names, max_size=30), pattern=patterns)
def test_name_index_selects_exactly_what_the_glob_matcher_selects(device_names, pattern):
    records = [{"id": f"{i:024x}", "name": name} for i, name in enumerate(device_names)]
    ordering = Ordering(version=1, live=records, deleted=[])
    matches = glob_matcher(pattern)
    assert list(ordering.glob_names(pattern, False)) == [
        r for r in records if matches(r["name"])
    ]


def test_names_containing_the_separator_fall_back_to_the_slow_path():
    ordering = Ordering(version=1, live=[{"id": "1", "name": "a\x00b"}], deleted=[])
    assert ordering.glob_names("a*", False) is None


def test_page_slices_read_only_the_requested_devices():
    records = [{"id": f"{i:024x}", "name": f"sensor-{i}"} for i in range(100)]
    found = Ordering(version=1, live=records, deleted=[]).glob_names("sensor-1*", False)
    assert len(found) == 11
    assert found[2:4] == [records[11], records[12]]
