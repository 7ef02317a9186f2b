"""Removing many objects and multipart uploads (rm -r, rb -f), counting what failed per item."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .arguments import Filter
from .output import print_error
from .sdk import brief, is_not_found, iter_objects, sdk

DELETE_BATCH = 1000


@dataclass
class Tally:
    total: int = 0
    done: int = 0
    failed: int = 0


def delete_objects(client, bucket: str, keys: list[str], tally: Tally, label: str = "oss://") -> None:
    """DeleteMultipleObjects in batches of 1000; a failed batch counts all its keys as failed."""
    oss = sdk()
    for i in range(0, len(keys), DELETE_BATCH):
        chunk = keys[i:i + DELETE_BATCH]
        tally.total += len(chunk)
        try:
            client.delete_multiple_objects(oss.models.DeleteMultipleObjectsRequest(
                bucket=bucket, objects=[oss.models.DeleteObject(key=k) for k in chunk], quiet=True))
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - reported per batch, the run goes on
            tally.failed += len(chunk)
            print_error(f"removing {len(chunk)} objects of oss://{bucket} ({chunk[0]} ... {chunk[-1]}) "
                        f"failed: {brief(exc)}")
        else:
            tally.done += len(chunk)


def abort_uploads(client, bucket: str, uploads, tally: Tally) -> None:
    oss = sdk()
    for up in uploads:
        tally.total += 1
        try:
            client.abort_multipart_upload(oss.models.AbortMultipartUploadRequest(
                bucket=bucket, key=up.key, upload_id=up.upload_id))
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001
            if is_not_found(exc):  # already completed or aborted by someone else
                tally.done += 1
                continue
            tally.failed += 1
            print_error(f"aborting upload {up.upload_id} of oss://{bucket}/{up.key} failed: {brief(exc)}")
        else:
            tally.done += 1


def all_keys(client, bucket: str, prefix: str = "", flt: Optional[Filter] = None) -> list[str]:
    keys = []
    for objects, _ in iter_objects(client, bucket, prefix):
        for obj in objects:
            if flt is None or flt.match(obj.key[len(prefix):] if prefix else obj.key):
                keys.append(obj.key)
    return keys
