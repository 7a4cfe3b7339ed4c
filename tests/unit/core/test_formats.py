from __future__ import annotations

from poetry_torch_plugin.core.formats import environment_marker
from poetry_torch_plugin.core.formats import pylock_text
from poetry_torch_plugin.core.lockfile import LockedPackage
from poetry_torch_plugin.core.lockfile import LockInputs
from poetry_torch_plugin.core.lockfile import TorchLock
from tests.support.toml import loads


def test_pylock_keeps_every_locked_file_and_no_login() -> None:
    inputs = LockInputs(
        "pytorch_cuda_cu129", "https://u:secret@m.example/whl/cu129/", ("torch",), ">=3.9"
    )
    torch = LockedPackage(
        "torch",
        "2.9.0+cu129",
        True,
        (
            ("torch-2.9.0+cu129-cp311-cp311-linux_x86_64.whl", "a" * 64),
            ("torch-2.9.0+cu129-cp312-cp312-linux_x86_64.whl", "b" * 64),
        ),
    )
    text = pylock_text(TorchLock(inputs, "e" * 64, (torch,), "cpython 3.11 linux x86_64"))
    assert "secret" not in text
    data = loads(text)
    assert data["lock-version"] == "1.0"
    assert data["requires-python"] == ">=3.9"
    assert data["environments"] == [
        "implementation_name == 'cpython' and python_version == '3.11'"
        " and sys_platform == 'linux' and platform_machine == 'x86_64'"
    ]
    [package] = data["packages"]
    assert package["index"] == "https://m.example/whl/cu129"
    assert [w["url"] for w in package["wheels"]] == [
        "https://m.example/whl/cu129/torch-2.9.0%2Bcu129-cp311-cp311-linux_x86_64.whl",
        "https://m.example/whl/cu129/torch-2.9.0%2Bcu129-cp312-cp312-linux_x86_64.whl",
    ]
    assert [w["hashes"] for w in package["wheels"]] == [{"sha256": "a" * 64}, {"sha256": "b" * 64}]


def test_an_unknown_environment_is_not_guessed() -> None:
    assert environment_marker("") is None
    assert environment_marker("cpython ? linux x86_64") is None


def test_requires_python_in_poetry_syntax_or_empty_is_left_out() -> None:
    """PEP 751 wants PEP 440; Poetry's ``^3.10`` would make installers reject the file."""
    from poetry_torch_plugin.core.formats import pep440_python

    for constraint, kept in [
        ("^3.10", None),
        ("~3.11", None),
        ("3.10 || 3.12", None),
        ("", None),
        (">=3.10,<4.0", ">=3.10,<4.0"),
        ("~=3.10", "~=3.10"),
    ]:
        assert pep440_python(constraint) == kept, constraint
    inputs = LockInputs("pytorch_cpu", "https://m.example/whl/cpu", ("torch",), "^3.10")
    data = loads(pylock_text(TorchLock(inputs, "e" * 64, (), "")))
    assert "requires-python" not in data
    assert "environments" not in data  # a lock lacking resolved-for: no guess


def test_a_locked_source_archive_is_the_packages_sdist_not_a_wheel() -> None:
    inputs = LockInputs("pytorch_cpu", "https://m.example/whl/cpu", ("torch",), ">=3.9")
    tiny = LockedPackage("tinydep", "1.0", False, (("tinydep-1.0.tar.gz", "c" * 64),))
    data = loads(pylock_text(TorchLock(inputs, "e" * 64, (tiny,), "")))
    [package] = data["packages"]
    assert "wheels" not in package
    assert package["sdist"] == {
        "name": "tinydep-1.0.tar.gz",
        "url": "https://m.example/whl/cpu/tinydep-1.0.tar.gz",
        "hashes": {"sha256": "c" * 64},
    }


def test_pylock_uses_the_url_the_index_gave_and_an_older_lock_falls_back() -> None:
    inputs = LockInputs(
        "pytorch_cuda_cu129", "https://u:secret@m.example/whl/cu129/", ("torch",), ""
    )
    name = "torch-2.9.0+cu129-cp311-cp311-linux_x86_64.whl"
    r2 = f"https://r2.example/whl/cu129/{name.replace('+', '%2B')}"
    kept = LockedPackage("torch", "2.9.0+cu129", True, ((name, "a" * 64),), urls=((name, r2),))
    older = LockedPackage("torch", "2.9.0+cu129", True, ((name, "a" * 64),))
    for package, url in [
        (kept, r2),
        (older, f"https://m.example/whl/cu129/{name.replace('+', '%2B')}"),
    ]:
        text = pylock_text(TorchLock(inputs, "e" * 64, (package,), ""))
        assert "secret" not in text
        assert [w["url"] for w in loads(text)["packages"][0]["wheels"]] == [url]
