"""The web console in a real browser (issue 15): Debian's chromium driven by Playwright, against a
real `ossbox server`. Sign in, create a bucket, upload, append twice (the second at a wrong
position: the 409 path shows the true next position and "retry at N" works), the live tail shows an
append made by another client (oss2) within 2 s, download and compare bytes, delete; the admin view
makes a read-only RAM user, who then sees writes refused; KMS keys; CORS and lifecycle rules edited
and read back with oss2; presigned links; versions paged.

Needs `playwright` (the Python package; its own browser download is never used) and a chromium
binary: /usr/bin/chromium (Debian's, installed by .ci/run) or OSSBOX_CHROMIUM. Without them the
tests skip and say which is missing. OSSBOX_SCREENSHOTS=1 also writes the README's screenshots
(docs/console/*.png, 1280x800)."""
from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid

import oss2
import pytest

from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOTS = os.path.join(ROOT, "docs", "console") if os.environ.get("OSSBOX_SCREENSHOTS") == "1" else None
CHROMIUM = os.environ.get("OSSBOX_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 800}
TIMEOUT_MS = 15_000


def _unavailable() -> str:
    import importlib.util
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no chromium at {CHROMIUM} (apt-get install chromium, or set OSSBOX_CHROMIUM)"
    return ""


pytestmark = pytest.mark.skipif(bool(_unavailable()), reason=_unavailable() or "n/a")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    proc = ServerProcess(str(tmp_path_factory.mktemp("console-data"))).start()
    yield proc
    assert proc.stop() == 0, "".join(proc.output)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser, srv):
    ctx = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    ctx.set_default_timeout(TIMEOUT_MS)
    pg = ctx.new_page()
    errors = []
    pg.on("pageerror", lambda exc: errors.append(f"{exc} {exc.stack}"))
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" and "the server responded" not in msg.text else None)
    pg.on("dialog", lambda d: d.accept())   # the console's confirm()s
    yield pg
    ctx.close()
    # refusals the test provokes show as failed requests in the console log; script errors may not
    assert not [e for e in errors if "Failed to load resource" not in e], errors


def shot(pg, name: str, at: str = "") -> None:
    """A screenshot of the viewport, scrolled to the top or to the element `at` (a selector)."""
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        if at:
            pg.locator(at).evaluate("el => el.scrollIntoView({block: 'start'})")
        else:
            pg.evaluate("() => window.scrollTo(0, 0)")
        pg.screenshot(path=os.path.join(SHOTS, f"{name}.png"))


def status(pg) -> str:
    return pg.locator("#status").inner_text()


def wait_status(pg, pattern: str) -> str:
    pg.wait_for_function("re => new RegExp(re).test(document.getElementById('status').textContent)", arg=pattern)
    return status(pg)


def sign_in(pg, endpoint, ak=ACCESS_KEY_ID, sk=ACCESS_KEY_SECRET, screenshot=False, keyboard=False):
    pg.goto(endpoint + "/-/console/")
    if keyboard:   # the form has the focus; Tab goes to the secret, Enter signs in
        pg.get_by_label("AccessKeyId", exact=True).wait_for()
        pg.keyboard.type(ak)
        pg.keyboard.press("Tab")
        pg.keyboard.type(sk)
        assert pg.get_by_label("AccessKeySecret", exact=True).input_value() == sk
    else:
        pg.get_by_label("AccessKeyId", exact=True).fill(ak)
        pg.get_by_label("AccessKeySecret", exact=True).fill(sk)
    if screenshot:
        shot(pg, "signin")
    if keyboard:
        pg.keyboard.press("Enter")
    else:
        pg.get_by_role("button", name="Sign in").click()
    pg.wait_for_selector("h1:text-is('Buckets')")


def fact(pg, name: str) -> str:
    return pg.locator(f"#facts dd[data-fact='{name}']").inner_text()



def _new_bucket(srv, prefix: str) -> oss2.Bucket:
    """A fresh bucket, made through oss2 (the test's other client), named prefix + 8 hex digits."""
    ob = oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), srv.endpoint, prefix + uuid.uuid4().hex[:8])
    ob.create_bucket()
    return ob

def test_console_end_to_end(page, srv, tmp_path):
    import requests

    pg = page
    sign_in(pg, srv.endpoint, screenshot=True, keyboard=True)
    # the keys live in this tab's sessionStorage, not in a cookie
    assert pg.context.cookies() == []
    assert ACCESS_KEY_SECRET in pg.evaluate("JSON.stringify(sessionStorage)")

    bucket = "console-" + uuid.uuid4().hex[:8]
    pg.get_by_label("Bucket name").fill(bucket)
    pg.get_by_role("button", name="Create bucket").click()
    wait_status(pg, f"Bucket {bucket} created")
    pg.get_by_role("link", name=bucket).wait_for()
    shot(pg, "buckets")

    ob = oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), srv.endpoint, bucket)
    assert ob.get_bucket_info().name == bucket

    # upload a file (binary, all byte values) into the bucket
    pg.get_by_role("link", name=bucket).click()
    pg.wait_for_selector(f"h1:text-is('{bucket}')")
    data = bytes(range(256)) * 397 + b"end"
    src = tmp_path / "photo.bin"
    src.write_bytes(data)
    pg.locator("#upload-form input[type=file]").set_input_files(str(src))
    pg.locator("#upload-form button[type=submit]").click()
    wait_status(pg, "Uploaded photo.bin")
    assert ob.get_object("photo.bin").read() == data

    # a new appendable object, then an append at its next position
    pg.get_by_label("Key").fill("logs/app.log")
    pg.get_by_label("First bytes (text)").fill("first line\n")
    pg.get_by_role("button", name="Create appendable object").click()
    pg.wait_for_selector("h1.key:text-is('logs/app.log')")
    assert fact(pg, "Type") == "Appendable" and fact(pg, "Next append position") == "11"
    pg.locator("#tail").filter(has_text="first line").wait_for()
    assert pg.locator("#append-position").input_value() == "11"
    pg.locator("#append-text").fill("second line\n")
    pg.locator("#append-button").click()
    wait_status(pg, "Appended 12 bytes at 11")
    assert fact(pg, "Next append position") == "23"

    # the second append at a wrong position: 409, the true next position, retry there
    pg.locator("#append-position").fill("5")
    pg.locator("#append-text").fill("late line\n")
    pg.locator("#append-button").click()
    pg.locator("#conflict").wait_for(state="visible")
    assert pg.locator("#true-next").inner_text() == "23"
    assert "PositionNotEqualToLength" in status(pg) and "23" in status(pg)
    assert ob.get_object("logs/app.log").read() == b"first line\nsecond line\n"   # nothing written
    pg.get_by_role("button", name="Retry at 23").click()
    wait_status(pg, "Appended 10 bytes at 23")
    assert ob.get_object("logs/app.log").read() == b"first line\nsecond line\nlate line\n"

    # another client appends: the live tail shows it within 2 s (the bound)
    pg.locator("#tail").filter(has_text="late line").wait_for()
    started = time.monotonic()
    ob.append_object("logs/app.log", 33, b"from oss2\n")
    pg.locator("#tail").filter(has_text="from oss2").wait_for(timeout=5000)
    seen_after = time.monotonic() - started
    assert seen_after <= 2.0, f"the live tail showed the append after {seen_after:.2f} s"
    pg.wait_for_function("() => document.querySelector(\"#facts dd[data-fact='Length']\").textContent.startsWith('43 ')")
    assert fact(pg, "CRC-64") == ob.head_object("logs/app.log").headers["x-oss-hash-crc64ecma"]
    pushed = ob.head_object("logs/app.log").headers.get("x-ossbox-watch") == "1"
    assert pg.locator("#watch-mode").inner_text() == ("live: server push" if pushed else "live: HEAD polling")
    print(f"live tail: another client's append shown after {seen_after * 1000:.0f} ms "
          f"({'server push' if pushed else 'HEAD polling'})")
    shot(pg, "appendable-live")

    # seal: the object is final; the tail says so, an append is refused
    pg.locator("#seal").click()
    wait_status(pg, "sealed at 43 bytes")
    assert "x-oss-sealed-time" in ob.head_object("logs/app.log").headers
    assert fact(pg, "Sealed") == "yes"
    pg.locator("#tail-state").filter(has_text="sealed").wait_for()
    pg.locator("#append-text").fill("too late\n")
    pg.locator("#append-button").click()
    wait_status(pg, "Append failed")

    # download the uploaded file from the object list and compare the bytes
    pg.goto(f"{srv.endpoint}/-/console/#/b/{bucket}")
    pg.get_by_role("link", name="photo.bin").wait_for()
    pg.get_by_role("link", name="logs/").wait_for()
    shot(pg, "objects")
    with pg.expect_download() as dl:
        pg.get_by_role("button", name="Download photo.bin").click()
    assert open(dl.value.path(), "rb").read() == data
    assert dl.value.suggested_filename == "photo.bin" and "response-content-disposition=attachment" in dl.value.url
    # an HTML object is downloaded, never rendered at the console's origin (its script would run
    # beside the keys): a presigned URL whose answer says Content-Disposition: attachment
    page_html = b"<html><script>document.title = 'ran'</script>hello</html>"
    ob.put_object("r\u00e9sum\u00e9.html", page_html, headers={"Content-Type": "text/html"})
    pg.reload()
    with pg.expect_download() as dl:
        pg.get_by_role("button", name="Download r\u00e9sum\u00e9.html").click()
    assert open(dl.value.path(), "rb").read() == page_html and dl.value.suggested_filename == "r\u00e9sum\u00e9.html"
    assert pg.url.startswith(f"{srv.endpoint}/-/console/") and pg.title() != "ran"
    assert requests.get(dl.value.url, timeout=30).headers["content-disposition"].startswith('attachment; filename="r_sum_.html"')
    wait_status(pg, "Downloading r\u00e9sum\u00e9.html")

    # a narrow window: the page does not scroll sideways
    pg.set_viewport_size({"width": 420, "height": 800})
    assert pg.evaluate("document.documentElement.scrollWidth") <= 420
    assert pg.get_by_role("button", name="Delete photo.bin").is_visible()
    pg.set_viewport_size(VIEWPORT)

    # delete: the uploaded file by its checkbox, then the appendable one from its page
    pg.get_by_label("Select photo.bin").check()
    pg.locator("#delete-selected").click()
    wait_status(pg, "Deleted 1 object")
    assert not ob.object_exists("photo.bin")
    pg.get_by_role("link", name="logs/").click()
    pg.get_by_role("link", name="app.log").click()
    pg.locator("#delete-object").click()
    wait_status(pg, "Deleted logs/app.log")
    assert not ob.object_exists("logs/app.log")

    # sign out forgets the keys
    pg.get_by_role("button", name="Sign out").click()
    pg.wait_for_selector("h1:text-is('Sign in')")
    assert pg.evaluate("sessionStorage.length") == 0


def test_admin_makes_a_read_only_user_who_sees_writes_refused(page, srv):
    pg = page
    ob = _new_bucket(srv, "console-ro-")
    bucket = ob.bucket_name
    ob.put_object("readme.txt", b"read me\n")

    sign_in(pg, srv.endpoint)
    pg.get_by_role("link", name="Admin").click()
    user = "reader-" + uuid.uuid4().hex[:6]
    pg.get_by_label("New user name").fill(user)
    pg.get_by_role("button", name="Create user").click()
    pg.wait_for_selector(f"h2:text-is('User {user}')")
    pg.get_by_role("button", name="Create access key").click()
    key_id = pg.locator("#new-key-id").inner_text()
    secret = pg.locator("#new-key-secret").inner_text()
    assert key_id.startswith("LTAI") and len(secret) == 30
    pg.locator("dialog.modal").get_by_role("button", name="Close").click()

    # a policy the server refuses: its validation error is shown
    pg.get_by_label("Policy name").fill("read-only")
    pg.get_by_label("Policy document (JSON)").fill('{"Version": "1", "Statement": [{"Effect": "Allow"}]}')
    pg.get_by_role("button", name="Save policy").click()
    pg.locator("#policy-error").wait_for(state="visible")
    assert re.search(r"Malformed|Invalid|policy", pg.locator("#policy-error").inner_text(), re.I)
    read_only = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": ["oss:GetObject", "oss:ListObjects"],
                                                "Resource": [f"acs:oss:*:*:{bucket}", f"acs:oss:*:*:{bucket}/*"]}]}
    pg.get_by_label("Policy document (JSON)").fill(json.dumps(read_only, indent=2))
    pg.get_by_role("button", name="Save policy").click()
    wait_status(pg, f"Policy read-only of {user} saved")
    pg.locator("#user-detail td:text-is('read-only')").wait_for()
    shot(pg, "admin")
    # temporary credentials for that user (STS AssumeRole)
    pg.get_by_label("User", exact=True).fill(user)
    pg.get_by_role("button", name="Get temporary credentials").click()
    wait_status(pg, f"Temporary credentials for {user}")
    sts = {k: pg.locator(f"#sts-{k}").inner_text() for k in ("AccessKeyId", "AccessKeySecret", "SecurityToken")}
    assert sts["AccessKeyId"].startswith("STS.")

    # KMS keys: create one, disable it (an upload encrypted under it is refused), enable it again
    pg.get_by_label("Description of a new key").fill("console test key")
    pg.get_by_role("button", name="Create KMS key").click()
    kms_id = re.search(r"KMS key (\S+) created", wait_status(pg, "KMS key .* created")).group(1)
    row = pg.locator("#kms tr", has_text=kms_id)
    assert "console test key" in row.inner_text() and "Enabled" in row.inner_text()
    sse = {"x-oss-server-side-encryption": "KMS", "x-oss-server-side-encryption-key-id": kms_id}
    pg.get_by_role("button", name=f"Disable KMS key {kms_id}").click()
    wait_status(pg, f"KMS key {kms_id} disabled")
    row.filter(has_text="Disabled").wait_for()
    # the table was redrawn; the focus is on the same key's button, now Enable
    assert pg.evaluate("document.activeElement.getAttribute('aria-label')") == f"Enable KMS key {kms_id}"
    with pytest.raises(oss2.exceptions.ServerError) as refused:
        ob.put_object("kms.txt", b"x", headers=sse)
    assert refused.value.code == "KmsKeyDisabled"
    pg.keyboard.press("Enter")
    wait_status(pg, f"KMS key {kms_id} enabled")
    row.filter(has_text="Enabled").wait_for()
    ob.put_object("kms.txt", b"x", headers=sse)
    assert ob.head_object("kms.txt").headers["x-oss-server-side-encryption-key-id"] == kms_id

    # the dashboard reads the server's Prometheus figures (no credentials)
    pg.get_by_role("link", name="Dashboard").click()
    pg.locator(".tile h2:text-is('Appends/s')").wait_for()
    pg.wait_for_function("() => document.querySelectorAll('.spark polyline[points*=\" \"]').length > 0")
    if SHOTS:   # a screenshot with something going on: appends for a few samples
        import threading
        stop = threading.Event()

        def appender():
            position = 0
            while not stop.is_set():
                position = ob.append_object("busy.log", position, b"tick %d\n" % position).next_position
        worker = threading.Thread(target=appender)
        worker.start()
        try:
            pg.wait_for_function("() => document.querySelector('.spark polyline').getAttribute('points').split(' ').length >= 5",
                                 timeout=30_000)
        finally:
            stop.set()
            worker.join()
    shot(pg, "dashboard")

    # the RAM user: may list and read, every write is refused and the refusal is shown
    pg.get_by_role("button", name="Sign out").click()
    sign_in(pg, srv.endpoint, key_id, secret)
    pg.get_by_label("Open a bucket by name").fill(bucket)
    pg.get_by_role("button", name="Open").click()
    pg.get_by_role("link", name="readme.txt").wait_for()
    pg.get_by_label("Key").fill("new.log")
    pg.get_by_label("First bytes (text)").fill("x")
    pg.get_by_role("button", name="Create appendable object").click()
    assert "AccessDenied" in wait_status(pg, "AccessDenied")
    pg.get_by_role("button", name="Delete readme.txt").click()
    assert "AccessDenied" in wait_status(pg, "Deleting readme.txt failed.*AccessDenied")
    assert ob.get_object("readme.txt").read() == b"read me\n"
    assert not ob.object_exists("new.log")
    # the admin API refuses a RAM user too
    pg.get_by_role("link", name="Admin").click()
    pg.locator("#users .error").filter(has_text="AccessDenied").wait_for()

    # signed in with the STS credentials and their token: the same user's rights
    pg.get_by_role("button", name="Sign out").click()
    pg.goto(srv.endpoint + "/-/console/")
    pg.get_by_label("AccessKeyId", exact=True).fill(sts["AccessKeyId"])
    pg.get_by_label("AccessKeySecret", exact=True).fill(sts["AccessKeySecret"])
    pg.get_by_label("STS security token (optional)").fill(sts["SecurityToken"])
    pg.get_by_role("button", name="Sign in").click()
    pg.wait_for_selector("h1:text-is('Buckets')")
    assert "(STS)" in pg.locator("#identity").inner_text()
    pg.goto(f"{srv.endpoint}/-/console/#/b/{bucket}")
    pg.get_by_role("link", name="readme.txt").wait_for()
    pg.get_by_role("button", name="Delete readme.txt").click()
    wait_status(pg, "Deleting readme.txt failed.*AccessDenied")


def test_settings_presigned_link_tags_and_versions(page, srv):
    """The other views load without a script error and do what they show: bucket settings (here
    versioning), a presigned GET link that works, tags saved, versions listed and an old one restored."""
    import requests

    pg = page
    ob = _new_bucket(srv, "console-set-")
    bucket = ob.bucket_name
    sign_in(pg, srv.endpoint)
    pg.goto(f"{srv.endpoint}/-/console/#/settings/{bucket}")
    pg.wait_for_selector(f"h1:text-is('Settings of {bucket}')")
    pg.get_by_label("Versioning status").select_option("Enabled")
    pg.get_by_role("button", name="Save versioning").click()
    wait_status(pg, "Versioning Enabled")
    assert ob.get_bucket_versioning().status == "Enabled"

    # CORS rules: a form of rules, saved and read back by oss2; the server's refusal is shown
    pg.get_by_role("button", name="Add CORS rule").click()
    rule = pg.get_by_role("group", name="CORS rule 1")
    assert pg.evaluate("document.activeElement.closest('fieldset').querySelector('legend').textContent") == "CORS rule 1"
    rule.get_by_label("Allowed origins, one a line").fill("https://app.example.com\nhttps://*.example.org")
    rule.get_by_label("PUT").check()
    rule.get_by_label("Allowed headers, one a line").fill("*")
    rule.get_by_label("Expose headers, one a line").fill("x-oss-next-append-position")
    rule.get_by_label("Max age (seconds)").fill("600")
    pg.get_by_role("button", name="Add CORS rule").click()
    second = pg.get_by_role("group", name="CORS rule 2")
    second.get_by_label("Allowed origins, one a line").fill("*://*.bad*")
    pg.get_by_role("button", name="Save CORS rules").click()
    pg.locator("#cors-error").wait_for(state="visible")
    refusal = pg.locator("#cors-error").inner_text()
    assert "InvalidArgument (HTTP 400)" in refusal and "EC " in refusal and "AllowedOrigin" in refusal, refusal
    pg.get_by_role("button", name="Remove CORS rule 2").click()
    pg.get_by_role("button", name="Save CORS rules").click()
    wait_status(pg, "CORS rules saved \\(1\\)")
    (got,) = ob.get_bucket_cors().rules
    assert (got.allowed_origins, sorted(got.allowed_methods), got.allowed_headers, got.expose_headers, got.max_age_seconds) == (
        ["https://app.example.com", "https://*.example.org"], ["GET", "PUT"], ["*"], ["x-oss-next-append-position"], 600)

    # lifecycle rules: expiry, a transition, aborting multipart uploads; a conflict the server refuses
    pg.get_by_role("button", name="Add lifecycle rule").click()
    life = pg.get_by_role("group", name="Lifecycle rule 1")
    life.get_by_label("Rule ID").fill("logs-rule")
    life.get_by_label("Prefix").fill("logs/")
    life.get_by_role("group", name="Expiration").get_by_label("Days").fill("20")
    pg.get_by_role("button", name="Add a transition to rule 1").click()
    trans = life.get_by_role("group", name="Transition 1")
    trans.get_by_label("To storage class").select_option("Archive")
    trans.get_by_label("Days").fill("30")
    abort = life.get_by_role("group", name="Abort incomplete multipart uploads")
    abort.get_by_label("When").select_option("Days")
    abort.get_by_label("Days").fill("7")
    pg.get_by_role("button", name="Save lifecycle rules").click()
    pg.locator("#lifecycle-error").wait_for(state="visible")   # expiry (20 days) before the transition (30)
    refusal = pg.locator("#lifecycle-error").inner_text()
    assert "InvalidArgument (HTTP 400)" in refusal and "EC " in refusal and "Expiration" in refusal, refusal
    life.get_by_role("group", name="Expiration").get_by_label("Days").fill("365")
    pg.get_by_role("button", name="Save lifecycle rules").click()
    wait_status(pg, "Lifecycle rules saved \\(1\\)")
    (lr,) = ob.get_bucket_lifecycle().rules
    assert (lr.id, lr.prefix, lr.status, lr.expiration.days, lr.abort_multipart_upload.days) == ("logs-rule", "logs/", "Enabled", 365, 7)
    assert [(t.days, t.storage_class) for t in lr.storage_transitions] == [(30, "Archive")]
    shot(pg, "bucket-rules", at="#life-h")
    # a rule with an element the form does not show (set by oss2): the console keeps it when saving
    ob.put_bucket_lifecycle(oss2.models.BucketLifecycle([oss2.models.LifecycleRule(
        "keep", "tmp/", status="Enabled", expiration=oss2.models.LifecycleExpiration(days=5),
        noncurrent_version_expiration=oss2.models.NoncurrentVersionExpiration(10))]))
    pg.reload()
    pg.wait_for_selector(f"h1:text-is('Settings of {bucket}')")
    assert pg.get_by_role("group", name="CORS rule 1").get_by_label("Allowed origins, one a line").input_value() == \
        "https://app.example.com\nhttps://*.example.org"
    life = pg.get_by_role("group", name="Lifecycle rule 1")
    assert life.get_by_label("Rule ID").input_value() == "keep"
    assert "NoncurrentVersionExpiration" in life.inner_text()
    life.get_by_label("Status").select_option("Disabled")
    expiry = life.get_by_role("group", name="Expiration")
    assert expiry.get_by_label("Date").is_hidden()
    expiry.get_by_label("When").select_option("CreatedBeforeDate")
    assert expiry.get_by_label("Days").is_hidden()
    expiry.get_by_label("Date").fill("2030-01-01")
    pg.get_by_role("button", name="Save lifecycle rules").click()
    wait_status(pg, "Lifecycle rules saved")
    (lr,) = ob.get_bucket_lifecycle().rules
    assert (lr.id, lr.status, lr.expiration.days, str(lr.expiration.created_before_date),
            lr.noncurrent_version_expiration.noncurrent_days) == ("keep", "Disabled", None, "2030-01-01", 10)
    pg.set_viewport_size({"width": 420, "height": 800})   # the rule forms fit a narrow window
    assert pg.evaluate("document.documentElement.scrollWidth") <= 420
    pg.set_viewport_size(VIEWPORT)

    first_version = ob.put_object("doc.txt", b"version one\n").versionid
    ob.put_object("doc.txt", b"version two\n")
    pg.goto(f"{srv.endpoint}/-/console/#/o/{bucket}/doc.txt")
    pg.wait_for_selector("h1.key:text-is('doc.txt')")
    pg.get_by_role("button", name="Presigned link").click()
    pg.get_by_role("button", name="Create link").click()
    pg.wait_for_function("() => document.getElementById('presigned-url').value.startsWith('http')")
    url = pg.locator("#presigned-url").input_value()
    assert requests.get(url, timeout=30).content == b"version two\n"
    assert "x-oss-signature" in url and ACCESS_KEY_SECRET not in url
    # a presigned PUT: another client uploads with it, no keys of its own
    pg.get_by_label("Method").select_option("PUT")
    pg.get_by_role("button", name="Create link").click()
    pg.wait_for_function("u => document.getElementById('presigned-url').value !== u", arg=url)
    put_url = pg.locator("#presigned-url").input_value()
    assert requests.put(put_url, data=b"version three\n", timeout=30).status_code == 200
    assert ob.get_object("doc.txt").read() == b"version three\n"
    assert requests.put(put_url.replace("x-oss-signature=", "x-oss-signature=0"), data=b"x", timeout=30).status_code == 403
    pg.locator("dialog.modal").get_by_role("button", name="Close").click()

    pg.get_by_label("Tags, one key=value a line").fill("team=storage\nstage=test")
    pg.get_by_role("button", name="Save tags").click()
    wait_status(pg, "Tags saved")
    assert ob.get_object_tagging("doc.txt").tag_set.tagging_rule == {"team": "storage", "stage": "test"}

    pg.get_by_role("button", name="Show versions").click()
    pg.get_by_role("button", name="Restore this version").first.wait_for()   # the two older versions
    pg.locator("#versions tbody tr", has_text=first_version).get_by_role("button", name="Restore this version").click()
    wait_status(pg, "copied over the current one")
    assert ob.get_object("doc.txt").read() == b"version one\n"

    # versions page by 100 (key-marker, version-id-marker); a key that only shares the prefix is not listed
    first = ob.put_object("paged.txt", b"v0").versionid
    for i in range(1, 101):
        ob.put_object("paged.txt", b"v%d" % i)
    ob.put_object("paged.txt.other", b"not this key")
    pg.goto(f"{srv.endpoint}/-/console/#/o/{bucket}/paged.txt")
    pg.get_by_role("button", name="Show versions").click()
    rows = pg.locator("#versions tbody tr")
    pg.wait_for_function("() => document.querySelectorAll('#versions tbody tr').length === 100")
    assert pg.locator("#versions-where").inner_text() == "Versions 1–100, more older ones"
    assert pg.get_by_role("button", name="Newer versions").is_disabled()
    pg.get_by_role("button", name="Older versions").click()
    pg.wait_for_function("() => document.querySelectorAll('#versions tbody tr').length === 1")
    assert first in rows.first.inner_text() and pg.locator("#versions-where").inner_text() == "Versions 101–101"
    assert pg.get_by_role("button", name="Older versions").is_disabled()
    assert pg.evaluate("document.activeElement.textContent") == "Newer versions"
    pg.keyboard.press("Enter")
    pg.wait_for_function("() => document.querySelectorAll('#versions tbody tr').length === 100")


def test_a_big_upload_goes_in_parts_with_progress(page, srv, tmp_path):
    pg = page
    ob = _new_bucket(srv, "console-big-")
    bucket = ob.bucket_name
    big = tmp_path / "big.bin"
    data = os.urandom(17 * 1024 * 1024 + 5)   # above the 16 MiB multipart threshold
    big.write_bytes(data)
    sign_in(pg, srv.endpoint)
    pg.goto(f"{srv.endpoint}/-/console/#/b/{bucket}")
    pg.locator("#upload-form input[type=file]").set_input_files(str(big))
    # the progress bar's steps, as the page sees them
    pg.evaluate("""() => { window.steps = []; const p = document.getElementById('upload-progress');
        new MutationObserver(() => window.steps.push(p.value)).observe(p, {attributes: true}); }""")
    pg.locator("#upload-form button[type=submit]").click()
    wait_status(pg, "Uploaded big.bin")
    assert ob.get_object("big.bin").read() == data
    assert ob.head_object("big.bin").headers["x-oss-object-type"] == "Multipart"
    assert pg.evaluate("() => new Set(window.steps).size") > 3


def test_pages_prefix_search_and_a_binary_tail_in_hex(page, srv):
    pg = page
    ob = _new_bucket(srv, "console-pages-")
    bucket = ob.bucket_name
    for i in range(103):
        ob.put_object(f"item-{i:03d}", b"x")
    ob.append_object("bin/data", 0, bytes(range(40)))
    sign_in(pg, srv.endpoint)
    pg.goto(f"{srv.endpoint}/-/console/#/b/{bucket}")
    pg.get_by_role("link", name="item-098").wait_for()   # page 1: bin/ and 99 keys (100 entries)
    assert pg.get_by_role("link", name="item-099").count() == 0
    pg.get_by_role("button", name="Next page").click()
    pg.get_by_role("link", name="item-102").wait_for()
    assert pg.get_by_role("link", name="item-000").count() == 0
    pg.get_by_role("button", name="Previous page").click()
    pg.get_by_role("link", name="item-000").wait_for()

    pg.get_by_label("Prefix", exact=True).fill("item-05")
    pg.get_by_role("button", name="Search").click()
    # (item-059 is on the first page too: wait for the new listing itself)
    pg.wait_for_function("() => document.querySelectorAll('#object-list tbody tr').length === 10")
    assert pg.locator("#object-list tbody tr a").all_inner_texts() == [f"item-05{i}" for i in range(10)]

    # bytes that are not text: a hex dump with offsets, growing as another client appends
    pg.goto(f"{srv.endpoint}/-/console/#/o/{bucket}/bin%2Fdata")
    pg.locator("#tail").filter(has_text="00000000  00 01 02 03").wait_for()
    ob.append_object("bin/data", 40, b"\xff\xfe")
    pg.locator("#tail").filter(has_text="00000028  ff fe").wait_for()


def test_rename_and_restore_of_an_archive_object(page, srv):
    pg = page
    ob = _new_bucket(srv, "console-mv-")
    bucket = ob.bucket_name
    ob.put_object("drafts/a.txt", b"moving\n")
    ob.put_object("cold.bin", b"frozen", headers={"x-oss-storage-class": "Archive"})
    sign_in(pg, srv.endpoint)
    pg.goto(f"{srv.endpoint}/-/console/#/o/{bucket}/drafts%2Fa.txt")
    pg.get_by_label("Copy or rename to key").fill("final/a.txt")
    pg.get_by_role("button", name="Rename").click()
    pg.wait_for_selector("h1.key:text-is('final/a.txt')")
    assert "Renamed to final/a.txt" in status(pg)
    assert ob.get_object("final/a.txt").read() == b"moving\n" and not ob.object_exists("drafts/a.txt")

    pg.goto(f"{srv.endpoint}/-/console/#/o/{bucket}/cold.bin")
    pg.wait_for_selector("h1.key:text-is('cold.bin')")
    assert fact(pg, "Storage class") == "Archive"
    pg.get_by_role("button", name="Restore (1 day)").click()
    wait_status(pg, "Restore started")
    assert 'ongoing-request="true"' in ob.head_object("cold.bin").headers["x-oss-restore"]
