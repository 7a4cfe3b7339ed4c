"""Which variant a run installs, by which rule, against what the index publishes: the variant
``poetry torch install`` was asked for (``--cuda auto`` and ``--rocm auto`` choose one for this machine
against the live index; an explicit build this machine cannot run is refused first, see
``core/fit.py``), and whether the index publishes every configured package for the
environment's Python and platform.  The machine-local choice of every other path
(``POETRY_TORCH_VARIANT``, poetry.toml, targets, auto) is ``service.settings.with_choice``."""

from __future__ import annotations

import os

from dataclasses import dataclass
from dataclasses import replace
from typing import TYPE_CHECKING

from poetry_torch_plugin.core.config import DEFAULT_INDEX_BASE
from poetry_torch_plugin.core.config import INDEX_BASE_ENV
from poetry_torch_plugin.core.config import TorchConfig
from poetry_torch_plugin.core.config import effective_index_base
from poetry_torch_plugin.core.config import parse_requirements
from poetry_torch_plugin.core.fit import COMPANIONS
from poetry_torch_plugin.core.fit import choose
from poetry_torch_plugin.core.fit import judge_variant
from poetry_torch_plugin.core.fit import requirement_names
from poetry_torch_plugin.core.fit import target_torch_version
from poetry_torch_plugin.core.variants import CPU
from poetry_torch_plugin.core.variants import XPU
from poetry_torch_plugin.core.variants import channel_base
from poetry_torch_plugin.core.variants import from_index_name
from poetry_torch_plugin.core.variants import parse_cuda
from poetry_torch_plugin.core.variants import parse_rocm
from poetry_torch_plugin.data import load_facts
from poetry_torch_plugin.env.installed import installed_distributions
from poetry_torch_plugin.errors import IndexAccessError
from poetry_torch_plugin.errors import VariantError
from poetry_torch_plugin.index.access import resolve_access
from poetry_torch_plugin.index.pages import IndexPages
from poetry_torch_plugin.index.pages import WheelTarget
from poetry_torch_plugin.index.pages import wanted_packages
from poetry_torch_plugin.installer.backend import environment_wheel_target
from poetry_torch_plugin.machine.detect import detect_machine
from poetry_torch_plugin.project.edits import packages_for
from poetry_torch_plugin.project.files import configured_packages
from poetry_torch_plugin.project.files import read_project


if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterable
    from pathlib import Path

    from poetry_torch_plugin.core.variants import Variant
    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.index.access import IndexAccess
    from poetry_torch_plugin.service.settings import EnvFinder


@dataclass(frozen=True)
class InstallOptions:
    """The command line of ``poetry torch install``, as given."""

    requirements: tuple[str, ...] = ()
    cuda: str | None = None
    rocm: str | None = None
    cpu: bool = False
    xpu: bool = False
    installer: str | None = None
    index_base: str | None = None
    dry_run: bool = False
    upgrade: bool = False
    quiet: bool = False
    verbose: bool = False
    force: bool = False
    channel: str | None = None  # stable, test or nightly; None keeps the source's
    for_kind: str | None = None  # --for: the [tool.poetry-torch.targets] entry to set


def index_base_for(current: TorchConfig, index_base: str | None) -> str:
    """The base a new variant's URL is built on: the one given (``--index-base``,
    ``POETRY_TORCH_INDEX_BASE``, ``index-base``), else the base of the plugin source already in
    the file (``https://mirror.corp/pytorch/whl/cu129`` gives ``https://mirror.corp/pytorch/whl``)
    so a switch keeps a mirror configured only there, else download.pytorch.org."""
    given = index_base or os.environ.get(INDEX_BASE_ENV)
    if not given and current.index_base.rstrip("/") == DEFAULT_INDEX_BASE:
        for existing in current.sources:
            if existing.variant is None:
                continue
            url = existing.url.rstrip("/")
            tail = f"/{existing.variant.index_name}"
            if url.endswith(tail) and len(url) > len(tail):
                return url[: -len(tail)]
    return effective_index_base(current, index_base)


def wheel_target(env: TargetEnv | None) -> WheelTarget:
    """The tags of the project environment's interpreter; this interpreter's when there is no
    environment yet (or it cannot run), as the install would then create one."""
    found = environment_wheel_target(env.python) if env is not None else None
    return found or WheelTarget.here()


def pages_for(settings: TorchConfig, index_base: str | None = None) -> IndexPages:
    """Pages read with the login and certificates Poetry has for each variant's source."""
    base = effective_index_base(settings, index_base)

    def access(url: str) -> IndexAccess:
        variant = from_index_name(url.rstrip("/").rsplit("/", 1)[-1])
        name = variant.source_name if variant is not None else "pytorch"
        return resolve_access(name, url, allow_http=settings.allow_http, index_base=base)

    return IndexPages(access)


class LiveIndex:
    """``--cuda auto``'s question to the index about one candidate: ``""`` it publishes every
    wanted package for the target, a few words why not, None once the index proved unreadable
    (``note`` then says so, and the facts decide)."""

    def __init__(
        self,
        pages: IndexPages,
        base: str,
        requirements: Iterable[str],
        target: WheelTarget,
    ) -> None:
        self.pages = pages
        self.base = base.rstrip("/")
        self.wanted = wanted_packages(requirements)
        self.target = target
        self.note: str | None = None

    def __call__(self, variant: Variant) -> str | None:
        if self.note is not None:
            return None
        try:
            found = self.pages.missing(
                f"{self.base}/{variant.index_name}", self.wanted, self.target
            )
        except IndexAccessError as exc:
            what = str(exc).split(";", 1)[0]
            self.note = (
                f"{what}; chose from the facts alone (facts.json), without checking which"
                " packages the index publishes"
            )
            return None
        return found or ""


def refuse_unpublished(
    pages: IndexPages,
    index_url: str,
    variant: Variant,
    requirements: Iterable[str],
    target: WheelTarget | None,
) -> str | None:
    """Stop, before any download, when ``index_url`` lacks a wheel of a wanted package for
    the target: one line naming the variant, the package and why.  An index that cannot be
    read is left to the install, which says what is wrong with it; the first part of its
    reason comes back (for ``--dry-run`` to show), else None."""
    try:
        why = pages.missing(index_url, wanted_packages(requirements), target)
    except IndexAccessError as exc:
        return str(exc).split(";", 1)[0]
    if why is None:
        return None
    name = why.split(" ", 1)[0]
    error = pages.not_published(index_url, "torch") if name == "torch" else None
    if error is not None:
        raise error  # no torch at all: the index's own line (HTTP 404 for …/torch/)
    if " matches no version on " in why:
        fix = "Ask for a version the index publishes (the newest are shown), then run it again."
    elif " has no wheel for " in why:
        fix = (
            "Use a Python this variant publishes it for (`poetry env use 3.X`), or run `poetry"
            " torch install --cuda auto` to take a variant that has every package."
        )
    else:
        fix = (
            "Run `poetry torch install --cuda auto` to take a variant that has every package,"
            f" or drop {name} from [tool.poetry-torch] packages."
        )
    raise IndexAccessError(
        f"{variant.index_name}: {why}; nothing was downloaded, and pyproject.toml,"
        f" poetry-torch.lock and the installed build were left untouched. {fix}"
    )


def live_index_for(
    pyproject: Path,
    requirements: Iterable[str],
    index_base: str | None,
    channel: str | None,
    env: TargetEnv | None,
) -> LiveIndex:
    """The live index ``--cuda auto`` reads: the configured index base (on ``channel`` when
    given, else on the channel of the source in the file), for the configured packages with
    the command line's pins."""
    settings = read_project(pyproject).settings or TorchConfig()
    # the base a new variant's source gets (``plan_install``): a mirror, a channel, or PyTorch's
    base = channel_base(index_base_for(settings, index_base), channel or "stable")
    requested = parse_requirements(list(requirements), where="command line", require_torch=False)
    wanted = packages_for(settings.written, requested) if requested else settings.must_publish
    return LiveIndex(pages_for(settings, index_base), base, wanted, wheel_target(env))


def asked_variant(
    pyproject: Path, options: InstallOptions, find_env: EnvFinder, say: Callable[[str], None]
) -> tuple[Variant | None, LiveIndex | None]:
    """The variant asked for (None: the configured one), and for ``auto`` the live index it
    was chosen against."""
    cuda, rocm, cpu, xpu = options.cuda, options.rocm, options.cpu, options.xpu
    if sum(bool(value) for value in (cuda, rocm, cpu, xpu)) > 1:
        raise VariantError(
            "--cuda, --rocm, --xpu and --cpu exclude each other; nothing was changed."
            " Run `poetry torch install` with only one of them."
        )
    rocm_auto = rocm is not None and rocm.strip().lower() == "auto"
    if (cuda is not None and cuda.strip().lower() == "auto") or rocm_auto:
        machine = detect_machine()
        live = live_index_for(
            pyproject,
            options.requirements,
            options.index_base,
            options.channel and options.channel.strip().lower(),
            existing_env(find_env),
        )
        if rocm_auto:
            # --rocm auto: the ROCm build for the AMD GPUs, whatever else the machine has
            machine = replace(machine, nvidia=None, intel_gpus=(), mps=False)
        choice = choose(
            load_facts(),
            machine,
            options.requirements,
            configured_packages(pyproject),
            installed_torch(find_env),
            published=live,
        )
        if rocm_auto and choice.variant.kind != "rocm":
            why = (
                choice.reason
                if machine.amd_gpus or machine.rocm is not None
                else "no AMD GPU or ROCm runtime found"
            )
            raise VariantError(
                f"--rocm auto found no ROCm build for this machine ({why});"
                " nothing was changed. Run `poetry torch check` to see what it has, or"
                " `poetry torch install --cuda auto`."
            )
        flag = f"--{'rocm' if rocm_auto else 'cuda'} auto"
        say(f"{flag}: <c2>{choice.variant}</c2> ({choice.reason})")
        for line in choice.dropped:
            say(f"<comment>{flag}: dropped {line}</comment>")
        if live.note is not None:
            say(f"<comment>{flag}: {live.note}</comment>")
        return choice.variant, live
    if cuda is not None:
        variant = parse_cuda(cuda, published_variants)
        refuse_unrunnable(pyproject, options, find_env, say, variant, f"--cuda {cuda.strip()}")
        return variant, None
    if rocm is not None:
        variant = parse_rocm(rocm, published_variants)
        refuse_unrunnable(pyproject, options, find_env, say, variant, f"--rocm {rocm.strip()}")
        return variant, None
    if xpu:
        refuse_unrunnable(pyproject, options, find_env, say, XPU, "--xpu")
        return XPU, None
    return (CPU if cpu else None), None


def refuse_unrunnable(
    pyproject: Path,
    options: InstallOptions,
    find_env: EnvFinder,
    say: Callable[[str], None],
    variant: Variant,
    asked: str,
) -> None:
    """An explicit build this machine cannot run stops here, before the index is read
    (``--force`` turns the refusal into a warning); see ``core/fit.py``."""
    configured = list(configured_packages(pyproject))
    requested = list(options.requirements)
    companions = requirement_names([*requested, *configured]) & set(COMPANIONS)
    fit = judge_variant(
        load_facts(),
        detect_machine(),
        variant,
        target_torch_version(requested, configured, installed_torch(find_env)),
        sorted(companions),
        option=asked,
    )
    # a dry run installs nothing: its lines say what would happen
    doing = f"would install {variant}" if options.dry_run else f"installing {variant}"
    for note in fit.notes:
        say(f"<comment>{note.replace(f'installing {variant} anyway', f'{doing} anyway')}</comment>")
    if fit.refusal is None:
        return
    if not options.force or not fit.forcible:
        raise VariantError(fit.refusal)
    say(f"<comment>--force: {fit.problem}; {doing} anyway.</comment>")


def existing_env(find_env: EnvFinder) -> TargetEnv | None:
    try:
        return find_env(create=False)
    except Exception:
        return None


def installed_torch(find_env: EnvFinder) -> str | None:

    target = existing_env(find_env)
    if target is None:
        return None
    dist = installed_distributions(target.site_packages).get("torch")
    return dist.version if dist else None


def published_variants() -> list[Variant]:
    """Every variant the facts list for some torch release: what a mistyped ``--cuda`` or
    ``--rocm`` value is answered with (offline, so a typo costs no index read)."""
    names = {build.name for release in load_facts().releases for build in release.builds}
    return [variant for variant in map(from_index_name, sorted(names)) if variant is not None]
