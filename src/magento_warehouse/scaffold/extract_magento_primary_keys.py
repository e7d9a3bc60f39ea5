"""Rebuilds magento_primary_keys.csv from the db_schema.xml files of a Magento 2 code base.

Reads every module's etc/db_schema.xml (and app/etc/db_schema.xml) of a Magento 2
checkout, either a folder or a git repository (read with `git show`, no work tree
needed), and writes one row per table with a primary key:

    table,primary_key,module,comment

`primary_key` lists the key columns in key order, separated by spaces; `module` is the
Magento module declaring the key; `comment` is the table's comment in db_schema.xml.

Only open-source modules are read: a module whose composer.json declares a
proprietary license (Adobe Commerce) is skipped, since Commerce modules change keys
(row_id on staged entities) that Magento Open Source does not have. Test fixtures
(dev/, Test/) are skipped. A table whose key is declared differently by two modules, or
disabled, is an error.

Usage:
    extract_magento_primary_keys.py --git-dir /path/to/magento.git [--rev HEAD] [--out FILE]
    extract_magento_primary_keys.py --root /path/to/magento [--out FILE]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path, PurePosixPath

XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
DEFAULT_OUT = Path(__file__).resolve().parent / "magento_primary_keys.csv"
# Packages of Adobe Commerce extensions that carry an open-source license but are not
# part of Magento Open Source.
NOT_MAGENTO_OPEN_SOURCE = {"module-adobe-commerce-events-client"}


class Tree:
    """Read access to a Magento code base in a folder or a git repository."""

    def __init__(self, root: Path | None, git_dir: Path | None, rev: str) -> None:
        self.root, self.git_dir, self.rev = root, git_dir, rev

    def paths(self) -> list[str]:
        if self.git_dir is not None:
            listing = subprocess.run(
                ["git", "--git-dir", str(self.git_dir), "ls-tree", "-r", "--name-only", self.rev],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            return listing.splitlines()
        assert self.root is not None
        return [p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()]

    def read(self, path: str) -> bytes | None:
        if self.git_dir is not None:
            shown = subprocess.run(
                ["git", "--git-dir", str(self.git_dir), "show", f"{self.rev}:{path}"], capture_output=True
            )
            return shown.stdout if shown.returncode == 0 else None
        assert self.root is not None
        file = self.root / path
        return file.read_bytes() if file.is_file() else None


def schema_files(paths: list[str]) -> list[str]:
    """The db_schema.xml files of modules and app/etc, without test fixtures."""
    chosen = []
    for path in paths:
        parts = PurePosixPath(path).parts
        if parts[-1] != "db_schema.xml" or "dev" in parts or "Test" in parts or "tests" in parts:
            continue
        if len(parts) >= 2 and parts[-2] == "etc":
            chosen.append(path)
    return sorted(chosen)


def module_name(tree: Tree, schema_path: str) -> str | None:
    """The module's name (etc/module.xml), 'app/etc' for app/etc/db_schema.xml, None to skip."""
    module_dir = PurePosixPath(schema_path).parent.parent
    if module_dir.name in NOT_MAGENTO_OPEN_SOURCE:
        return None
    composer = tree.read(str(module_dir / "composer.json"))
    if composer is not None:
        licenses = json.loads(composer).get("license") or []
        licenses = [licenses] if isinstance(licenses, str) else licenses
        if any(str(name).lower() == "proprietary" for name in licenses):
            return None
    module_xml = tree.read(str(module_dir / "etc" / "module.xml"))
    if module_xml is not None:
        module = ET.fromstring(module_xml).find("module")
        if module is not None and module.get("name"):
            return module.get("name")
    if PurePosixPath(schema_path).parent == PurePosixPath("app/etc") or schema_path.endswith("/app/etc/db_schema.xml"):
        return "app/etc"
    return None


def primary_keys(tree: Tree) -> dict[str, tuple[tuple[str, ...], str, str]]:
    """table -> (key columns, module, comment)."""
    found: dict[str, tuple[tuple[str, ...], str, str]] = {}
    comments: dict[str, str] = {}
    problems = []
    for path in schema_files(tree.paths()):
        module = module_name(tree, path)
        if module is None:
            continue
        content = tree.read(path)
        assert content is not None, path
        for table in ET.fromstring(content).iter("table"):
            name = table.get("name")
            if not name:
                continue
            if table.get("comment") and name not in comments:
                comments[name] = table.get("comment", "")
            for constraint in table.findall("constraint"):
                if constraint.get(XSI_TYPE) != "primary":
                    continue
                columns = tuple(c.get("name", "") for c in constraint.findall("column"))
                if constraint.get("disabled") == "true" or table.get("disabled") == "true":
                    problems.append(f"{path}: the primary key of {name} is disabled")
                    continue
                if name in found and found[name][0] != columns:
                    problems.append(f"{path}: {name} key {columns} differs from {found[name][0]} ({found[name][1]})")
                    continue
                found.setdefault(name, (columns, module, ""))
    if problems:
        raise SystemExit("error: " + "\n".join(problems))
    return {name: (key, module, comments.get(name, "")) for name, (key, module, _) in found.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--root", type=Path, help="a Magento 2 checkout (folder)")
    where.add_argument("--git-dir", type=Path, help="a Magento 2 git repository (bare or .git)")
    parser.add_argument("--rev", default="HEAD", help="revision to read with --git-dir (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="CSV to write (default: %(default)s)")
    args = parser.parse_args(argv)

    keys = primary_keys(Tree(args.root, args.git_dir, args.rev))
    if not keys:
        print("error: no primary key found; is this a Magento 2 code base?", file=sys.stderr)
        return 1
    with args.out.open("w", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["table", "primary_key", "module", "comment"])
        for name in sorted(keys):
            key, module, comment = keys[name]
            writer.writerow([name, " ".join(key), module, comment])
    print(f"{args.out}: {len(keys)} tables")
    return 0


if __name__ == "__main__":
    sys.exit(main())
