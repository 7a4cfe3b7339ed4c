"""poetry-torch.lock's plain TOML is read without tomllib (issue 24, item 2: the hook reads a
universal lock after every Poetry command), to exactly what tomllib reads, or not at all."""

from __future__ import annotations

import random

import pytest

from poetry_torch_plugin.core.config import _plain_toml
from poetry_torch_plugin.core.config import parse_toml
from poetry_torch_plugin.core.lockfile import LockEntry
from poetry_torch_plugin.core.lockfile import dumps
from poetry_torch_plugin.core.record import replace
from tests.unit.core.test_lockfile import sample_lock


tomllib = pytest.importorskip("tomllib")  # the reference: Python 3.11 and later


def written_locks() -> list[str]:
    """Locks as ``dumps`` writes them: single, universal, with every optional package field."""
    lock = sample_lock()
    first = lock.packages[0]
    urls = tuple((name, f"https://mirror.example/whl/{name}") for name, _ in first.files)
    odd = replace(first, index_sha256=False, index="https://pypi.org/simple", urls=urls)
    entry = LockEntry("cu128", "linux-aarch64", "3.12", lock)
    return [
        dumps(lock),
        dumps(replace(lock, packages=(odd, *lock.packages[1:]))),
        dumps(replace(lock, entries=(entry,), targets=("linux-aarch64=cu128",), added=("cpu",))),
        dumps(replace(lock, entries=(entry, replace(entry, python="3.13")), targets=())),
    ]


@pytest.mark.parametrize("text", written_locks())
def test_a_written_lock_is_read_plain_to_what_tomllib_reads(text: str) -> None:
    assert _plain_toml(text) == tomllib.loads(text)


@pytest.mark.parametrize(
    "text",
    [
        'a = "x"\na = "y"\n',  # a key twice
        '[t]\na = "x"\n[t]\nb = "y"\n',  # a table twice
        '[[t]]\na = "x"\n[t]\n',  # an array of tables, then a table of that name
        't = []\n[[t]]\na = "x"\n',  # a static array, then appended to
        '[t]\n[[t.u]]\na = "x"\n',  # [[t.u]] below a plain table
        'a = {x = "1", x = "2"}\n',  # a key twice in an inline table
        'a = {x = "1",}\n',  # a trailing comma in an inline table
        'a = [\n  "x"\n  "y"\n]\n',  # a missing comma
        'a = [\n  "x",\n',  # an array never closed
        'a = "x\\"y"\n',  # an escape
        'a = "x" # a comment after a value\n',
        'a = "x"\r\nb = "y"\r\n',  # CRLF, a control character on its own
        "a = 1\n",  # a number
        "a = 'x'\n",  # a literal string
        '"a" = "x"\n',  # a quoted key
        'a.b = "x"\n',  # a dotted key
        '[ t ]\na = "x"\n',  # spaces in a header
    ],
)
def test_anything_else_is_left_to_tomllib(text: str) -> None:
    assert _plain_toml(text) is None


def test_a_damaged_lock_is_never_read_otherwise_than_by_tomllib() -> None:
    """Lines dropped, doubled or cut, characters inserted: whatever the plain reader accepts,
    tomllib accepts and reads the same."""
    rng = random.Random(24)
    texts = written_locks()
    pieces = ['"', ",", "]", "[", "{", "}", "=", "#", " ", "\\", "x", "true", "[[package]]", "[t]"]
    accepted = 0
    for _ in range(1000):
        lines = rng.choice(texts).split("\n")
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(lines))
            line = lines[at]
            cut = rng.randint(0, len(line))
            change = rng.randrange(4)
            if change == 0:
                del lines[at]
            elif change == 1:
                lines.insert(at, lines[rng.randrange(len(lines))])
            elif change == 2:
                lines[at] = line[:cut] + rng.choice(pieces) + line[cut:]
            else:
                lines[at] = line[:cut] + line[cut + 1 :]
        text = "\n".join(lines)
        plain = _plain_toml(text)
        if plain is not None:
            accepted += 1
            assert plain == tomllib.loads(text), text
    assert accepted > 30  # the damage left many locks readable: both readers were compared


def test_parse_toml_gives_one_text_one_dict_and_reads_a_long_lock_plain() -> None:
    universal = written_locks()[3]
    long_lock = universal + "\n".join(f"# {n}" for n in range(9000 // 4))  # over 8 kB
    assert len(long_lock) > 8192
    assert parse_toml(long_lock) == tomllib.loads(long_lock)
    assert parse_toml(long_lock) is parse_toml(long_lock)
    with pytest.raises(ValueError, match="Cannot overwrite a value"):
        parse_toml('a = "x"\na = "y"\n')  # tomllib's own error: the plain reader declined
