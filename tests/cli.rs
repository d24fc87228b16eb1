//! Command line and config-file validation.

use blackbox::*;
use std::net::TcpListener;

fn one_line_error(r: &RunResult, code: i32) {
    assert_eq!(
        r.code(),
        Some(code),
        "expected exit {code}\nstdout: {}\nstderr: {}",
        r.stdout,
        r.stderr
    );
    let lines = r.stderr_lines();
    assert_eq!(
        lines.len(),
        1,
        "expected exactly one line on stderr, got: {:?}",
        r.stderr
    );
    assert!(
        lines[0].starts_with("firmware-server: "),
        "stderr line must start with 'firmware-server: ': {:?}",
        lines[0]
    );
}

// ---------------------------------------------------------------------------
// Flags
// ---------------------------------------------------------------------------

#[test]
fn version_flag() {
    let r = run(&["--version"]);
    assert_eq!(r.code(), Some(0), "{r:?}");
    assert_eq!(
        r.stdout.trim_end(),
        format!("firmware-server {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_flag() {
    let r = run(&["--help"]);
    assert_eq!(r.code(), Some(0), "{r:?}");
    for flag in [
        "--listen",
        "--root",
        "--config",
        "--workers",
        "--max-connections",
        "--log-level",
        "--check-config",
        "--version",
        "--help",
    ] {
        assert!(
            r.stdout.contains(flag),
            "--help does not mention {flag}:\n{}",
            r.stdout
        );
    }
}

#[test]
fn unknown_flag_exits_2() {
    one_line_error(&run(&["--bogus-flag"]), 2);
    one_line_error(&run(&["-z"]), 2);
    one_line_error(&run(&["stray-positional"]), 2);
}

#[test]
fn missing_value_exits_2() {
    one_line_error(&run(&["--listen"]), 2);
    one_line_error(&run(&["--root"]), 2);
    one_line_error(&run(&["--workers"]), 2);
    one_line_error(&run(&["--config"]), 2);
}

#[test]
fn bad_number_exits_2() {
    let s = Site::new();
    let root = s.root_str();
    one_line_error(&run(&["--root", &root, "--workers", "four"]), 2);
    one_line_error(&run(&["--root", &root, "--workers", "-1"]), 2);
    one_line_error(&run(&["--root", &root, "--max-connections", "1x"]), 2);
}

#[test]
fn bad_log_level_exits_2() {
    let s = Site::new();
    one_line_error(&run(&["--root", &s.root_str(), "--log-level", "loud"]), 2);
}

// ---------------------------------------------------------------------------
// Start-up
// ---------------------------------------------------------------------------

#[test]
fn listening_line_format() {
    let s = Site::new();
    let srv = s.start();
    let port = srv.addr().port();
    assert_ne!(port, 0);
    let lines = srv.stdout_lines();
    assert!(
        lines
            .iter()
            .any(|l| l == &format!("listening on http://127.0.0.1:{port}/")),
        "stdout: {lines:?}"
    );
}

#[test]
fn listening_logged_on_stderr_at_info() {
    let s = Site::new();
    let srv = s.start();
    let ok = wait_for(scaled(2.0), || {
        srv.stderr_text().contains("listening on").then_some(())
    });
    assert!(
        ok.is_some(),
        "stderr log should mention listening: {:?}",
        srv.stderr_text()
    );
}

#[test]
fn log_level_off_is_quiet_on_stderr() {
    let s = Site::new();
    s.file("a.txt", "AAAA");
    let srv = s.start_args(&["--log-level", "off"]);
    srv.get("/a.txt").assert_body(200, "AAAA");
    srv.get("/missing").assert_status(404);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(srv.stderr_text(), "", "--log-level off must not log");
}

#[test]
fn repeated_listen_flags() {
    let s = Site::new();
    s.file("a.txt", "AAAA");
    let srv = s.start_args(&["--listen", "127.0.0.1:0", "--listen", "127.0.0.1:0"]);
    assert_eq!(srv.addrs().len(), 2);
    assert_ne!(srv.addrs()[0].port(), srv.addrs()[1].port());
    for a in srv.addrs() {
        Conn::connect(*a)
            .request(&req("GET", "/a.txt", &[]))
            .assert_body(200, "AAAA");
    }
}

#[test]
fn listen_flag_replaces_config_list() {
    let s = Site::new();
    s.file("a.txt", "AAAA");
    // The configured port is taken; --listen replaces the list so it is not used.
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    let srv = s.start_with_config(&format!("[server]\nlisten = [\"127.0.0.1:{busy_port}\"]\n"));
    assert_eq!(srv.addrs().len(), 1);
    assert_ne!(srv.addr().port(), busy_port);
    srv.get("/a.txt").assert_body(200, "AAAA");
}

#[test]
fn ipv6_listen() {
    if TcpListener::bind("[::1]:0").is_err() {
        eprintln!("IPv6 loopback unavailable here; nothing to check");
        return;
    }
    let s = Site::new();
    s.file("a.txt", "AAAA");
    let srv = s.start_args(&["--listen", "[::1]:0"]);
    assert!(srv.addr().is_ipv6());
    let port = srv.addr().port();
    assert!(srv
        .stdout_lines()
        .contains(&format!("listening on http://[::1]:{port}/")));
    srv.get("/a.txt").assert_body(200, "AAAA");
}

#[test]
fn missing_docroot_exits_1() {
    let s = Site::new();
    let missing = path_str(&s.base().join("no-such-dir"));
    let r = run(&["--listen", "127.0.0.1:0", "--root", &missing]);
    one_line_error(&r, 1);
    assert!(!r.stdout.contains("listening on"), "{r:?}");
}

#[test]
fn docroot_is_a_file_exits_1() {
    let s = Site::new();
    let file = path_str(&s.outside("plain-file", "x"));
    one_line_error(&run(&["--listen", "127.0.0.1:0", "--root", &file]), 1);
}

#[test]
fn port_in_use_exits_1() {
    let s = Site::new();
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let r = run(&["--listen", &addr, "--root", &s.root_str()]);
    one_line_error(&r, 1);
    drop(busy);
}

#[test]
fn missing_config_file_exits_1() {
    let s = Site::new();
    let cfg = path_str(&s.base().join("nope.toml"));
    let r = run(&[
        "--listen",
        "127.0.0.1:0",
        "--root",
        &s.root_str(),
        "--config",
        &cfg,
    ]);
    assert_eq!(r.code(), Some(1), "{r:?}");
    assert!(r.stderr.starts_with("firmware-server: "), "{r:?}");
}

#[test]
fn bad_config_prevents_start() {
    let s = Site::new();
    let cfg = path_str(&s.config("bad.toml", "[server]\nworkerz = 2\n"));
    let r = run(&[
        "--listen",
        "127.0.0.1:0",
        "--root",
        &s.root_str(),
        "--config",
        &cfg,
    ]);
    assert_eq!(r.code(), Some(1), "{r:?}");
    assert!(r.stderr.contains(&format!("{cfg}:2:")), "{r:?}");
}

// ---------------------------------------------------------------------------
// --check-config
// ---------------------------------------------------------------------------

fn good_config(s: &Site) -> String {
    s.dir.write("admin/index.html", "admin");
    format!(
        "# firmware-server test config\n\
         [server]\n\
         listen = [\"127.0.0.1:8081\", \"[::1]:8082\"]   # two listeners\n\
         root = \"{root}\"\n\
         workers = 2\n\
         max_connections = 77\n\
         backlog = 128\n\
         buffer_size = 8192\n\
         buffers_per_worker = 16\n\
         tcp_nodelay = false\n\
         tcp_fastopen = 5\n\
         defer_accept = true\n\
         header_timeout = \"250ms\"\n\
         keepalive_timeout = \"2m\"\n\
         send_timeout = 12\n\
         shutdown_grace = \"3s\"\n\
         max_keepalive_requests = 0\n\
         max_body_size = \"64K\"\n\
         index = [\"home.html\", \"index.htm\"]\n\
         follow_symlinks = true\n\
         gzip_static = false\n\
         hide_dotfiles = false\n\
         log_level = \"warn\"\n\
         \n\
         [mime]\n\
         wasm = \"application/wasm\"\n\
         fw = \"application/x-fw\"\n\
         \n\
         [[vhost]]\n\
         names = [\"router.lan\", \"192.168.1.1\"]\n\
         root = \"{admin}\"\n",
        root = s.root_str(),
        admin = path_str(&s.dir.join("admin")),
    )
}

fn check(cfg_path: &str) -> RunResult {
    run(&["--check-config", "--config", cfg_path])
}

/// Does `text` have a `key = value` line (whitespace-tolerant)?
fn has_setting(text: &str, key: &str, value: &str) -> bool {
    text.lines().any(|l| {
        let l = l.split(" #").next().unwrap();
        match l.split_once('=') {
            Some((k, v)) => k.trim() == key && v.trim() == value,
            None => false,
        }
    })
}

#[test]
fn check_config_good_file() {
    let s = Site::new();
    let cfg = path_str(&s.config("good.toml", &good_config(&s)));
    let r = check(&cfg);
    assert_eq!(r.code(), Some(0), "{r:?}");
    let out = &r.stdout;
    assert!(out.contains("[server]"), "{out}");
    assert!(has_setting(out, "max_connections", "77"), "{out}");
    assert!(has_setting(out, "workers", "2"), "{out}");
    assert!(has_setting(out, "follow_symlinks", "true"), "{out}");
    assert!(has_setting(out, "gzip_static", "false"), "{out}");
    assert!(out.contains("[[vhost]]"), "{out}");
    assert!(out.contains("router.lan"), "{out}");
    assert!(out.contains("application/x-fw"), "{out}");
    assert!(out.contains("[mime]"), "{out}");
}

#[test]
fn check_config_output_is_accepted_again() {
    let s = Site::new();
    let cfg = path_str(&s.config("good.toml", &good_config(&s)));
    let first = check(&cfg);
    assert_eq!(first.code(), Some(0), "{first:?}");
    let again = path_str(&s.config("again.toml", &first.stdout));
    let second = check(&again);
    assert_eq!(
        second.code(),
        Some(0),
        "printed config was rejected:\n{}\nerrors:\n{}",
        first.stdout,
        second.stderr
    );
    assert_eq!(
        first.stdout, second.stdout,
        "effective config should be a fixed point"
    );
}

#[test]
fn check_config_defaults_roundtrip() {
    let s = Site::new();
    let r = run(&["--check-config", "--root", &s.root_str()]);
    assert_eq!(r.code(), Some(0), "{r:?}");
    assert!(
        has_setting(&r.stdout, "max_connections", "1024"),
        "{}",
        r.stdout
    );
    assert!(
        has_setting(&r.stdout, "hide_dotfiles", "true"),
        "{}",
        r.stdout
    );
    let again = path_str(&s.config("defaults.toml", &r.stdout));
    let r2 = check(&again);
    assert_eq!(r2.code(), Some(0), "defaults not accepted back: {r2:?}");
}

#[test]
fn check_config_reflects_command_line() {
    let s = Site::new();
    let cfg = path_str(&s.config("c.toml", "[server]\nworkers = 2\n"));
    let r = run(&[
        "--check-config",
        "--config",
        &cfg,
        "--root",
        &s.root_str(),
        "--workers",
        "3",
        "--max-connections",
        "99",
        "--listen",
        "127.0.0.1:9999",
    ]);
    assert_eq!(r.code(), Some(0), "{r:?}");
    assert!(has_setting(&r.stdout, "workers", "3"), "{}", r.stdout);
    assert!(
        has_setting(&r.stdout, "max_connections", "99"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("127.0.0.1:9999"), "{}", r.stdout);
    assert!(r.stdout.contains(&s.root_str()), "{}", r.stdout);
}

#[test]
fn check_config_does_not_listen() {
    // Validating must not need the port: check works while it is taken.
    let s = Site::new();
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let r = run(&["--check-config", "--root", &s.root_str(), "--listen", &addr]);
    assert_eq!(r.code(), Some(0), "{r:?}");
    assert!(!r.stdout.contains("listening on"));
}

#[test]
fn check_config_accepts_all_value_forms() {
    let s = Site::new();
    let cfg = path_str(&s.config(
        "forms.toml",
        &format!(
            "[server]\n\
             root = \"{}\"  # a trailing comment\n\
             header_timeout = 5\n\
             keepalive_timeout = \"250ms\"\n\
             send_timeout = \"10s\"\n\
             shutdown_grace = \"2m\"\n\
             max_body_size = 1024\n\
             buffer_size = \"64K\"\n\
             \n\
             [mime]\n\
             txt = \"text/plain; charset=\\\"utf-8\\\"\"\n\
             x = \"a\\\\b\"\n",
            s.root_str()
        ),
    ));
    let r = check(&cfg);
    assert_eq!(r.code(), Some(0), "{r:?}");
}

/// Run --check-config on `text`; expect exit 1 and a `FILE:LINE:` error for
/// each of `lines`.
#[track_caller]
fn expect_config_errors(text: &str, lines: &[usize]) {
    let s = Site::new();
    let cfg = path_str(&s.config("bad.toml", text));
    let r = run(&["--check-config", "--config", &cfg, "--root", &s.root_str()]);
    assert_eq!(r.code(), Some(1), "config:\n{text}\nresult: {r:?}");
    for line in lines {
        let prefix = format!("{cfg}:{line}:");
        let hit = r.stderr.lines().find(|l| l.starts_with(&prefix));
        let hit = hit.unwrap_or_else(|| {
            panic!(
                "stderr lacks an error starting with {prefix:?}\nconfig:\n{text}\nstderr:\n{}",
                r.stderr
            )
        });
        assert!(
            hit[prefix.len()..].trim().len() > 3,
            "error message is empty: {hit:?}"
        );
    }
}

#[test]
fn config_unknown_key() {
    expect_config_errors("[server]\nworkers = 2\nbogus_key = 1\n", &[3]);
}

#[test]
fn config_unknown_section() {
    expect_config_errors("# c\n[serverz]\nworkers = 2\n", &[2]);
}

#[test]
fn config_wrong_type() {
    expect_config_errors("[server]\nworkers = \"four\"\n", &[2]);
    expect_config_errors("[server]\ntcp_nodelay = 1\n", &[2]);
    expect_config_errors("[server]\nindex = \"index.html\"\n", &[2]);
    expect_config_errors("[server]\nroot = 5\n", &[2]);
}

#[test]
fn config_out_of_range() {
    expect_config_errors("[server]\nmax_connections = 70000\n", &[2]);
    expect_config_errors("[server]\n\nmax_connections = 0\n", &[3]);
}

#[test]
fn config_bad_duration_and_size() {
    expect_config_errors("[server]\nheader_timeout = \"10 parsecs\"\n", &[2]);
    expect_config_errors("[server]\nmax_body_size = \"1Q\"\n", &[2]);
    expect_config_errors("[server]\nkeepalive_timeout = \"-5s\"\n", &[2]);
}

#[test]
fn config_bad_values() {
    expect_config_errors("[server]\nlisten = [\"not-an-address\"]\n", &[2]);
    expect_config_errors("[server]\nlog_level = \"loud\"\n", &[2]);
}

#[test]
fn config_duplicate_key() {
    expect_config_errors("[server]\nworkers = 2\nworkers = 3\n", &[3]);
}

#[test]
fn config_syntax_errors() {
    expect_config_errors("[server]\nworkers 2\n", &[2]);
    expect_config_errors("[server]\nroot = \"unterminated\n", &[2]);
    expect_config_errors("[server\n", &[1]);
}

#[test]
fn config_reports_all_errors() {
    expect_config_errors(
        "[server]\n\
         workers = \"two\"\n\
         tcp_nodelay = true\n\
         nonsense = 1\n\
         \n\
         [mime]\n\
         wasm = 5\n",
        &[2, 4, 7],
    );
}

#[test]
fn config_two_errors() {
    expect_config_errors("[server]\nbogus = 1\nheader_timeout = \"soon\"\n", &[2, 3]);
}

#[test]
fn config_unknown_vhost_key() {
    expect_config_errors(
        "[[vhost]]\nnames = [\"a.test\"]\nroot = \"/tmp\"\nalias = \"b\"\n",
        &[4],
    );
}

#[test]
fn config_log_level_off_is_quiet() {
    let s = Site::new();
    s.file("a.txt", "AAAA");
    let srv = s.start_with_config("[server]\nlog_level = \"off\"\n");
    srv.get("/a.txt").assert_body(200, "AAAA");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(srv.stderr_text(), "", "log_level = \"off\" must not log");
}

#[test]
fn rust_log_overrides_log_level() {
    let s = Site::new();
    s.file("a.txt", "AAAA");
    let root = s.root_str();
    let srv = Server::start_with_env(
        &["--root", &root, "--log-level", "info"],
        &[("RUST_LOG", "off")],
    );
    srv.get("/a.txt").assert_body(200, "AAAA");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(
        srv.stderr_text(),
        "",
        "RUST_LOG=off must override --log-level info"
    );
}

#[test]
fn config_max_connections_below_workers() {
    let s = Site::new();
    let cfg = path_str(&s.config("bad.toml", "[server]\nworkers = 4\nmax_connections = 2\n"));
    let r = run(&["--check-config", "--config", &cfg, "--root", &s.root_str()]);
    assert_eq!(r.code(), Some(1), "{r:?}");
    assert!(
        r.stderr.contains(&format!("{cfg}:2:")) || r.stderr.contains(&format!("{cfg}:3:")),
        "{r:?}"
    );
}

#[test]
fn hash_inside_string_is_not_a_comment() {
    let s = Site::new();
    let weird = s.dir.mkdir("we#ird root");
    let cfg = path_str(&s.config(
        "c.toml",
        &format!("[server]\nroot = \"{}\" # real comment\n", path_str(&weird)),
    ));
    let r = check(&cfg);
    assert_eq!(r.code(), Some(0), "{r:?}");
    assert!(r.stdout.contains("we#ird root"), "{}", r.stdout);
}

#[test]
fn negative_numbers_rejected() {
    expect_config_errors("[server]\nworkers = -1\n", &[2]);
    expect_config_errors("[server]\nmax_body_size = -5\n", &[2]);
}

#[test]
fn missing_vhost_root_fails_start() {
    let s = Site::new();
    let cfg = path_str(&s.config(
        "c.toml",
        &format!(
            "[[vhost]]\nnames = [\"a.test\"]\nroot = \"{}\"\n",
            path_str(&s.base().join("missing-vhost-root"))
        ),
    ));
    let r = run(&[
        "--listen",
        "127.0.0.1:0",
        "--root",
        &s.root_str(),
        "--config",
        &cfg,
    ]);
    assert_eq!(r.code(), Some(1), "{r:?}");
    assert!(!r.stdout.contains("listening on"), "{r:?}");
    assert!(!r.stderr.trim().is_empty());
}

#[test]
fn bad_listen_address_exits_2() {
    let s = Site::new();
    let root = s.root_str();
    one_line_error(
        &run(&["--root", &root, "--listen", "127.0.0.1:notaport"]),
        2,
    );
    one_line_error(&run(&["--root", &root, "--listen", "127.0.0.1:99999"]), 2);
    one_line_error(&run(&["--root", &root, "--listen", "no-port-here"]), 2);
}

#[test]
fn check_config_roundtrip_with_escapes() {
    let s = Site::new();
    let odd = s.dir.mkdir("we\"ird\\dir");
    let root_escaped = path_str(&odd).replace('\\', "\\\\").replace('"', "\\\"");
    let cfg = path_str(&s.config(
        "c.toml",
        &format!(
            "[server]\nroot = \"{root_escaped}\"\nindex = [\"a b.html\", \"tab\\there\"]\n\
             [mime]\ntxt = \"text/plain; charset=\\\"utf-8\\\"\"\n"
        ),
    ));
    let first = check(&cfg);
    assert_eq!(first.code(), Some(0), "{first:?}");
    let again = path_str(&s.config("again.toml", &first.stdout));
    let second = check(&again);
    assert_eq!(second.code(), Some(0), "{second:?}\n{}", first.stdout);
    assert_eq!(first.stdout, second.stdout);
    assert!(first.stdout.contains(&root_escaped), "{}", first.stdout);
}

#[test]
fn all_log_levels_accepted() {
    let s = Site::new();
    let root = s.root_str();
    for level in ["off", "error", "warn", "info", "debug", "trace"] {
        let r = run(&["--check-config", "--root", &root, "--log-level", level]);
        assert_eq!(r.code(), Some(0), "--log-level {level}: {r:?}");
        assert!(
            has_setting(&r.stdout, "log_level", &format!("\"{level}\"")),
            "--log-level {level} not reflected:\n{}",
            r.stdout
        );
    }
}

#[test]
fn default_root_is_bundled_www() {
    let index = workspace_root().join("firmware-server/www/index.html");
    let want = std::fs::read(&index)
        .unwrap_or_else(|e| panic!("bundled {} missing: {e}", index.display()));
    let srv = Server::start(&[]);
    srv.get("/").assert_body(200, &want);
}
