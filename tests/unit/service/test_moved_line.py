"""The one line that ends every install: what moved, and which project files were written."""

from __future__ import annotations

from poetry_torch_plugin.service.render import moved_line


NAMES = ("torch", "torchvision", "torchaudio")


def test_a_switch_names_each_package_old_and_new_and_the_files_written() -> None:
    before = {
        "torch": ("2.8.0+cpu", 1),
        "torchvision": ("0.23.0+cpu", 1),
        "torchaudio": ("2.8.0+cpu", 1),
        "filelock": ("3.0", 1),
    }
    after = {
        "torch": ("2.9.0+cu129", 2),
        "torchvision": ("0.24.0+cu129", 2),
        "torchaudio": ("2.9.0+cu129", 2),
        "filelock": ("3.0", 1),
        "nvidia-cublas-cu12": ("12.9.1.4", 2),
    }
    line = moved_line(before, after, NAMES, ["pyproject.toml", "poetry-torch.lock"])
    assert line == (
        "torch 2.8.0+cpu \u2192 2.9.0+cu129, torchvision 0.23.0+cpu \u2192 0.24.0+cu129,"
        " torchaudio 2.8.0+cpu \u2192 2.9.0+cu129, and 1 other package;"
        " wrote pyproject.toml, poetry-torch.lock"
    )


def test_a_fresh_install_a_reinstall_and_what_stayed() -> None:
    before = {"torchvision": ("0.24.0+cpu", 1), "torchaudio": ("2.9.0+cpu", 1)}
    after = {
        "torch": ("2.9.0+cpu", 2),
        "torchvision": ("0.24.0+cpu", 2),
        "torchaudio": ("2.9.0+cpu", 1),
    }
    assert moved_line(before, after, NAMES, []) == (
        "torch 2.9.0+cpu (new), torchvision 0.24.0+cpu reinstalled;"
        " unchanged: torchaudio 2.9.0+cpu; no project file changed"
    )


def test_the_hook_says_nothing_of_files() -> None:
    same = {"torch": ("2.9.0+cpu", 1)}
    assert moved_line(same, same, ("torch",)) == "unchanged: torch 2.9.0+cpu"
    assert moved_line({}, {}, ("torch",)) == "nothing installed"
