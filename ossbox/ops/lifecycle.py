"""PutBucketLifecycle, GetBucketLifecycle, DeleteBucketLifecycle (`?lifecycle`).

The XML is checked here and kept in BucketRecord.config["lifecycle"] as plain data (a list of rule
dicts, see storage/lifecycle.py for what each field means); the engine's lifecycle scanner runs the
enabled rules. Validation follows OSS's PutBucketLifecycle page and its error-code pages:
  0014-00000010  several Prefix nodes in one Rule                      -> MalformedXML
  0014-00000026  a Rule without any action                               -> MalformedXML
  0014-00000060  Expiration without Days / CreatedBeforeDate / ExpiredObjectDeleteMarker=true
                                                                         -> InvalidArgument
  0014-00000052  ReturnToStdWhenVisit without IsAccessTime (or the reverse) -> InvalidArgument
  0014-00000082  overlapping prefixes whose times conflict (Archive before IA, expiry before a
                 transition)                                             -> InvalidArgument
  up to 1000 rules; Days and CreatedBeforeDate exclusive; CreatedBeforeDate at 00:00 UTC;
  no two rules with AbortMultipartUpload on overlapping prefixes (OSS user guide, "Limits");
  overlapping prefixes with the same action type only with x-oss-allow-same-action-overlap: true.
From oss2 2.19.1's own lifecycle tests (which pass): Days and dates mixed in one rule's Expiration
and Transitions -> InvalidRequest; Expiration/Date (the older form) accepted and echoed; tag keys
and values with ASCII characters outside the object tag set refused, long ones accepted; one Not.
Lifecycle rules based on the last access time (IsAccessTime=true) need the bucket's access tracking
(PutBucketAccessMonitor, ops/bucket_features.py): without it they are refused with InvalidArgument,
as OSS refuses them; with it the scanner counts their days from the object's last access.
"""
from __future__ import annotations

import calendar
import datetime
import re
import uuid
from typing import Optional

from .. import errors, numeric
from ..wire import xml
from ..wire.request import Request, Response
from . import common
from .bucket_config import set_config

MAX_RULES = 1000
MAX_ID = 255
TRANSITION_CLASSES = ("IA", "Archive", "ColdArchive", "DeepColdArchive")  # coldness order
ACTIONS = ("Expiration", "Transition", "AbortMultipartUpload", "NoncurrentVersionExpiration",
           "NoncurrentVersionTransition")
_MIDNIGHT = re.compile(r"(\d{4})-(\d{2})-(\d{2})T00:00:00(?:\.0{1,3})?Z")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z")


def _bad(message: str, name: str = "", value: str = "") -> errors.OssError:
    return errors.InvalidArgument(message, ArgumentName=name or None, ArgumentValue=value[:128] or None)


def _one(node, tag: str) -> Optional[str]:
    """The text of the single `tag` child (None if absent); several are MalformedXML."""
    found = _single(node, tag)
    return None if found is None else (found.text or "").strip()


def _number(node, tag: str, low: int = 1, high: int = 2 ** 31 - 1) -> Optional[int]:
    """A whole number child in [low, high] (None if absent); anything else is InvalidArgument."""
    text = _one(node, tag)
    if text is None:
        return None
    value = numeric.parse_decimal(text, high, low)
    if value is None:
        raise _bad(f"{tag} must be a {'positive' if low else 'non-negative'} integer.", tag, text)
    return value


def _single(node, tag: str):
    """The one `tag` child element (None if absent); several are MalformedXML."""
    found = xml.children(node, tag)
    if len(found) > 1:
        raise errors.MalformedXML(f"The {tag} element may appear only once here.")
    return found[0] if found else None


def _days(node, tag: str) -> Optional[int]:
    return _number(node, tag)


def _date(node, tag: str = "CreatedBeforeDate") -> Optional[dict]:
    """{"date": text, "before": epoch seconds} of a CreatedBeforeDate (00:00:00 UTC of a day)."""
    text = _one(node, tag)
    if text is None:
        return None
    m = _MIDNIGHT.fullmatch(text)
    if m is None:
        what = "must be at 00:00:00 UTC" if _DATE.fullmatch(text) else "must be an ISO 8601 date"
        raise _bad(f"{tag} {what}, for example 2002-10-11T00:00:00.000Z.", tag, text)
    try:
        day = datetime.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        raise _bad(f"{tag} is not a valid date.", tag, text) from None
    return {"date": text, "before": float(calendar.timegm(day.timetuple()))}


def _bool(node, tag: str) -> Optional[bool]:
    text = _one(node, tag)
    if text is None:
        return None
    if text.lower() not in ("true", "false"):
        raise errors.MalformedXML(f"{tag} must be true or false.")
    return text.lower() == "true"


def _when(node, what: str, days_tag: str = "Days") -> dict:
    """Days or CreatedBeforeDate (exactly one) of an action."""
    days, date = _days(node, days_tag), _date(node)
    if days is not None and date is not None:
        raise _bad(f"Days and CreatedBeforeDate can only choose one in {what}.", what)
    if days is None and date is None:
        raise _bad(f"{what} needs Days or CreatedBeforeDate.", what)
    return {"days": days} if days is not None else date


def _storage_class(node, what: str) -> str:
    text = _one(node, "StorageClass")
    if text not in TRANSITION_CLASSES:
        raise _bad(f"The StorageClass of {what} must be one of {', '.join(TRANSITION_CLASSES)}.",
                   "StorageClass", text or "")
    return text


def _access_time(node, out: dict, tracking: bool) -> None:
    """IsAccessTime / ReturnToStdWhenVisit / AllowSmallFile (0014-00000052). Rules on the last
    access time need the bucket's access tracking (PutBucketAccessMonitor): refused without it."""
    atime, back = _bool(node, "IsAccessTime"), _bool(node, "ReturnToStdWhenVisit")
    small = _bool(node, "AllowSmallFile")
    if (back is not None or small is not None) and not atime:
        raise _bad("ReturnToStdWhenVisit and AllowSmallFile are only allowed with IsAccessTime true.",
                   "ReturnToStdWhenVisit" if back is not None else "AllowSmallFile")
    if atime and not tracking:
        raise _bad("Lifecycle rules based on the last access time need access tracking, which this "
                   "bucket does not have.", "IsAccessTime", "true")
    if atime is not None:
        out["is_access_time"] = atime
    if back is not None:
        out["return_to_std"] = back
    if small is not None:
        out["allow_small_file"] = small


def _tag(node) -> tuple[str, str]:
    """A Tag's Key and Value. OSS refuses characters outside the object tag set (oss2's
    test_lifecycle_object_tagging_exceptions_*: `%&`, `)%` refused) but not long keys or values."""
    key, value = _one(node, "Key"), _one(node, "Value") or ""
    if not key:
        raise _bad("A lifecycle Tag needs a Key.", "Tag")
    for name, text in (("Key", key), ("Value", value)):
        if not common.tag_text_ok(text):
            raise _bad(f"The lifecycle Tag {name} has a character that is not allowed.", f"Tag.{name}", text)
    return key, value


def _filter(node) -> Optional[dict]:
    out: dict = {}
    gt, lt = _size(node, "ObjectSizeGreaterThan"), _size(node, "ObjectSizeLessThan")
    if gt is not None:
        out["gt"] = gt
    if lt is not None:
        out["lt"] = lt
    if gt is not None and lt is not None and gt >= lt:
        raise _bad("ObjectSizeGreaterThan must be less than ObjectSizeLessThan.", "ObjectSizeGreaterThan", str(gt))
    # One Not per Filter: oss2's own tests keep a second one commented out "after multiple not nodes
    # are supported". Its Prefix need not lie under the rule's (OSS's "Lifecycle configuration
    # elements" example: rule logs/, Not logs1/).
    nots = []
    n = _single(node, "Not")
    if n is not None:
        not_prefix = _one(n, "Prefix")
        if not_prefix is None:
            raise errors.MalformedXML("A Not element needs a Prefix.")
        tag = _single(n, "Tag")
        nots.append({"prefix": not_prefix, "tag": list(_tag(tag)) if tag is not None else None})
    if nots:
        out["not"] = nots
    return out or None


def _size(node, tag: str) -> Optional[int]:
    return _number(node, tag, 0, 2 ** 63 - 1)


def parse_rule(node, tracking: bool = False) -> dict:
    rule: dict = {}
    rid = _one(node, "ID")
    if rid is not None and len(rid.encode("utf-8")) > MAX_ID:
        raise _bad(f"The rule ID must be at most {MAX_ID} bytes.", "ID", rid)
    rule["id"] = rid or str(uuid.uuid4())  # OSS names a rule sent without an ID
    rule["prefix"] = _one(node, "Prefix") or ""   # several: MalformedXML (0014-00000010)
    status = _one(node, "Status")
    if status not in ("Enabled", "Disabled"):
        raise errors.MalformedXML("The rule Status must be Enabled or Disabled.")
    rule["status"] = status
    tags = [list(_tag(t)) for t in xml.children(node, "Tag")]
    if tags:
        rule["tags"] = tags
    flt = _single(node, "Filter")
    flt = _filter(flt) if flt is not None else None
    if flt:
        rule["filter"] = flt
    if not any(xml.children(node, a) for a in ACTIONS):
        raise errors.MalformedXML("A lifecycle rule needs Expiration, Transition, AbortMultipartUpload, "
                                  "NoncurrentVersionExpiration or NoncurrentVersionTransition.")
    exp = _single(node, "Expiration")
    if exp is not None:
        marker = _bool(exp, "ExpiredObjectDeleteMarker")
        days, date, on = _days(exp, "Days"), _date(exp), _date(exp, "Date")
        if sum(x is not None for x in (days, date, on)) + bool(marker) != 1:
            raise _bad("Expiration needs exactly one of Days, CreatedBeforeDate or "
                       "ExpiredObjectDeleteMarker true.", "Expiration")
        if marker and tags:
            raise _bad("ExpiredObjectDeleteMarker cannot be used with Tag.", "ExpiredObjectDeleteMarker")
        if days is not None:
            rule["expiration"] = {"days": days}
        elif date or on:
            # Date, the older form oss2 still sends: from that day on, every matching object
            # expires whatever its age ({"on": text, "from": epoch})
            rule["expiration"] = date or {"on": on["date"], "from": on["before"]}
        else:
            rule["expiration"] = {"delete_marker": True}
    transitions = []
    for t in xml.children(node, "Transition"):
        tr = _when(t, "Transition")
        tr["class"] = _storage_class(t, "Transition")
        _access_time(t, tr, tracking)
        transitions.append(tr)
    if transitions:
        rule["transitions"] = transitions
    kinds = {"days" if t.get("days") is not None else "date" for t in transitions}
    if exp is not None and not rule["expiration"].get("delete_marker"):
        kinds.add("days" if rule["expiration"].get("days") is not None else "date")
    if len(kinds) > 1:
        raise errors.LifecycleMixedTimes()
    abort = _single(node, "AbortMultipartUpload")
    if abort is not None:
        if tags:
            raise _bad("AbortMultipartUpload cannot be used with Tag.", "AbortMultipartUpload")
        rule["abort"] = _when(abort, "AbortMultipartUpload")
    ncexp = _single(node, "NoncurrentVersionExpiration")
    if ncexp is not None:
        days = _days(ncexp, "NoncurrentDays")
        if days is None:
            raise _bad("NoncurrentVersionExpiration needs NoncurrentDays.", "NoncurrentDays")
        rule["nc_expiration"] = {"days": days}
    nctr = []
    for t in xml.children(node, "NoncurrentVersionTransition"):
        days = _days(t, "NoncurrentDays")
        if days is None:
            raise _bad("NoncurrentVersionTransition needs NoncurrentDays.", "NoncurrentDays")
        tr = {"days": days, "class": _storage_class(t, "NoncurrentVersionTransition")}
        _access_time(t, tr, tracking)
        nctr.append(tr)
    if nctr:
        rule["nc_transitions"] = nctr
    return rule


def _overlap(a: dict, b: dict) -> bool:
    return a["prefix"].startswith(b["prefix"]) or b["prefix"].startswith(a["prefix"])


def _check_times(rules: list[dict]) -> None:
    """0014-00000082: on one object (overlapping prefixes), a colder class must come later than a
    warmer one, and expiry after every transition (Days-based actions; dates are absolute)."""
    for current, trans_key, exp_key in (("", "transitions", "expiration"), ("Noncurrent", "nc_transitions",
                                                                           "nc_expiration")):
        steps = []   # (days, coldness rank) of every Days transition
        expiries = []
        for r in rules:
            steps += [(t["days"], TRANSITION_CLASSES.index(t["class"])) for t in r.get(trans_key, ())
                      if t.get("days") is not None]
            if (r.get(exp_key) or {}).get("days") is not None:
                expiries.append(r[exp_key]["days"])
        for d1, c1 in steps:
            for d2, c2 in steps:
                if c1 < c2 and d1 >= d2:
                    raise _bad(f"The {current}Transition to {TRANSITION_CLASSES[c2]} must come later than "
                               f"the one to {TRANSITION_CLASSES[c1]} for overlapping rules.", "Days", str(d2))
            for d in expiries:
                if d <= d1:
                    raise _bad(f"The {current}Expiration days must be greater than the {current}Transition "
                               "days for overlapping rules.", "Days", str(d))


def validate(rules: list[dict], allow_overlap: bool) -> None:
    ids = set()
    for r in rules:
        if r["id"] in ids:
            raise _bad("Every lifecycle rule needs a unique ID.", "ID", r["id"])
        ids.add(r["id"])
    for i, a in enumerate(rules):
        _check_times([a])
        for b in rules[i + 1:]:
            if not _overlap(a, b):
                continue
            _check_times([a, b])
            if "abort" in a and "abort" in b:
                raise _bad("Two rules with AbortMultipartUpload cannot have overlapping prefixes.",
                           "Prefix", b["prefix"])
            if not allow_overlap and not a.get("tags") and not b.get("tags"):
                for action, key in (("Expiration", "expiration"), ("Transition", "transitions"),
                                    ("NoncurrentVersionExpiration", "nc_expiration"),
                                    ("NoncurrentVersionTransition", "nc_transitions")):
                    if key in a and key in b:
                        # OSS's message, exactly (oss2's test_lifecycle_overlap_exception compares it)
                        raise _bad(f"Overlap for same action type {action}", "Prefix", b["prefix"])


async def put_bucket_lifecycle(req: Request) -> Response:
    rec = await common.require_bucket(req)
    root = xml.parse(await req.read_xml_body(), "LifecycleConfiguration")
    nodes = xml.children(root, "Rule")
    if not nodes:
        raise errors.MalformedXML("A LifecycleConfiguration needs at least one Rule.")
    if len(nodes) > MAX_RULES:
        raise _bad("One bucket not allow exceed one thousand items of LifecycleRules.", "Rule",
                   str(len(nodes)))
    rules = [parse_rule(n, bool(rec.config.get("access_monitor"))) for n in nodes]
    allow = (req.header("x-oss-allow-same-action-overlap") or "").strip().lower() == "true"
    validate(rules, allow)
    await set_config(req, rec, "lifecycle", rules)
    return Response(200, {}, b"")


def _when_xml(when: dict, days_tag: str = "Days") -> list:
    if when.get("days") is not None:
        return [(days_tag, when["days"])]
    return [("CreatedBeforeDate", when["date"])]


def _access_xml(t: dict) -> list:
    return [("IsAccessTime", t.get("is_access_time")), ("ReturnToStdWhenVisit", t.get("return_to_std")),
            ("AllowSmallFile", t.get("allow_small_file"))]


def _rule_xml(r: dict) -> list:
    out: list = [("ID", r["id"]), ("Prefix", r["prefix"]), ("Status", r["status"])]
    flt = r.get("filter")
    if flt:
        nots = [("Not", [("Prefix", n["prefix"])] + ([("Tag", [("Key", n["tag"][0]), ("Value", n["tag"][1])])]
                                                    if n.get("tag") else []))
                for n in flt.get("not", ())]
        out.append(("Filter", [("ObjectSizeGreaterThan", flt.get("gt")), ("ObjectSizeLessThan", flt.get("lt"))]
                    + nots))
    exp = r.get("expiration")
    if exp:
        out.append(("Expiration", [("ExpiredObjectDeleteMarker", True)] if exp.get("delete_marker")
                    else [("Date", exp["on"])] if exp.get("on") else _when_xml(exp)))
    for t in r.get("transitions", ()):
        out.append(("Transition", _when_xml(t) + [("StorageClass", t["class"])] + _access_xml(t)))
    if r.get("abort"):
        out.append(("AbortMultipartUpload", _when_xml(r["abort"])))
    for k, v in r.get("tags", ()):
        out.append(("Tag", [("Key", k), ("Value", v)]))
    if r.get("nc_expiration"):
        out.append(("NoncurrentVersionExpiration", [("NoncurrentDays", r["nc_expiration"]["days"])]))
    for t in r.get("nc_transitions", ()):
        out.append(("NoncurrentVersionTransition", [("NoncurrentDays", t["days"]), ("StorageClass", t["class"])]
                    + _access_xml(t)))
    return out


async def get_bucket_lifecycle(req: Request) -> Response:
    rec = await common.require_bucket(req)
    rules = rec.config.get("lifecycle")
    if not rules:
        raise errors.NoSuchLifecycle(BucketName=req.bucket)
    return Response.xml(xml.document("LifecycleConfiguration", [("Rule", _rule_xml(r)) for r in rules]))


async def delete_bucket_lifecycle(req: Request) -> Response:
    await set_config(req, await common.require_bucket(req), "lifecycle", None)
    return Response(204, {}, b"")
