"""The live index decides what exists (issue 13 item 2): ``--cuda auto`` considers only the
variants whose index has a wheel of every configured package for the target's Python and
platform, and an explicit variant that lacks one stops before anything is downloaded.

Pages are ``<base>/<variant>/<package>/``, read once per run (``IndexPages``).  When the index
cannot be read, ``--cuda auto`` falls back to the facts (facts.json) and says so in one line."""

from __future__ import annotations

from typing import TYPE_CHECKING

from poetry_torch_plugin.core.urls import redact
from poetry_torch_plugin.errors import IndexAccessError
from poetry_torch_plugin.index.pages import IndexPages
from poetry_torch_plugin.index.pages import WheelTarget
from poetry_torch_plugin.index.pages import wanted_packages


if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.core.variants import Variant
    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.index.access import IndexAccess
    from poetry_torch_plugin.index.pages import Listing
    from poetry_torch_plugin.service.install import InstallPlan
    from poetry_torch_plugin.service.report import Report


def wheel_target(env: TargetEnv | None) -> WheelTarget:
    """The tags of the project environment's interpreter; this interpreter's when there is no
    environment yet (or it cannot run), as the install would then create one."""
    from poetry_torch_plugin.installer.backend import environment_wheel_target

    found = environment_wheel_target(env.python) if env is not None else None
    return found or WheelTarget.here()


def pages_for(settings: TorchConfig, index_base: str | None = None) -> IndexPages:
    """Pages read with the login and certificates Poetry has for each variant's source."""
    from poetry_torch_plugin.core.config import effective_index_base
    from poetry_torch_plugin.core.variants import from_index_name
    from poetry_torch_plugin.index.access import resolve_access

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
    from poetry_torch_plugin.core.config import TorchConfig
    from poetry_torch_plugin.core.config import parse_requirements
    from poetry_torch_plugin.core.variants import channel_base
    from poetry_torch_plugin.project.edits import packages_for
    from poetry_torch_plugin.project.files import read_project
    from poetry_torch_plugin.service.install import _index_base_for

    settings = read_project(pyproject).settings or TorchConfig()
    # the base a new variant's source gets (``plan_install``): a mirror, a channel, or PyTorch's
    base = channel_base(_index_base_for(settings, index_base), channel or "stable")
    requested = parse_requirements(list(requirements), where="command line", require_torch=False)
    wanted = packages_for(settings.written, requested) if requested else list(settings.packages)
    return LiveIndex(pages_for(settings, index_base), base, wanted, wheel_target(env))


def checked_probe(
    plan: InstallPlan,
    env: TargetEnv | None,
    pages: IndexPages | None = None,
    target: WheelTarget | None = None,
) -> Listing:
    """Before any download: refuse a variant whose index lacks a configured package for the
    target (``refuse_unpublished``), then return the torch page (read once: the install reads
    it for its PEP 658 metadata and hashes).  IndexAccessError when it cannot be read."""
    from poetry_torch_plugin.index.pages import fetch_listing
    from poetry_torch_plugin.service.settings import access_for

    pages = pages or pages_for(plan.settings)
    wanted = plan.settings.packages
    refuse_unpublished(pages, plan.index_url, plan.variant, wanted, target or wheel_target(env))
    probe = pages.page(plan.index_url, "torch")
    if probe is not None:
        return probe
    access = access_for(plan.settings, plan.source)
    return fetch_listing(access.url, "torch", access=access)  # says that torch is not there


def index_verdicts(report: Report) -> Report:
    """``poetry torch check --index``: the report with what the configured index says added.

    Whether the configured variant's index has a wheel of every configured package for the
    environment's Python and platform (an error when not), and which ``--cuda auto``
    candidates it rules out, one verdict each.  Reads the network, so only on request."""
    from dataclasses import replace

    from poetry_torch_plugin.core.fit import choose
    from poetry_torch_plugin.data import load_facts
    from poetry_torch_plugin.env.installed import TargetEnv
    from poetry_torch_plugin.env.installed import env_python
    from poetry_torch_plugin.service.install import _index_base_for
    from poetry_torch_plugin.service.verdict import ERROR
    from poetry_torch_plugin.service.verdict import FIX_AUTO
    from poetry_torch_plugin.service.verdict import OK
    from poetry_torch_plugin.service.verdict import WARNING
    from poetry_torch_plugin.service.verdict import Verdict

    settings, source = report.project.settings, report.project.source
    if settings is None or source is None or source.variant is None:
        return report  # the verdicts already say what is wrong with the configuration
    env = report.environment
    python = env_python(env.root) if env.root is not None else None
    env_target = TargetEnv(env.root, python, env.site_packages) if env.root and python else None
    tags = wheel_target(env_target)
    pages = pages_for(settings)
    found: list[Verdict] = []
    try:
        why = pages.missing(source.url, wanted_packages(settings.packages), tags)
    except IndexAccessError as exc:
        what = str(exc).split(";", 1)[0]
        found.append(Verdict("index-unreadable", WARNING, f"could not read the index: {what}"))
        return replace(report, verdicts=(*report.verdicts, *found))
    if why is not None:
        message = f"{source.variant.index_name}: {why}"
        found.append(Verdict("index-missing", ERROR, message, FIX_AUTO))
    else:
        names = ", ".join(wanted_packages(settings.packages))
        shown = redact(source.url)
        found.append(Verdict("index-ok", OK, f"{shown} has {names} for {tags.short}"))
    base = _index_base_for(settings, None)
    live = LiveIndex(pages, base, settings.packages, tags)
    torch = env.dists.get("torch")
    choice = choose(
        load_facts(), report.machine, (), settings.packages, torch.version if torch else None, live
    )
    found += [
        Verdict("auto-dropped", "info", f"--cuda auto drops {line}") for line in choice.dropped
    ]
    found.append(Verdict("auto-choice", "info", f"--cuda auto picks {choice.variant}"))
    kept = [v for v in report.verdicts if not (v.code == "ok" and why is not None)]
    return replace(report, verdicts=(*kept, *found))
