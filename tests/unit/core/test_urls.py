"""The one credential scrubber: display, writing, splitting, and free text, over one table."""

from __future__ import annotations

import pytest

from poetry_torch_plugin.core.urls import is_loopback
from poetry_torch_plugin.core.urls import redact
from poetry_torch_plugin.core.urls import redact_text
from poetry_torch_plugin.core.urls import split_login
from poetry_torch_plugin.core.urls import without_login


# url, shown (redact), written (without_login), user, password (as split_login decodes them)
URLS = [
    (
        "https://h.example/whl/cu129",
        "https://h.example/whl/cu129",
        "https://h.example/whl/cu129",
        None,
        None,
    ),
    ("https://u:pw@h.example/x", "https://u:***@h.example/x", "https://h.example/x", "u", "pw"),
    (
        "https://u:pw@h.example:8443/x",
        "https://u:***@h.example:8443/x",
        "https://h.example:8443/x",
        "u",
        "pw",
    ),
    ("https://u:pw@[::1]:8443/x", "https://u:***@[::1]:8443/x", "https://[::1]:8443/x", "u", "pw"),
    (
        "https://u:pw@[2001:db8::7]/x",
        "https://u:***@[2001:db8::7]/x",
        "https://[2001:db8::7]/x",
        "u",
        "pw",
    ),
    (
        "https://u:p%40ss%3Aw%2F@h.example/x",
        "https://u:***@h.example/x",
        "https://h.example/x",
        "u",
        "p@ss:w/",
    ),
    ("https://u:p@ss@h.example/x", "https://u:***@h.example/x", "https://h.example/x", "u", "p@ss"),
    ("https://token@h.example/x", "https://***@h.example/x", "https://h.example/x", "token", None),
    (
        "https://u%40corp:pw@h.example/x",
        "https://u%40corp:***@h.example/x",
        "https://h.example/x",
        "u@corp",
        "pw",
    ),
    ("https://u:@h.example/x", "https://u:***@h.example/x", "https://h.example/x", "u", None),
    (
        "https://u:pw@Mirror.Example/x?q=1#f",
        "https://u:***@Mirror.Example/x?q=1#f",
        "https://Mirror.Example/x?q=1#f",
        "u",
        "pw",
    ),
    ("file:///srv/wheels", "file:///srv/wheels", "file:///srv/wheels", None, None),
]


@pytest.mark.parametrize(("url", "shown", "written", "user", "password"), URLS)
def test_one_scrubber(
    url: str, shown: str, written: str, user: str | None, password: str | None
) -> None:
    assert redact(url) == shown
    assert without_login(url) == written
    assert split_login(url) == (written, user, password)
    assert redact_text(f"Looking in indexes: {url}\n") == f"Looking in indexes: {shown}\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no url here, user@example.com", "no url here, user@example.com"),
        (
            "a https://a:1@h1/x and b http://b:2@[::1]:8/y then 'https://t@h3'",
            "a https://a:***@h1/x and b http://b:***@[::1]:8/y then 'https://***@h3'",
        ),
        (
            "ERROR: 401 for url: https://u:p@ss@h.example/simple/torch/",
            "ERROR: 401 for url: https://u:***@h.example/simple/torch/",
        ),
        ("pip says https://u:****@h/x", "pip says https://u:***@h/x"),
        (
            "line1 https://u:a@h\nline2 https://v:b@g\n",
            "line1 https://u:***@h\nline2 https://v:***@g\n",
        ),
    ],
)
def test_every_url_in_text_is_scrubbed(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8000/simple", True),
        ("http://localhost/simple", True),
        ("http://u:pw@[::1]:8443/simple", True),
        ("http://example.com/simple", False),
    ],
)
def test_is_loopback(url: str, loopback: bool) -> None:
    assert is_loopback(url) is loopback
