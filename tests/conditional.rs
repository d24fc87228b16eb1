//! Conditional requests: If-None-Match, If-Modified-Since, If-Match,
//! If-Unmodified-Since.

use blackbox::*;

const BODY: &str = "conditional body\n";

fn start() -> (Site, Server, String, String) {
    let s = Site::new();
    s.file("f.txt", BODY).file("g.txt", "other file");
    s.dir.set_mtime("www/f.txt", utc(2022, 6, 15, 12, 30, 45));
    s.dir.set_mtime("www/g.txt", utc(2020, 1, 1, 0, 0, 0));
    let srv = s.start();
    let r = srv.get("/f.txt");
    r.assert_body(200, BODY);
    let etag = r.must_header("etag").to_string();
    let lm = r.must_header("last-modified").to_string();
    assert_eq!(lm, "Wed, 15 Jun 2022 12:30:45 GMT");
    (s, srv, etag, lm)
}

/// Send a GET with headers on `c`; a 304 must have no body, proven by the
/// next request on the same connection parsing correctly.
#[track_caller]
fn get_on(c: &mut Conn, headers: &[(&str, &str)]) -> Response {
    let r = c.request(&req("GET", "/f.txt", headers));
    if r.status == 304 {
        assert_eq!(c.pending(), 0, "304 must not carry a body");
    }
    r
}

#[test]
fn if_none_match_with_etag_is_304_without_body() {
    let (_s, srv, etag, _) = start();
    let mut c = srv.connect();
    let r = get_on(&mut c, &[("If-None-Match", &etag)]);
    r.assert_status(304);
    assert!(r.body.is_empty());
    // The connection is still in sync.
    c.request(&req("GET", "/g.txt", &[]))
        .assert_body(200, "other file");
    // A 304 should still identify the representation.
    if let Some(e) = r.header("etag") {
        assert_eq!(e, etag);
    }
}

#[test]
fn if_none_match_list() {
    let (_s, srv, etag, _) = start();
    let mut c = srv.connect();
    let list = format!("\"nope-1\", {etag}, \"nope-2\"");
    get_on(&mut c, &[("If-None-Match", &list)]).assert_status(304);
    let list = format!("\"nope-1\",{etag}");
    get_on(&mut c, &[("If-None-Match", &list)]).assert_status(304);
    get_on(&mut c, &[("If-None-Match", "\"nope-1\", \"nope-2\"")]).assert_body(200, BODY);
}

#[test]
fn if_none_match_star() {
    let (_s, srv, _, _) = start();
    let mut c = srv.connect();
    get_on(&mut c, &[("If-None-Match", "*")]).assert_status(304);
    c.request(&req("GET", "/f.txt", &[])).assert_body(200, BODY);
}

#[test]
fn if_none_match_weak_comparison() {
    let (_s, srv, etag, _) = start();
    let mut c = srv.connect();
    let weak = format!("W/{etag}");
    get_on(&mut c, &[("If-None-Match", &weak)]).assert_status(304);
    let list = format!("\"x\", W/{etag}");
    get_on(&mut c, &[("If-None-Match", &list)]).assert_status(304);
}

#[test]
fn if_none_match_mismatch_is_200() {
    let (_s, srv, _, _) = start();
    srv.get_with("/f.txt", &[("If-None-Match", "\"definitely-not\"")])
        .assert_body(200, BODY);
}

#[test]
fn if_none_match_head_is_304() {
    let (_s, srv, etag, _) = start();
    let mut c = srv.connect();
    let r = c.request(&req("HEAD", "/f.txt", &[("If-None-Match", &etag)]));
    r.assert_status(304);
    c.request(&req("GET", "/g.txt", &[]))
        .assert_body(200, "other file");
}

#[test]
fn etag_of_other_file_does_not_match() {
    let (_s, srv, etag, _) = start();
    let r = srv.get_with("/g.txt", &[("If-None-Match", &etag)]);
    r.assert_body(200, "other file");
}

#[test]
fn if_modified_since_equal_is_304() {
    let (_s, srv, _, lm) = start();
    let mut c = srv.connect();
    get_on(&mut c, &[("If-Modified-Since", &lm)]).assert_status(304);
    c.request(&req("GET", "/g.txt", &[]))
        .assert_body(200, "other file");
}

#[test]
fn if_modified_since_later_is_304() {
    let (_s, srv, _, _) = start();
    let later = http_date(utc(2023, 1, 1, 0, 0, 0));
    let mut c = srv.connect();
    get_on(&mut c, &[("If-Modified-Since", &later)]).assert_status(304);
}

#[test]
fn if_modified_since_older_is_200() {
    let (_s, srv, _, _) = start();
    let older = http_date(utc(2022, 6, 15, 12, 30, 44));
    srv.get_with("/f.txt", &[("If-Modified-Since", &older)])
        .assert_body(200, BODY);
    let much_older = "Sun, 06 Nov 1994 08:49:37 GMT";
    srv.get_with("/f.txt", &[("If-Modified-Since", much_older)])
        .assert_body(200, BODY);
}

#[test]
fn if_modified_since_invalid_date_is_ignored() {
    let (_s, srv, _, _) = start();
    srv.get_with("/f.txt", &[("If-Modified-Since", "yesterday-ish")])
        .assert_body(200, BODY);
}

#[test]
fn if_modified_since_ignored_when_if_none_match_present() {
    let (_s, srv, _, lm) = start();
    // INM does not match -> 200, even though IMS alone would give 304.
    srv.get_with(
        "/f.txt",
        &[
            ("If-None-Match", "\"something-else\""),
            ("If-Modified-Since", &lm),
        ],
    )
    .assert_body(200, BODY);
}

#[test]
fn if_match_mismatch_is_412() {
    let (_s, srv, _, _) = start();
    let r = srv.get_with("/f.txt", &[("If-Match", "\"not-the-etag\"")]);
    r.assert_status(412);
    assert!(!r.body_str().contains(BODY.trim()), "{r:?}");
}

#[test]
fn if_match_with_matching_etag_is_200() {
    let (_s, srv, etag, _) = start();
    srv.get_with("/f.txt", &[("If-Match", &etag)])
        .assert_body(200, BODY);
    let list = format!("\"zzz\", {etag}");
    srv.get_with("/f.txt", &[("If-Match", &list)])
        .assert_body(200, BODY);
    srv.get_with("/f.txt", &[("If-Match", "*")])
        .assert_body(200, BODY);
}

#[test]
fn if_match_uses_strong_comparison() {
    let (_s, srv, etag, _) = start();
    let weak = format!("W/{etag}");
    srv.get_with("/f.txt", &[("If-Match", &weak)])
        .assert_status(412);
}

#[test]
fn if_unmodified_since_earlier_is_412() {
    let (_s, srv, _, _) = start();
    let earlier = http_date(utc(2022, 6, 15, 12, 30, 44));
    srv.get_with("/f.txt", &[("If-Unmodified-Since", &earlier)])
        .assert_status(412);
}

#[test]
fn if_unmodified_since_equal_or_later_is_200() {
    let (_s, srv, _, lm) = start();
    srv.get_with("/f.txt", &[("If-Unmodified-Since", &lm)])
        .assert_body(200, BODY);
    let later = http_date(utc(2030, 1, 1, 0, 0, 0));
    srv.get_with("/f.txt", &[("If-Unmodified-Since", &later)])
        .assert_body(200, BODY);
}

#[test]
fn etag_changes_when_file_changes() {
    // The open-file cache trusts what it opened for file_cache_ttl (1 s by
    // default, like lighttpd's stat cache): the change shows after that.
    let (s, srv, etag, _) = start();
    s.file("f.txt", "a different, longer body than before\n");
    s.dir.set_mtime("www/f.txt", utc(2024, 2, 2, 2, 2, 2));
    std::thread::sleep(std::time::Duration::from_millis(1300));
    let r = srv.get_with("/f.txt", &[("If-None-Match", &etag)]);
    r.assert_body(200, "a different, longer body than before\n");
    assert_ne!(r.must_header("etag"), etag);
    assert_eq!(
        r.must_header("last-modified"),
        "Fri, 02 Feb 2024 02:02:02 GMT"
    );
}

#[test]
fn without_the_file_cache_a_change_shows_at_once() {
    let s = Site::new();
    s.file("f.txt", BODY);
    let srv = s.start_with_config("[server]\nfile_cache = 0\n");
    let etag = srv.get("/f.txt").must_header("etag").to_string();
    s.file("f.txt", "changed at once, and longer than before\n");
    s.dir.set_mtime("www/f.txt", utc(2024, 2, 2, 2, 2, 2));
    let r = srv.get_with("/f.txt", &[("If-None-Match", &etag)]);
    r.assert_body(200, "changed at once, and longer than before\n");
    assert_ne!(r.must_header("etag"), etag);
}

#[test]
fn not_modified_carries_etag_and_date() {
    // RFC 9110 15.4.5: a 304 carries the ETag and Date a 200 would have.
    let (_s, srv, etag, _) = start();
    let r = srv.get_with("/f.txt", &[("If-None-Match", &etag)]);
    r.assert_status(304);
    assert_eq!(r.header("etag"), Some(etag.as_str()), "{r:?}");
    assert!(r.has_header("date"), "{r:?}");
}

#[test]
fn obsolete_date_formats_are_understood() {
    // RFC 9110 5.6.7: recipients must accept RFC 850 and asctime dates.
    let (_s, srv, _, _) = start();
    let mut c = srv.connect();
    get_on(
        &mut c,
        &[("If-Modified-Since", "Wednesday, 15-Jun-22 12:30:45 GMT")],
    )
    .assert_status(304);
    get_on(&mut c, &[("If-Modified-Since", "Wed Jun 15 12:30:45 2022")]).assert_status(304);
    get_on(&mut c, &[("If-Modified-Since", "Tue Jun 14 12:30:45 2022")]).assert_body(200, BODY);
}
