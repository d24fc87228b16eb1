//! Range requests and If-Range.

use blackbox::*;

fn body() -> Vec<u8> {
    // 100 bytes, all distinct positions visible in failures.
    (0..100u8).map(|i| b'A' + (i % 26)).collect()
}

fn start() -> (Site, Server, String, String) {
    let s = Site::new();
    s.file("r.bin", body());
    s.dir.set_mtime("www/r.bin", utc(2022, 6, 15, 12, 30, 45));
    let srv = s.start();
    let r = srv.get("/r.bin");
    r.assert_body(200, body());
    let etag = r.must_header("etag").to_string();
    let lm = r.must_header("last-modified").to_string();
    (s, srv, etag, lm)
}

#[track_caller]
fn assert_partial(r: &Response, first: usize, last: usize) {
    let b = body();
    r.assert_body(206, &b[first..=last]);
    assert_eq!(
        r.must_header("content-range"),
        format!("bytes {first}-{last}/100"),
        "{r:?}"
    );
}

fn range(srv: &Server, spec: &str) -> Response {
    srv.get_with("/r.bin", &[("Range", spec)])
}

#[test]
fn first_last_range() {
    let (_s, srv, _, _) = start();
    assert_partial(&range(&srv, "bytes=0-9"), 0, 9);
    assert_partial(&range(&srv, "bytes=10-19"), 10, 19);
    assert_partial(&range(&srv, "bytes=0-0"), 0, 0);
    assert_partial(&range(&srv, "bytes=99-99"), 99, 99);
    assert_partial(&range(&srv, "bytes=0-99"), 0, 99);
}

#[test]
fn range_keeps_headers() {
    let (_s, srv, etag, lm) = start();
    let r = range(&srv, "bytes=5-9");
    assert_partial(&r, 5, 9);
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    assert_eq!(r.header("last-modified"), Some(lm.as_str()));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert_eq!(r.media_type().as_deref(), Some("application/octet-stream"));
}

#[test]
fn last_byte_pos_past_end_is_clamped() {
    let (_s, srv, _, _) = start();
    assert_partial(&range(&srv, "bytes=90-5000"), 90, 99);
}

#[test]
fn open_ended_range() {
    let (_s, srv, _, _) = start();
    assert_partial(&range(&srv, "bytes=90-"), 90, 99);
    assert_partial(&range(&srv, "bytes=0-"), 0, 99);
}

#[test]
fn suffix_range() {
    let (_s, srv, _, _) = start();
    assert_partial(&range(&srv, "bytes=-10"), 90, 99);
    assert_partial(&range(&srv, "bytes=-1"), 99, 99);
    // A suffix longer than the file is the whole file.
    assert_partial(&range(&srv, "bytes=-500"), 0, 99);
}

#[test]
fn overlapping_ranges_merge_into_one() {
    let (_s, srv, _, _) = start();
    assert_partial(&range(&srv, "bytes=0-9,5-19"), 0, 19);
    assert_partial(&range(&srv, "bytes=10-20, 15-30"), 10, 30);
}

#[test]
fn disjoint_ranges_give_whole_body() {
    let (_s, srv, _, _) = start();
    let r = range(&srv, "bytes=0-9,50-59");
    r.assert_body(200, body());
    assert!(!r.has_header("content-range"), "{r:?}");
}

#[test]
fn unsatisfiable_range_is_416() {
    let (_s, srv, _, _) = start();
    for spec in ["bytes=100-", "bytes=200-300", "bytes=100-100"] {
        let r = range(&srv, spec);
        r.assert_status(416);
        assert_eq!(r.must_header("content-range"), "bytes */100", "{spec}");
    }
}

#[test]
fn partially_satisfiable_set_is_not_416() {
    let (_s, srv, _, _) = start();
    // Not *all* ranges are unsatisfiable: either the satisfiable one is
    // served (206) or the set counts as "several ranges" (200 whole body).
    let r = range(&srv, "bytes=200-300,0-4");
    match r.status {
        206 => assert_partial(&r, 0, 4),
        200 => {
            r.assert_body(200, body());
        }
        _ => panic!("expected 206 or 200, got {r:?}"),
    }
}

#[test]
fn bad_range_syntax_is_ignored() {
    let (_s, srv, _, _) = start();
    for spec in [
        "bytes=abc",
        "bytes=",
        "items=0-5",
        "bytes=9-3",
        "bytes=--5",
        "bytes 0-5",
        "bytes=1-2-3",
    ] {
        let r = range(&srv, spec);
        r.assert_body(200, body());
        assert!(!r.has_header("content-range"), "{spec}: {r:?}");
    }
}

#[test]
fn head_with_range() {
    let (_s, srv, _, _) = start();
    let mut c = srv.connect();
    let r = c.request(&req("HEAD", "/r.bin", &[("Range", "bytes=0-9")]));
    assert!(r.status == 206 || r.status == 200, "{r:?}");
    if r.status == 206 {
        assert_eq!(r.content_length(), Some(10));
    }
    c.request(&req("GET", "/r.bin", &[("Range", "bytes=0-1")]))
        .assert_body(206, "AB");
}

#[test]
fn if_range_with_matching_etag_is_206() {
    let (_s, srv, etag, _) = start();
    let r = srv.get_with("/r.bin", &[("Range", "bytes=0-9"), ("If-Range", &etag)]);
    assert_partial(&r, 0, 9);
}

#[test]
fn if_range_with_other_etag_is_200() {
    let (_s, srv, _, _) = start();
    let r = srv.get_with(
        "/r.bin",
        &[("Range", "bytes=0-9"), ("If-Range", "\"some-other-etag\"")],
    );
    r.assert_body(200, body());
}

#[test]
fn if_range_with_weak_etag_is_200() {
    let (_s, srv, etag, _) = start();
    let weak = format!("W/{etag}");
    let r = srv.get_with("/r.bin", &[("Range", "bytes=0-9"), ("If-Range", &weak)]);
    r.assert_body(200, body());
}

#[test]
fn if_range_with_date() {
    let (_s, srv, _, lm) = start();
    let r = srv.get_with("/r.bin", &[("Range", "bytes=0-9"), ("If-Range", &lm)]);
    assert_partial(&r, 0, 9);
    let older = http_date(utc(2021, 1, 1, 0, 0, 0));
    let r = srv.get_with("/r.bin", &[("Range", "bytes=0-9"), ("If-Range", &older)]);
    r.assert_body(200, body());
}

#[test]
fn range_on_large_file() {
    let s = Site::new();
    let data = pattern(2 * 1024 * 1024, 9);
    s.file("big.bin", &data);
    let srv = s.start();
    let r = srv.get_with("/big.bin", &[("Range", "bytes=1000000-1000999")]);
    r.assert_body(206, &data[1_000_000..1_001_000]);
    assert_eq!(
        r.must_header("content-range"),
        format!("bytes 1000000-1000999/{}", data.len())
    );
    let r = srv.get_with("/big.bin", &[("Range", "bytes=-3")]);
    r.assert_body(206, &data[data.len() - 3..]);
}

#[test]
fn range_on_empty_file_is_416_or_200() {
    let s = Site::new();
    s.file("e.bin", "");
    let srv = s.start();
    let r = srv.get_with("/e.bin", &[("Range", "bytes=0-")]);
    match r.status {
        416 => assert_eq!(r.must_header("content-range"), "bytes */0"),
        200 => assert!(r.body.is_empty()),
        _ => panic!("{r:?}"),
    }
}

#[test]
fn odd_ranges_do_not_break_the_server() {
    let (_s, srv, _, _) = start();
    let r = range(&srv, "bytes=0-99999999999999999999999");
    assert!(r.status == 206 || r.status == 200, "{r:?}");
    if r.status == 206 {
        assert_partial(&r, 0, 99);
    }
    let r = range(&srv, "bytes=-0");
    assert!(r.status == 416 || r.status == 200, "{r:?}");
    let many: Vec<String> = (0..200)
        .map(|i| format!("{}-{}", i % 100, i % 100))
        .collect();
    let r = range(&srv, &format!("bytes={}", many.join(",")));
    assert!(
        r.status == 200 || r.status == 206 || r.status == 416,
        "{r:?}"
    );
    srv.get("/r.bin").assert_body(200, body());
}
