"""The content-addressed file store keeps one copy per content, also when two writers race."""

import hashlib
import os

from opencdmo.core import filestore


def test_a_writer_that_loses_the_race_for_the_same_content_keeps_the_winners_copy(settings, tmp_path, monkeypatch):
    settings.FILE_STORE_DIR = tmp_path
    content = b"certificate of analysis"
    link = os.link

    def other_writer_first(source, target):  # the other worker stores the same bytes just before us
        link(source, target)
        raise FileExistsError(17, "File exists", str(target))

    monkeypatch.setattr(filestore.os, "link", other_writer_first)
    assert filestore.put([content]) == (hashlib.sha256(content).hexdigest(), len(content))
    assert filestore.open_file(hashlib.sha256(content).hexdigest()).read() == content
    assert not list(tmp_path.glob(".incoming-*"))
