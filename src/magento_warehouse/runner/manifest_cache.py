"""The parsed project, kept between runs of the few-minute job.

dbt's partial parsing still reads every file of the project and decodes its saved
state: more than a second for a fleet of a thousand models, on every cycle, for a
project that changes a few times a day. The runner keeps the manifest it parsed in
dbt's target folder, with a fingerprint of everything parsing reads:

- the files of the project's resource paths, packages (installed, and local ones
  where packages.yml points) and root YAML files, and the
  profiles.yml files dbt may read (path, size and modification time of each);
- the runner's dbt flags (project and profiles dirs, target, vars, state);
- the versions of Python, dbt and its adapters;
- the values of every DBT_* environment variable, and of every variable the project
  or the profile reads with env_var().

A run with the same fingerprint loads that manifest (a fraction of a second) instead
of parsing; any difference parses, as dbt would, and keeps the new manifest. A file
edited, added or removed, another --vars or a changed env var therefore always
re-parses. Delete the file (or target/) to force a parse. The file is a pickle in the
project's own build folder: whoever can write there can already change the project.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import re
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml
from dbt.contracts.graph.manifest import Manifest

CACHE_FILE = "run_and_sync_manifest.pickle"
# dbt's defaults for the folders it parses (dbt_project.yml may name others).
RESOURCE_PATHS = {"model-paths": ["models"], "macro-paths": ["macros"], "seed-paths": ["seeds"],
                  "test-paths": ["tests"], "snapshot-paths": ["snapshots"], "analysis-paths": ["analyses"],
                  "docs-paths": [], "function-paths": ["functions"]}
# Written by runs of a dbt project, never parsed: skipped in projects found inside the
# walked folders (a package's own test project).
ARTIFACT_FOLDERS = {"target", "logs"}
ROOT_FILES = ("dbt_project.yml", "packages.yml", "dependencies.yml", "package-lock.yml", "selectors.yml")
ENV_VAR_CALL = re.compile(r"""env_var\(\s*['"]([^'"]+)['"]""")


@dataclasses.dataclass(frozen=True)
class ProjectState:
    """What parsing reads, but for env vars (known only once the project is parsed)."""

    files: tuple[tuple[Any, ...], ...]
    flags: tuple[str, ...]
    versions: tuple[str, ...]
    env_var_calls: frozenset[str]  # env vars named in dbt_project.yml and profiles.yml

    def key(self, env_names: set[str]) -> str:
        """The fingerprint, given the env vars the project's files read."""
        names = env_names | self.env_var_calls | {name for name in os.environ if name.startswith("DBT_")}
        payload = [self.files, self.flags, self.versions,
                   # Hashed with the rest, never stored or printed: profiles read secrets from env vars.
                   sorted((name, os.environ.get(name)) for name in names)]
        return hashlib.sha256(json.dumps(payload, default=str).encode()).hexdigest()


def project_state(project_dir: Path, profiles_dirs: list[Path], dbt_flags: list[str]) -> ProjectState:
    """Stats every file dbt may parse for the project (see the module's docstring)."""
    project_dir = project_dir.resolve()
    try:
        config = yaml.safe_load((project_dir / "dbt_project.yml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        config = {}
    folders = {project_dir / str(config.get("packages-install-path", "dbt_packages"))}
    folders.update(project_dir / path for path in _local_packages(project_dir))
    for key, default in RESOURCE_PATHS.items():
        folders.update(project_dir / str(path) for path in (config.get(key) or default))
    files = [project_dir / name for name in ROOT_FILES]
    files += [directory.resolve() / "profiles.yml" for directory in profiles_dirs]
    stats = [_stat(path) for path in files]
    walked: set[str] = set()
    for folder in sorted(folders):
        # A local package is installed as a link to its folder: walk into links, each
        # real folder once (a package's own test project links back to the package).
        for root, dirs, names in os.walk(folder, followlinks=True):
            if os.path.realpath(root) in walked:
                dirs[:] = []
                continue
            walked.add(os.path.realpath(root))
            skipped = ARTIFACT_FOLDERS if "dbt_project.yml" in names else set()
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__" and d not in skipped)
            stats += [_stat(Path(root) / name) for name in sorted(names)]
    versions = [sys.version, *sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions()
                                     if (d.metadata["Name"] or "").lower().startswith("dbt"))]
    calls = {name for path in files for name in ENV_VAR_CALL.findall(_text(path))}
    return ProjectState(tuple(stats), tuple(dbt_flags), tuple(versions), frozenset(calls))


def _local_packages(project_dir: Path) -> list[str]:
    """The folders of the `local:` packages packages.yml lists (their files are parsed too)."""
    try:
        config = yaml.safe_load((project_dir / "packages.yml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return []
    return [str(p["local"]) for p in config.get("packages") or [] if isinstance(p, dict) and p.get("local")]


def _stat(path: Path) -> tuple[Any, ...]:
    try:
        stat = path.stat()
    except OSError:
        return (str(path),)
    return str(path), stat.st_size, stat.st_mtime_ns


def _text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def load(path: Path, state: ProjectState) -> Manifest | None:
    """The kept manifest if it was parsed from this state, else None (also when unreadable)."""
    try:
        with path.open("rb") as handle:
            header = pickle.load(handle)
            if header.get("key") != state.key(set(header.get("env_names", []))):
                return None
            kept = pickle.load(handle)
        fields = {field.name for field in dataclasses.fields(Manifest)}
        manifest = Manifest(**{name: value for name, value in kept.items() if name in fields})
        for name, value in kept.items():
            if name not in fields:  # what parsing adds beside the fields (parent_map, child_map)
                setattr(manifest, name, value)
        return manifest
    except Exception:  # noqa: BLE001 (a partial, foreign or old file only means parsing again)
        return None


def save(path: Path, state: ProjectState, manifest: Manifest) -> None:
    """Keeps the manifest parsed from `state` (taken before parsing, so an edit made
    meanwhile re-parses next time). Written aside and renamed: a killed run leaves no
    half file."""
    names = set(manifest.env_vars)
    # Manifest's own pickling passes its fields by position and misplaces the lookups:
    # keep the public attributes; dbt rebuilds the private lookups on first use.
    kept = {name: value for name, value in vars(manifest).items() if not name.startswith("_")}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}")
    with partial.open("wb") as handle:
        pickle.dump({"key": state.key(names), "env_names": sorted(names)}, handle)
        pickle.dump(kept, handle, protocol=pickle.HIGHEST_PROTOCOL)
    partial.replace(path)
