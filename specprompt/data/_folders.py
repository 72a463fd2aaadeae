"""Which entries of a folder-per-label dataset are read, and the one warning about the others.

``root/<label>/<file>`` is read when ``<file>`` is a regular file with a suffix of
:data:`IMAGE_SUFFIXES`. Hidden entries (``.DS_Store``, ``._photo.jpg``) and the ``__MACOSX``
folders that macOS zips carry are skipped without a word. Every other entry a user likely meant
as data is named in one WARNING, grouped by why it was not read, so that each reason shows
however many entries share the first one (see :func:`report_skipped`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["IMAGE_SUFFIXES", "FolderListing", "is_hidden", "list_folders", "report_skipped"]

log = logging.getLogger("specprompt.data")

#: File suffixes read from label folders (case-insensitive); other files are skipped.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")
#: Suffixes of images that label folders do not read: a WARNING names them (other files: INFO).
_OTHER_IMAGE_SUFFIXES = (
    ".avif",
    ".heic",
    ".heif",
    ".jfif",
    ".jp2",
    ".jxl",
    ".svg",
    ".ico",
    ".pbm",
    ".pgm",
    ".ppm",
    ".pnm",
    ".tga",
    ".psd",
    ".exr",
    ".hdr",
    ".dng",
    ".raw",
    ".cr2",
    ".nef",
    ".arw",
)
#: What to do with a file of a suffix not read, where it is not "convert to JPEG or PNG".
_SUFFIX_HINTS = {".jfif": "a JPEG: rename to .jpg", ".heif": "convert to JPEG or PNG"}
#: Suffixes said by another name than their own (``.heif`` files are HEIC photos to a user).
_SUFFIX_NAMES = {".heif": "HEIC", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF"}
#: Names of folders that zip tools add and nobody means as a label (macOS resource forks).
_HIDDEN_NAMES = frozenset({"__MACOSX"})
#: Entries named per reason in the warning; the rest of a reason is counted.
_NAMED_PER_REASON = 5


def is_hidden(path: Path) -> bool:
    """Whether ``path`` is skipped without a word: a dot entry or a ``__MACOSX`` folder.

    Example:
        >>> is_hidden(Path("train/__MACOSX")), is_hidden(Path("cat/._a.jpg")), is_hidden(Path("cat"))
        (True, True, False)
    """
    return path.name.startswith(".") or path.name in _HIDDEN_NAMES


@dataclass(frozen=True)
class FolderListing:
    """The entries of a folder-per-label dataset, before any file is read.

    Attributes:
        files: per label folder (sorted by name), its image files to read (sorted by name).
        skipped: the entries not read, hidden ones left out.
    """

    files: tuple[tuple[Path, tuple[Path, ...]], ...]
    skipped: tuple[Path, ...]

    @property
    def count(self) -> int:
        """How many files will be read."""
        return sum(len(files) for _, files in self.files)


def _readable(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def list_folders(root: Path, folders: Sequence[Path]) -> FolderListing:
    """The files of ``folders`` (label folders of ``root``) that are read, and what is skipped.

    Skipped: the entries lying directly in ``root``, entries of a label folder that are no
    readable image, and label folders without one.
    """
    skipped = [p for p in sorted(root.iterdir()) if not p.is_dir() and not is_hidden(p)]
    files: list[tuple[Path, tuple[Path, ...]]] = []
    for folder in folders:
        entries = sorted(p for p in folder.iterdir() if not is_hidden(p))
        found = tuple(p for p in entries if _readable(p))
        skipped += [p for p in entries if not _readable(p)]
        if not found:
            skipped.append(folder)
        files.append((folder, found))
    return FolderListing(tuple(files), tuple(skipped))


def _looks_meant(path: Path) -> bool:
    """Whether a user likely meant ``path`` as data: a folder, an image at any level, an image-like
    suffix, or a broken link (a link is made on purpose)."""
    suffix = path.suffix.lower()
    meant_suffix = suffix in IMAGE_SUFFIXES or suffix in _OTHER_IMAGE_SUFFIXES
    return path.is_dir() or meant_suffix or (path.is_symlink() and not path.exists())


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _reason(root: Path, path: Path) -> tuple[str, str, str]:
    """``(reason, its words for one entry, for several)`` of a skipped entry the user likely meant."""
    if path.is_symlink() and not path.exists():
        return "broken", "broken link", "broken links"
    if path.is_dir() and path.parent == root:
        return "empty", "label folder without images", "label folders without images"
    if path.is_dir():
        return "nested", "folder inside a label folder", "folders inside a label folder"
    if path.parent == root:
        return "loose", "file not in a label folder", "files not in a label folder"
    if not path.is_file():
        return "special", "entry that is not a regular file", "entries that are not regular files"
    suffix = path.suffix.lower()
    name = _SUFFIX_NAMES.get(suffix, suffix.lstrip(".").upper())
    hint = _SUFFIX_HINTS.get(suffix, "convert to JPEG or PNG" if suffix in _OTHER_IMAGE_SUFFIXES else "")
    why = f" ({hint})" if hint else f" (suffix {path.suffix!r})"
    return f"suffix {name}", f"{name} file{why}", f"{name} files{why}"


def _entry(root: Path, path: Path) -> str:
    """How the warning names ``path``: relative to ``root``, a folder with ``/``, a broken link with its
    target (``cat/a.png (to /gone/a.png)``, in the group ``broken link``)."""
    rel = path.relative_to(root).as_posix()
    if path.is_symlink() and not path.exists():
        return f"{rel} (to {os.readlink(path)})"
    return f"{rel}/" if path.is_dir() else rel


def _grouped(root: Path, meant: Sequence[Path]) -> str:
    """``2 HEIC files (convert to JPEG or PNG): a.heic, b.heic; 1 label folder without images: x/``:
    every reason, in the order first met, with at most :data:`_NAMED_PER_REASON` entries named."""
    groups: dict[str, tuple[str, str, list[str]]] = {}
    for path in meant:
        key, one, many = _reason(root, path)
        groups.setdefault(key, (one, many, []))[2].append(_entry(root, path))
    parts = []
    for one, many, entries in groups.values():
        named = ", ".join(entries[:_NAMED_PER_REASON])
        more = len(entries) - _NAMED_PER_REASON
        parts.append(f"{_plural(len(entries), one, many)}: {named}" + (f" and {more} more" if more > 0 else ""))
    return "; ".join(parts)


def report_skipped(root: Path, skipped: Sequence[Path]) -> None:
    """Logs the entries a folder-per-label dataset does not read: one WARNING for the ones that look meant.

    Label folders without images, folders inside label folders, files directly in ``root``,
    broken links and images of a suffix not read (``.heic``, ``.svg``, ...) are warned about,
    grouped by reason (with what to do, e.g. "convert to JPEG or PNG"); other files
    (``notes.txt``) are logged at INFO. Hidden entries (:func:`is_hidden`) never reach here.
    """
    meant = [p for p in skipped if _looks_meant(p)]
    other = [p.relative_to(root).as_posix() for p in skipped if not _looks_meant(p)]
    if meant:
        log.warning(
            "dataset folder %s: %s not read: %s; only images directly in %s/<label>/ with suffix %s are read",
            root,
            _plural(len(meant), "entry", "entries"),
            _grouped(root, meant),
            root,
            ", ".join(IMAGE_SUFFIXES),
        )
    if other:
        log.info("dataset folder %s: %d file(s) not read (not images): %s", root, len(other), ", ".join(other[:5]))
