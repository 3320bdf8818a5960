"""Content-addressed file store: a file is kept under its SHA-256 and never overwritten."""

import hashlib
import os
import tempfile
from pathlib import Path

from django.conf import settings


def path_of(sha256: str) -> Path:
    return Path(settings.FILE_STORE_DIR) / sha256[:2] / sha256[2:4] / sha256


def put(chunks) -> tuple[str, int]:
    """Store the bytes; returns (sha256, size). Storing the same bytes twice keeps one copy."""
    root = Path(settings.FILE_STORE_DIR)
    root.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        target = path_of(digest.hexdigest())
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            try:
                os.link(tmp, target)  # fails rather than replace an existing file
                os.chmod(target, 0o444)
            except FileExistsError:
                pass  # another writer stored it meanwhile: the same bytes, since the name is their hash
        os.unlink(tmp)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return digest.hexdigest(), size


def open_file(sha256: str):
    return path_of(sha256).open("rb")
