"""Cache files: written atomically, readable by others as the umask allows (a workshop's shared cache), hashed stably."""

import os
import stat

from ptmlab.io import atomic_write_json, atomic_write_text, config_hash, read_json


def test_atomic_writes_take_the_umask_mode_not_mkstemps_0600(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "sub" / "a.txt", "hello")
    finally:
        os.umask(old)
    assert path.read_text() == "hello"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # others can read what an instructor cached
    old = os.umask(0o077)
    try:
        private = atomic_write_text(tmp_path / "b.txt", "mine")
    finally:
        os.umask(old)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600  # a private umask stays private
    assert not [p for p in tmp_path.rglob("*.tmp")]  # no temp file left behind


def test_read_json_gives_none_for_missing_or_damaged_files(tmp_path):
    assert read_json(tmp_path / "missing.json") is None
    (tmp_path / "bad.json").write_text("{half")
    assert read_json(tmp_path / "bad.json") is None
    atomic_write_json(tmp_path / "ok.json", {"a": [1, 2]})
    assert read_json(tmp_path / "ok.json") == {"a": [1, 2]}


def test_config_hash_ignores_key_order_and_sees_every_value():
    assert config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})
