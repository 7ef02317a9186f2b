"""Storage's domain errors and the one table that answers them (http/error_map.py)."""
import dataclasses
import inspect
import typing

import pytest

from ossbox import errors
from ossbox.errors import OssError
from ossbox.http.error_map import BY_CLASS, to_oss_error
from ossbox.storage import errors as storage


def _all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


DOMAIN_ERRORS = sorted(set(_all_subclasses(storage.StorageError)), key=lambda c: c.__name__)
_SAMPLES = {str: "some-name", int: 5, float: 1.5, bytes: b"\x01\x02", typing.Optional[str]: None}


def _sample(cls):
    """An instance of cls with a plain value of the right type in every field."""
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: _SAMPLES[hints[f.name]] for f in dataclasses.fields(cls)})


def test_the_module_defines_only_storage_errors():
    """Everything storage/errors.py defines is a StorageError, so the walk below sees it all."""
    defined = {obj for _n, obj in inspect.getmembers(storage, inspect.isclass) if obj.__module__ == storage.__name__}
    assert defined == set(DOMAIN_ERRORS) | {storage.StorageError}
    assert len(DOMAIN_ERRORS) >= 30


@pytest.mark.parametrize("cls", DOMAIN_ERRORS, ids=lambda c: c.__name__)
def test_every_domain_error_has_its_own_answer(cls):
    assert cls in BY_CLASS, f"{cls.__name__} has no entry in http/error_map.py"
    exc = _sample(cls)
    answer = to_oss_error(exc)
    assert isinstance(answer, OssError)
    assert str(exc) and "{" not in str(exc)  # its own text formats (tools and logs show it)


def test_the_table_holds_only_domain_errors():
    assert set(BY_CLASS) == set(DOMAIN_ERRORS)


def test_position_mismatch_carries_the_next_append_position():
    answer = to_oss_error(storage.PositionMismatch(next_position=1234))
    assert (answer.status, answer.code, answer.message, answer.ec) == (
        409, "PositionNotEqualToLength", "Position is not equal to file length", "0026-00000016")
    assert answer.headers == {"x-oss-next-append-position": "1234"}
    assert answer.details == {}


def test_details_carry_the_domain_data():
    small = to_oss_error(storage.PartTooSmall(part_number=3, size=17, min_size=100 * 1024))
    assert (small.status, small.code, small.ec) == (400, "EntityTooSmall", "0042-00000205")
    assert small.details == {"PartNumber": 3, "ProposedSize": 17, "MinSizeAllowed": 102400}
    null_version = to_oss_error(storage.VersionNotFound("b", "k", None))
    assert (null_version.status, null_version.code) == (404, "NoSuchVersion")
    assert null_version.details == {"Key": "k", "VersionId": "null"}
    kms = to_oss_error(storage.KmsKeyNotFound("x" * 300, "KMSMasterKeyID"))
    assert kms.details == {"ArgumentName": "KMSMasterKeyID", "ArgumentValue": "x" * 128}
    assert to_oss_error(storage.BucketNotEmpty("bk")).details == {"BucketName": "bk"}


def test_same_code_different_answers_stay_apart():
    """ServiceUnavailable and InternalError each stand for several domain errors; their messages
    (what a client reads) and ECs stay the ones answered before the domain errors existed."""
    assert to_oss_error(storage.MetadataUnavailable()).message == "The metadata database is unavailable; try again."
    assert to_oss_error(storage.ObjectChanged("b", "k")).message == "The object changed concurrently; try again."
    assert to_oss_error(storage.WritesRefused()).spec is errors.WritesSuspended
    assert to_oss_error(storage.CommitUncertain()).spec is errors.WriteOutcomeUnknown
    assert to_oss_error(storage.StorageFull()).spec is errors.StorageFull
    assert to_oss_error(storage.ObjectSealed("b", "k")).ec == "0026-00000019"
    assert to_oss_error(storage.ObjectNotAppendable("b", "k")).ec == "0026-00000017"
    assert to_oss_error(storage.DataShorterThanRecorded("source")).message == \
        "source data is shorter than its recorded size"


def test_an_unmapped_storage_error_is_a_500(caplog):
    class Unlisted(storage.StorageError):  # (DOMAIN_ERRORS was taken at import: it stays out)
        pass
    assert to_oss_error(Unlisted()).spec is errors.InternalError
    assert "without an OSS error mapping" in caplog.text
