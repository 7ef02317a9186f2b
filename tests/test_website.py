"""Static website hosting through the official SDKs against a real server: Put/Get/DeleteBucketWebsite
(OSS's XML and validation errors) and the serving behaviour (index document for directories and
an anonymous bucket root, error document with its status, redirecting and internal routing rules,
SupportSubDir Types, Mirror rules kept but not fetched). See docs/website.md."""
import oss2
import pytest
import requests
from oss2.models import BucketWebsite, Condition, ConditionInlcudeHeader, Redirect, RoutingRule

import alibabacloud_oss_v2 as v2oss
from conftest import as_user, make_v2_client, put_policy, v2_error

INDEX = b"<html>root index</html>"
SUB_INDEX = b"<html>docs index</html>"
ERROR = b"<html>not here</html>"


def put_raw(bucket, body: str):
    """PutBucketWebsite with a hand-written document (oss2 checks some fields client-side)."""
    return bucket._Bucket__do_bucket("PUT", data=body.encode("utf-8"), params={"website": ""})


def website(index="<IndexDocument><Suffix>index.html</Suffix></IndexDocument>",
            error="<ErrorDocument><Key>error.html</Key></ErrorDocument>", rules="") -> str:
    return f"<WebsiteConfiguration>{index}{error}{rules}</WebsiteConfiguration>"


def rule(num, condition, redirect) -> str:
    return (f"<RoutingRules><RoutingRule><RuleNumber>{num}</RuleNumber><Condition>{condition}</Condition>"
            f"<Redirect>{redirect}</Redirect></RoutingRule></RoutingRules>")


@pytest.fixture
def site(bucket):
    bucket.put_object("index.html", INDEX)
    bucket.put_object("docs/index.html", SUB_INDEX)
    bucket.put_object("error.html", ERROR)
    bucket.put_object("page.html", b"page")
    return bucket


def url(server, bucket, key=""):
    return f"{server.endpoint}/{bucket.bucket_name}/{key}"


# -- configuration ----------------------------------------------------------------------------------
def test_get_without_configuration_is_no_such_website(bucket):
    with pytest.raises(oss2.exceptions.NoSuchWebsite) as info:
        bucket.get_bucket_website()
    assert info.value.status == 404 and info.value.code == "NoSuchWebsiteConfiguration"


def test_put_get_delete_roundtrip_v2(server, bucket_name):
    client = make_v2_client(server.endpoint)
    cfg = v2oss.models.WebsiteConfiguration(
        index_document=v2oss.models.IndexDocument(suffix="index.html", support_sub_dir=True, type=2),
        error_document=v2oss.models.ErrorDocument(key="error.html", http_status=200),
        routing_rules=v2oss.models.RoutingRules(routing_rules=[v2oss.models.RoutingRule(
            rule_number=1,
            condition=v2oss.models.RoutingRuleCondition(
                key_prefix_equals="old/", http_error_code_returned_equals=404,
                include_headers=[v2oss.models.RoutingRuleIncludeHeader(key="x-a", starts_with="b")]),
            redirect=v2oss.models.RoutingRuleRedirect(
                redirect_type="External", protocol="https", host_name="example.com",
                replace_key_prefix_with="new/", http_redirect_code=301, pass_query_string=True))]))
    client.put_bucket_website(v2oss.models.PutBucketWebsiteRequest(bucket=bucket_name, website_configuration=cfg))
    got = client.get_bucket_website(v2oss.models.GetBucketWebsiteRequest(bucket=bucket_name)).website_configuration
    assert got.index_document.suffix == "index.html"
    assert got.index_document.support_sub_dir is True and got.index_document.type == 2
    assert got.error_document.key == "error.html" and got.error_document.http_status == 200
    r = got.routing_rules.routing_rules[0]
    assert r.rule_number == 1 and r.condition.key_prefix_equals == "old/"
    assert r.condition.http_error_code_returned_equals == 404
    assert r.condition.include_headers[0].key == "x-a" and r.condition.include_headers[0].starts_with == "b"
    assert (r.redirect.redirect_type, r.redirect.protocol, r.redirect.host_name) == ("External", "https", "example.com")
    assert r.redirect.replace_key_prefix_with == "new/" and r.redirect.http_redirect_code == 301
    assert r.redirect.pass_query_string is True
    client.delete_bucket_website(v2oss.models.DeleteBucketWebsiteRequest(bucket=bucket_name))
    err = v2_error(client.get_bucket_website, v2oss.models.GetBucketWebsiteRequest(bucket=bucket_name))
    assert err.status_code == 404 and err.code == "NoSuchWebsiteConfiguration"


def test_mirror_rule_is_kept_whole(bucket):
    mirror = ("<RedirectType>Mirror</RedirectType><MirrorURL>http://127.0.0.1:1/</MirrorURL>"
              "<MirrorPassQueryString>True</MirrorPassQueryString><MirrorFollowRedirect>false</MirrorFollowRedirect>"
              "<MirrorHeaders><PassAll>true</PassAll><Pass>h1</Pass><Set><Key>k</Key><Value>v</Value></Set>"
              "</MirrorHeaders><MirrorTaggings><Taggings><Key>t</Key><Value>1</Value></Taggings></MirrorTaggings>")
    # (oss2's parser needs a KeyPrefixEquals in every Condition)
    put_raw(bucket, website(rules=rule(3, "<KeyPrefixEquals>m/</KeyPrefixEquals>"
                                          "<HttpErrorCodeReturnedEquals>404</HttpErrorCodeReturnedEquals>", mirror)))
    got = bucket.get_bucket_website()
    red = got.rules[0].redirect
    assert red.redirect_type == "Mirror" and red.mirror_url == "http://127.0.0.1:1/"
    # MirrorPassQueryString takes precedence over PassQueryString for Mirror rules
    assert red.mirror_pass_query_string is True and red.pass_query_string is True
    assert red.mirror_follow_redirect is False
    assert red.mirror_headers.pass_all is True and red.mirror_headers.pass_list == ["h1"]
    assert [(s.key, s.value) for s in red.mirror_headers.set_list] == [("k", "v")]
    raw = bucket._Bucket__do_bucket("GET", params={"website": ""}).read()
    assert b"<MirrorTaggings><Taggings><Key>t</Key><Value>1</Value></Taggings></MirrorTaggings>" in raw


@pytest.mark.parametrize("body, name", [
    (website(index="<IndexDocument><Suffix>a/index.html</Suffix></IndexDocument>"), "Suffix"),
    (website(index="<IndexDocument><Suffix>i.html</Suffix><Type>3</Type></IndexDocument>"), "Type"),
    (website(error="<ErrorDocument><Key>e.html</Key><HttpStatus>500</HttpStatus></ErrorDocument>"), "HttpStatus"),
    (website(rules=rule(0, "<KeyPrefixEquals>a</KeyPrefixEquals>",
                        "<RedirectType>External</RedirectType>")), "RuleNumber"),
    (website(rules=rule(1, "<KeyPrefixEquals>a</KeyPrefixEquals>",
                        "<RedirectType>Teleport</RedirectType>")), "RedirectType"),
    (website(rules=rule(1, "<HttpErrorCodeReturnedEquals>403</HttpErrorCodeReturnedEquals>",
                        "<RedirectType>Mirror</RedirectType><MirrorURL>http://a/</MirrorURL>")),
     "HttpErrorCodeReturnedEquals"),
    (website(rules=rule(1, "<HttpErrorCodeReturnedEquals>404</HttpErrorCodeReturnedEquals>",
                        "<RedirectType>Mirror</RedirectType><MirrorURL>http://a</MirrorURL>")), "MirrorURL"),
    (website(rules=rule(1, "<HttpErrorCodeReturnedEquals>404</HttpErrorCodeReturnedEquals>",
                        "<RedirectType>Mirror</RedirectType><MirrorURL>http://a/</MirrorURL>"
                        "<HostName>b</HostName>")), "HostName"),
    (website(rules=rule(1, "<KeyPrefixEquals>a</KeyPrefixEquals>",
                        "<RedirectType>External</RedirectType><HttpRedirectCode>303</HttpRedirectCode>")),
     "HttpRedirectCode"),
    (website(rules="<RoutingRules>" + "".join(
        f"<RoutingRule><RuleNumber>{i}</RuleNumber><Condition><KeyPrefixEquals>a</KeyPrefixEquals></Condition>"
        f"<Redirect><RedirectType>External</RedirectType></Redirect></RoutingRule>" for i in range(1, 22))
        + "</RoutingRules>"), "RoutingRule"),
])
def test_invalid_configuration_is_invalid_argument(bucket, body, name):
    with pytest.raises(oss2.exceptions.ServerError) as info:
        put_raw(bucket, body)
    assert info.value.status == 400 and info.value.code == "InvalidArgument"
    assert info.value.details.get("ArgumentName") == name
    with pytest.raises(oss2.exceptions.NoSuchWebsite):
        bucket.get_bucket_website()


def test_empty_configuration_is_malformed(bucket):
    with pytest.raises(oss2.exceptions.ServerError) as info:
        put_raw(bucket, "<WebsiteConfiguration></WebsiteConfiguration>")
    assert info.value.status == 400 and info.value.code == "MalformedXML"


# -- serving ----------------------------------------------------------------------------------------
def test_directory_gets_root_index_document(site):
    site.put_bucket_website(BucketWebsite("index.html", "error.html"))
    assert site.get_object("any/dir/").read() == INDEX     # SupportSubDir off: the root's index
    assert site.get_object("page.html").read() == b"page"   # an existing object is itself
    assert site.head_object("docs/").content_length == len(INDEX)


def test_without_website_a_directory_is_no_such_key(site):
    with pytest.raises(oss2.exceptions.NoSuchKey):
        site.get_object("docs/")


def test_subdir_index_and_types(site):
    put_raw(site, website(index="<IndexDocument><Suffix>index.html</Suffix><SupportSubDir>true</SupportSubDir>"
                                "<Type>0</Type></IndexDocument>"))
    assert site.get_object("docs/").read() == SUB_INDEX
    # Type 0: "docs" is not an object but docs/index.html exists: redirect to the directory
    r = requests.get(site.sign_url("GET", "docs", 60), allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/{site.bucket_name}/docs/")
    put_raw(site, website(index="<IndexDocument><Suffix>index.html</Suffix><SupportSubDir>true</SupportSubDir>"
                                "<Type>2</Type></IndexDocument>"))
    assert site.get_object("docs").read() == SUB_INDEX      # Type 2: the directory's index directly
    put_raw(site, website(index="<IndexDocument><Suffix>index.html</Suffix><SupportSubDir>true</SupportSubDir>"
                                "<Type>1</Type></IndexDocument>"))
    with pytest.raises(oss2.exceptions.NotFound) as info:   # Type 1: 404 and the error document
        site.get_object("docs")
    assert info.value.status == 404


def test_missing_key_gets_error_document_with_its_status(server, site):
    site.put_bucket_website(BucketWebsite("index.html", "error.html"))
    r = requests.get(site.sign_url("GET", "nope.html", 60))
    assert r.status_code == 404 and r.content == ERROR
    put_raw(site, website(error="<ErrorDocument><Key>error.html</Key><HttpStatus>200</HttpStatus></ErrorDocument>"))
    assert site.get_object("nope.html").read() == ERROR


def test_missing_error_document_is_no_such_key(site):
    site.put_bucket_website(BucketWebsite("index.html", "missing-error.html"))
    with pytest.raises(oss2.exceptions.NoSuchKey):
        site.get_object("nope.html")


def test_anonymous_root_gets_index_signed_root_lists(server, site):
    site.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ)
    site.put_bucket_website(BucketWebsite("index.html", "error.html"))
    anon = requests.get(url(server, site))
    assert anon.status_code == 200 and anon.content == INDEX
    anon404 = requests.get(url(server, site, "gone"))
    assert anon404.status_code == 404 and anon404.content == ERROR
    assert "index.html" in [o.key for o in site.list_objects().object_list]


def test_anonymous_website_read_of_private_bucket_is_denied(server, site):
    site.put_bucket_website(BucketWebsite("index.html", "error.html"))
    r = requests.get(url(server, site, "docs/"))
    assert r.status_code == 403 and b"AccessDenied" in r.content


def test_external_and_alicdn_rules_redirect(site):
    cond = ConditionInlcudeHeader("x-site", "yes")
    site.put_bucket_website(BucketWebsite("index.html", "error.html", [
        RoutingRule(1, Condition(key_prefix_equals="old/", http_err_code_return_equals=404),
                    Redirect(redirect_type="External", proto="https", host_name="example.com",
                             replace_key_prefix_with="new/", http_redirect_code=301, pass_query_string=True)),
        RoutingRule(2, Condition(key_prefix_equals="cdn/", include_header_list=[cond]),
                    Redirect(redirect_type="AliCDN", host_name="cdn.example.com",
                             replace_key_with="${key}.bak", http_redirect_code=307))]))
    r = requests.get(site.sign_url("GET", "old/a b.html", 60, params={"x": "1"}), allow_redirects=False)
    assert r.status_code == 301
    assert r.headers["Location"].startswith("https://example.com/new/a%20b.html?") and "x=1" in r.headers["Location"]
    assert "Signature" not in r.headers["Location"]   # a presigned URL's credentials stay here
    site.put_object("cdn/file", b"x")
    # the second rule has no error condition: it applies before the object is looked up, but
    # only with the header
    r = requests.get(site.sign_url("GET", "cdn/file", 60, headers={"x-site": "yes"}), headers={"x-site": "yes"},
                     allow_redirects=False)
    assert r.status_code == 307 and r.headers["Location"].startswith("http://cdn.example.com/cdn/file.bak")
    assert site.get_object("cdn/file").read() == b"x"


def test_internal_rule_serves_another_key(site):
    site.put_bucket_website(BucketWebsite("index.html", "error.html", [
        RoutingRule(1, Condition(key_prefix_equals="alias/", http_err_code_return_equals=404),
                    Redirect(redirect_type="Internal", replace_key_prefix_with="docs/"))]))
    assert site.get_object("alias/index.html").read() == SUB_INDEX


def test_mirror_rule_is_not_fetched(site):
    site.put_bucket_website(BucketWebsite("index.html", "error.html", [
        RoutingRule(1, Condition(key_prefix_equals="m/", http_err_code_return_equals=404),
                    Redirect(redirect_type="Mirror", mirror_url="http://127.0.0.1:9/"))]))
    r = requests.get(site.sign_url("GET", "m/x", 60))
    assert r.status_code == 404 and r.content == ERROR


def test_subresource_requests_are_not_website_requests(site):
    site.put_bucket_website(BucketWebsite("index.html", "error.html"))
    with pytest.raises(oss2.exceptions.NoSuchKey):
        site.get_object_acl("missing")


def test_ram_actions(server, bucket, user):
    bucket.put_bucket_website(BucketWebsite("index.html", "error.html"))
    put_policy(server, user, [{"Effect": "Allow", "Action": ["oss:GetBucketWebsite"],
                               "Resource": [f"acs:oss:*:*:{bucket.bucket_name}"]}])
    other = as_user(server, user, bucket.bucket_name)
    assert other.get_bucket_website().index_file == "index.html"
    for call in (lambda: other.put_bucket_website(BucketWebsite("i.html", "e.html")), other.delete_bucket_website,
                 other.get_bucket_logging, lambda: other.get_bucket_inventory_configuration("x"),
                 other.list_bucket_inventory_configurations):
        with pytest.raises(oss2.exceptions.AccessDenied):
            call()
    put_policy(server, user, [{"Effect": "Allow", "Action": ["oss:PutBucketWebsite", "oss:DeleteBucketWebsite",
                                                             "oss:GetBucketLogging", "oss:ListBucketInventory"],
                               "Resource": [f"acs:oss:*:*:{bucket.bucket_name}"]}], name="p2")
    other.put_bucket_website(BucketWebsite("i.html", "e.html"))
    assert bucket.get_bucket_website().index_file == "i.html"
    other.delete_bucket_website()
    assert other.get_bucket_logging().target_bucket == ""
    with pytest.raises(oss2.exceptions.NoSuchInventory):
        other.list_bucket_inventory_configurations()
