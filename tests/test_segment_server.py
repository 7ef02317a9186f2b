"""A server in segment mode (`--data file:///...`) whose segment store goes away and comes back:
clients get OSS errors with a status (503 ServiceUnavailable) -- never a 200 whose body is cut
off -- what needs no segment keeps working, and everything is readable again once the store is
back, with nothing acknowledged lost."""
from __future__ import annotations

import os

import oss2
import pytest

from appendkit import new_bucket
from serverproc import ServerProcess

pytestmark = pytest.mark.timeout(120)


def test_a_store_that_goes_away_gives_503s_and_loses_nothing(tmp_path):
    store = tmp_path / "segments"
    store.mkdir()
    srv = ServerProcess(str(tmp_path / "node"), extra_args=["--data", f"file://{store}"]).start()
    try:
        b = new_bucket(srv.endpoint, "store-away")
        b.create_bucket()
        big = os.urandom(1024 * 1024)
        b.put_object("big", big)
        pos = b.append_object("log", 0, b"small ").next_position
        os.rename(store, tmp_path / "away")
        try:
            for read in (lambda: b.get_object("big").read(), lambda: b.get_object("big", byte_range=(10, 20)).read()):
                with pytest.raises(oss2.exceptions.ServerError) as info:
                    read()
                assert info.value.status == 503, info.value
                assert info.value.details["EC"] == "0000-00000002" or info.value.code == "ServiceUnavailable"
            with pytest.raises(oss2.exceptions.ServerError) as info:
                b.put_object("big2", big)
            assert info.value.status == 503
            # small appends are inline in the metadata commit: they need no segment store
            pos = b.append_object("log", pos, b"still here").next_position
            assert b.get_object("log").read() == b"small still here"
            assert b.head_object("big").content_length == len(big)
        finally:
            os.rename(tmp_path / "away", store)
        assert b.get_object("big").read() == big
        b.put_object("big2", big)
        assert b.get_object("big2").read() == big
        assert b.append_object("log", pos, os.urandom(300 * 1024)).next_position == pos + 300 * 1024
    finally:
        assert srv.stop() == 0, "".join(srv.output)
