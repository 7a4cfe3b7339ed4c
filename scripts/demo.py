"""The offline demo: a local PyTorch-like index, no GPU, the real poetry with the plugin.

It shows the problem (Poetry replaces a CUDA build of torch when a dependency needs torch) and
the fix (`poetry torch install --cuda 12.9`, after which no Poetry command touches that build).
Run it through `./dev demo`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile

from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.index_server import IndexServer  # noqa: E402
from tests.support.isolation import isolated_env  # noqa: E402
from tests.support.platform_wheels import build_platform_universe  # noqa: E402
from tests.support.poetry_env import DEFAULT_POETRY  # noqa: E402
from tests.support.poetry_env import build_poetry_venv  # noqa: E402
from tests.support.project import pyproject_text  # noqa: E402
from tests.support.wheels import build_torch_universe  # noqa: E402


WORK = REPO / ".demo"


def say(text: str) -> None:
    sys.stdout.write(f"\n\033[1m== {text}\033[0m\n")
    sys.stdout.flush()


def expect(condition: bool, failure: str) -> None:
    """Stop the demo (exit 1) with ``failure`` unless ``condition`` holds."""
    if not condition:
        raise SystemExit(f"demo failed: {failure}")


def torch_in(project: Path) -> str:
    found = sorted(project.glob(".venv/lib/python*/site-packages/torch/version.py"))
    if not found:
        return "torch is not installed"
    code = "import torch, torch.version as v; print(torch.__version__, 'cuda', v.cuda)"
    python = project / ".venv" / "bin" / "python"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return "torch " + out.stdout.strip()


def main() -> int:
    shutil.rmtree(WORK / "projects", ignore_errors=True)
    WORK.mkdir(exist_ok=True)
    poetry = build_poetry_venv(WORK / f"poetry-{DEFAULT_POETRY}", DEFAULT_POETRY)
    universe_root = WORK / "index"
    if not (universe_root / "whl").exists():
        build_torch_universe(universe_root)
    env = isolated_env(WORK / "home")
    # Poetry, pip and the plugin write each line as it happens, so the plugin's lines (stderr)
    # stay between Poetry's and pip's (stdout) even when the demo's output is a pipe
    env["PYTHONUNBUFFERED"] = "1"
    with IndexServer(universe_root) as server:
        env["POETRY_TORCH_INDEX_BASE"] = server.base
        sys.stdout.write(
            f"Local PyTorch index: {server.base}/cu129  (PyPI stand-in: {server.pypi_url})\n"
        )

        def poetry_run(project: Path, *args: str, check: bool = True) -> int:
            sys.stdout.write(f"\n$ poetry {' '.join(args)}\n")
            sys.stdout.flush()
            code = subprocess.run(
                [str(poetry), *args], cwd=project, env=env, check=False
            ).returncode
            if check and code != 0:
                raise SystemExit(f"demo failed: poetry {' '.join(args)} exited {code}")
            return code

        def pip_cuda(project: Path) -> None:
            python = project / ".venv" / "bin" / "python"
            command = [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "--index-url",
                f"{server.base}/cu129",
                "torch",
                "torchvision",
                "torchaudio",
            ]
            sys.stdout.write(
                f"\n$ pip install torch torchvision torchaudio --index-url {server.base}/cu129\n"
            )
            subprocess.run(command, env=env, check=True)

        say("1. Without the plugin: the usual hand-installed CUDA build")
        plain = WORK / "projects" / "without-plugin"
        plain.mkdir(parents=True)
        (plain / "pyproject.toml").write_text(pyproject_text(server.pypi_url))
        subprocess.run([sys.executable, "-m", "venv", str(plain / ".venv")], check=True)
        pip_cuda(plain)
        sys.stdout.write(f"   -> {torch_in(plain)}\n")
        poetry_run(plain, "--no-plugins", "install")
        sys.stdout.write(
            f"   -> after `poetry install`: {torch_in(plain)}   <- the CUDA 12.9 build is gone\n"
            "   (PyPI's own Linux torch is itself a CUDA build, cu128: its version says 2.9.0 to"
            " pip and\n   2.9.0+cu128 to Python. Poetry took it from PyPI because torchmetrics"
            " requires torch.)\n"
        )

        say("2. With the plugin: `poetry torch install --cuda 12.9`")
        fixed = WORK / "projects" / "with-plugin"
        fixed.mkdir(parents=True)
        (fixed / "pyproject.toml").write_text(pyproject_text(server.pypi_url))
        poetry_run(fixed, "torch", "install", "--cuda", "12.9")
        sys.stdout.write(f"   -> {torch_in(fixed)}\n")
        for args in (("lock",), ("install",), ("update",), ("add", "tinydep"), ("sync",)):
            poetry_run(fixed, *args)
            sys.stdout.write(f"   -> {torch_in(fixed)}\n")
        lock = (fixed / "poetry.lock").read_text()
        locked = "no" if 'name = "torch"' not in lock else "YES"
        sys.stdout.write(
            f"\n   torch in poetry.lock? {locked}  (torchmetrics, which requires torch, is locked)\n"
        )

        say("3. Switching variants: `poetry torch install --cuda 12.8`, then Poetry as usual")
        sys.stdout.write(
            "   (this local cu128 index has torch 2.8.0 only, so the switch also moves torch"
            " 2.9.0 -> 2.8.0:\n   with no version pinned, a switch installs the newest build"
            " the new index has; PyTorch's own\n   cu128 index has 2.9.0 too)\n"
        )
        poetry_run(fixed, "torch", "install", "--cuda", "12.8")
        sys.stdout.write(f"   -> {torch_in(fixed)}\n")
        poetry_run(fixed, "install")  # poetry.lock was refreshed with the switch: no extra step
        sys.stdout.write(f"   -> {torch_in(fixed)}\n")
        expect(torch_in(fixed).startswith("torch 2.8.0+cu128"), "the switch did not stick")
        poetry_run(fixed, "show", "--tree")

        say("4. A library (package mode) keeps its `Requires-Dist: torch`")
        library = WORK / "projects" / "library"
        library.mkdir(parents=True)
        (library / "demo").mkdir()
        (library / "demo" / "__init__.py").write_text("")
        text = (fixed / "pyproject.toml").read_text()
        text = text.replace("package-mode = false\n", "")
        text = text.replace(
            '    "torchmetrics>=1.0",\n', '    "torchmetrics>=1.0",\n    "torch>=2.8",\n'
        )
        expect('"torch>=2.8"' in text and "package-mode" not in text, "cannot edit the copy")
        text += (
            '\n[build-system]\nrequires = ["poetry-core>=2.0"]\n'
            'build-backend = "poetry.core.masonry.api"\n'
        )
        (library / "pyproject.toml").write_text(text)
        poetry_run(library, "torch", "install", "--cuda", "12.8")
        poetry_run(library, "build", "--format", "wheel")
        wheels = sorted((library / "dist").glob("demo-0.1.0-*.whl"))
        expect(len(wheels) == 1, f"expected one wheel in {library / 'dist'}, found {wheels}")
        with zipfile.ZipFile(wheels[0]) as archive:
            metadata = archive.read("demo-0.1.0.dist-info/METADATA").decode()
        requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
        torch_lines = [line for line in requires if re.match(r"Requires-Dist: torch\b", line)]
        expect(bool(torch_lines), f"the wheel lost Requires-Dist: torch; it has {requires}")
        for line in torch_lines:
            sys.stdout.write(f"   -> {wheels[0].name} METADATA: {line}\n")

        say("5. Someone replaces torch by hand; the next Poetry command repairs it")
        python = fixed / ".venv" / "bin" / "python"
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "--force-reinstall",
                "--no-deps",
                "--index-url",
                server.pypi_url,
                "torch==2.9.0",
                "torchvision==0.24.0",
                "torchaudio==2.9.0",
            ],
            env=env,
            check=True,
        )
        sys.stdout.write(f"   -> {torch_in(fixed)}   (PyPI's build)\n")
        poetry_run(fixed, "torch", "check", check=False)  # names it: a foreign-build line
        poetry_run(fixed, "install")
        sys.stdout.write(f"   -> {torch_in(fixed)}\n")

        say("6. `poetry torch check`")
        poetry_run(fixed, "torch", "check", check=False)

        say("7. pyproject.toml now says")
        sys.stdout.write((fixed / "pyproject.toml").read_text())
    team_demo(poetry, env)
    sys.stdout.write("\nDemo done. Files are in .demo/ (delete it freely).\n")
    return 0


def team_demo(poetry: Path, env: dict[str, str]) -> None:
    """Step 8: docs/examples/team, locked here for every machine, installed for this one."""
    from poetry_torch_plugin.installer.uv import find_uv

    platform_root = WORK / "platform-index"
    if not (platform_root / "whl").exists() or not (platform_root / "pypi").exists():
        build_platform_universe(platform_root)
    uv = find_uv()
    expect(uv is not None, "uv is needed to lock other platforms (`./dev` installs it)")
    env = dict(env)
    env["PATH"] = f"{Path(str(uv)).parent}:{env.get('PATH', '')}"
    with IndexServer(platform_root) as server:
        say("8. One project, every machine: docs/examples/team")
        team = WORK / "projects" / "team"
        team.mkdir(parents=True)
        sample = (REPO / "docs" / "examples" / "team" / "pyproject.toml").read_text()
        # the sample names download.pytorch.org; here a local index with real platform tags
        # and, like the other steps, a stand-in for PyPI: torch's own requirements take part in
        # Poetry's solve, and PyPI proper has none of the demo's fake-* packages
        (team / "pyproject.toml").write_text(
            sample.replace("https://download.pytorch.org/whl", server.base)
            + f'\n[[tool.poetry.source]]\nname = "fakepypi"\nurl = "{server.pypi_url}"\n'
            + 'priority = "primary"\n'
        )
        env["POETRY_TORCH_INDEX_BASE"] = server.base
        sys.stdout.write("".join(line + "\n" for line in sample.splitlines()[-6:]))

        def run(*args: str) -> str:
            sys.stdout.write(f"\n$ poetry {' '.join(args)}\n")
            sys.stdout.flush()
            # one pipe for both streams: the plugin's lines (stderr) stay where they happen,
            # between Poetry's and pip's (stdout), instead of after all of them
            done = subprocess.run(
                [str(poetry), *args],
                cwd=team,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            sys.stdout.write(done.stdout)
            expect(done.returncode == 0, f"poetry {' '.join(args)} exited {done.returncode}")
            return done.stdout

        wrote = run("torch", "lock")
        expect("entries for other machines" in wrote, "the lock holds no other machine")
        run("torch", "lock", "--check")
        run("install")
        installed = torch_in(team)
        sys.stdout.write(f"   -> {installed}  (this machine's entry)\n")
        expect(installed.startswith("torch 2.9.0+"), "no build was installed here")
        run("torch", "check")
        run("torch", "export", "--target", "linux-aarch64", "-o", "requirements-aarch64.txt")
        pins = (team / "requirements-aarch64.txt").read_text().splitlines()
        sys.stdout.write("".join(f"   {line}\n" for line in pins[:6]) + "   …\n")
        expect(not any("nvidia" in line for line in pins), "aarch64 got the x86_64 CUDA runtime")
        run("torch", "export", "--target", "macos", "--format", "pylock", "-o", "pylock.macos.toml")
        mac = (team / "pylock.macos.toml").read_text()
        expect("macosx_11_0_arm64" in mac and "+cu" not in mac, "the macOS export is wrong")
        sys.stdout.write("   -> pylock.macos.toml: the macOS arm64 wheels, one marker each\n")


if __name__ == "__main__":
    raise SystemExit(main())
