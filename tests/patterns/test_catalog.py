from __future__ import annotations

import importlib
import inspect

import pytest

from redislint.patterns import catalog

SLUGS = [
    "caching", "warming", "sessions", "locks", "rate-limiting", "pubsub", "queues",
    "leaderboards", "counters", "unique", "streams",
]


def test_slugs_in_order():
    assert [pattern.slug for pattern in catalog.PATTERNS] == SLUGS


@pytest.mark.parametrize("slug", SLUGS)
def test_entry_points_at_real_objects_and_documented_module(slug):
    pattern = catalog.get(slug)
    assert pattern.title and pattern.when and pattern.structure and "\n" not in pattern.when
    module = importlib.import_module(pattern.module)
    for section in ("When", "How", "Benefits", "Drawbacks", "Keys and hash tags"):
        assert f"\n{section}\n" in module.__doc__
    for name in pattern.objects:
        assert hasattr(module, name)


@pytest.mark.parametrize("slug", SLUGS)
def test_render_shows_the_explanation_and_the_live_source(slug):
    pattern = catalog.get(slug)
    module = importlib.import_module(pattern.module)
    text = catalog.render(slug)
    assert inspect.cleandoc(module.__doc__) in text
    for name in pattern.objects:
        assert inspect.getsource(getattr(module, name)).rstrip() in text


def test_list_text_has_one_row_per_pattern():
    lines = catalog.list_text().splitlines()
    assert lines[0].split() == ["NAME", "WHEN", "TO", "USE", "STRUCTURE"]
    assert [line.split()[0] for line in lines[1:]] == SLUGS
    locks = next(line for line in lines if line.startswith("locks "))
    assert catalog.get("locks").structure in locks


def test_unknown_slug_raises_key_error():
    with pytest.raises(KeyError):
        catalog.render("nope")
