//! Privilege drop (`[server] user`, `group`, `require_drop`): after binding
//! its ports the server switches to the configured user and group, clears
//! its supplementary groups, and refuses to run when the switch fails or
//! when it would stay root although `require_drop` says it must not.
//! Run as root (CI) these tests check the real switch through
//! `/proc/PID/status`; run as another user they check that a switch to a
//! different user is refused, as it must be.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use blackbox::*;

const NOBODY: u32 = 65534;

/// The real, effective, saved and filesystem ids on a `Uid:`/`Gid:` line.
fn ids(status: &str, key: &str) -> Vec<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} line in\n{status}"))
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect()
}

fn groups(status: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Groups:"))
        .unwrap_or("")
        .trim()
        .to_string()
}

fn our_uid() -> u32 {
    ids(&fs::read_to_string("/proc/self/status").unwrap(), "Uid:")[1]
}

/// A site with a world-readable page, a page only root may read, and a
/// config switching to nobody/nogroup.
fn site() -> Site {
    let site = Site::new();
    site.file("index.html", "<h1>hello</h1>");
    site.file("private.txt", "root only");
    fs::set_permissions(
        site.root().join("private.txt"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    // The test's temp dirs must be traversable by the target user.
    for d in [site.base().to_path_buf(), site.root()] {
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
    }
    site
}

const DROP: &str = "[server]\nuser = \"nobody\"\ngroup = \"nogroup\"\nrequire_drop = true\n";

#[test]
fn workers_run_as_the_configured_user_and_serve_readable_files() {
    let site = site();
    if our_uid() != 0 {
        let cfg = path_str(&site.config("drop.toml", DROP));
        let r = run(&[
            "--root",
            &site.root_str(),
            "--listen",
            "127.0.0.1:0",
            "--config",
            &cfg,
        ]);
        assert_eq!(r.code(), Some(1), "{r:?}");
        assert!(r.stderr.contains("not started as root"), "{}", r.stderr);
        return;
    }
    let srv = site.start_with_config(DROP);
    srv.get("/index.html").assert_body(200, "<h1>hello</h1>");
    // A file only root may read: the worker that opens it is not root.
    let denied = srv.get("/private.txt");
    assert!(
        denied.status == 403 || denied.status == 404,
        "a root-only file was served after the switch: {}",
        denied.status
    );
    // Every thread (the scheduler, the workers, the plugins' threads).
    // Under a QEMU user-mode runner the emulator adds threads of its own
    // (named after the runner, never a guest thread's name): the guest's
    // setuid does not reach them, so they are not the server's to check.
    let runner = blackbox::runner_prefix()
        .first()
        .map(|r| r.rsplit('/').next().unwrap_or(r).to_string());
    let tasks = fs::read_dir(format!("/proc/{}/task", srv.pid())).unwrap();
    let mut n = 0;
    for t in tasks {
        let t = t.unwrap().path();
        let status = fs::read_to_string(t.join("status")).unwrap();
        let main_thread = t.file_name().and_then(|f| f.to_str()) == Some(&srv.pid().to_string());
        let name = status
            .lines()
            .next()
            .unwrap_or("")
            .trim_start_matches("Name:")
            .trim();
        if !main_thread
            && runner
                .as_deref()
                .is_some_and(|r| name.starts_with(&r[..r.len().min(15)]))
        {
            continue;
        }
        assert_eq!(ids(&status, "Uid:"), vec![NOBODY; 4], "{status}");
        assert_eq!(ids(&status, "Gid:"), vec![NOBODY; 4], "{status}");
        assert_eq!(groups(&status), "", "supplementary groups kept: {status}");
        n += 1;
    }
    assert!(
        n >= 2,
        "expected the main thread and at least one worker, saw {n}"
    );
    // Still serving after the checks (keep-alive and new connections).
    let mut c = srv.connect();
    c.request(&req("GET", "/index.html", &[]))
        .assert_status(200);
    c.request(&req("HEAD", "/index.html", &[]))
        .assert_status(200);
}

#[test]
fn require_drop_refuses_to_run_as_root_without_a_user() {
    let site = site();
    let cfg = path_str(&site.config("req.toml", "[server]\nrequire_drop = true\n"));
    let root = site.root_str();
    let args = ["--root", &root, "--listen", "127.0.0.1:0", "--config", &cfg];
    if our_uid() == 0 {
        let r = run(&args);
        assert_eq!(r.code(), Some(1), "{r:?}");
        assert!(r.stderr.contains("require_drop"), "{}", r.stderr);
        assert!(r.stdout.is_empty(), "it must not listen: {}", r.stdout);
        // And a user that is root is no drop either.
        let cfg = path_str(&site.config(
            "root.toml",
            "[server]\nuser = \"root\"\nrequire_drop = true\n",
        ));
        let r = run(&[
            "--root",
            &site.root_str(),
            "--listen",
            "127.0.0.1:0",
            "--config",
            &cfg,
        ]);
        assert_eq!(r.code(), Some(1), "{r:?}");
        assert!(r.stderr.contains("is root"), "{}", r.stderr);
    } else {
        // Not root: nothing to drop, the server runs.
        let srv = Server::start(&args);
        srv.get("/index.html").assert_status(200);
    }
}

#[test]
fn an_unknown_user_or_group_is_refused() {
    let site = site();
    for (text, want) in [
        (
            "[server]\nuser = \"no-such-user-fws\"\n",
            "user \"no-such-user-fws\" does not exist",
        ),
        (
            "[server]\nuser = \"nobody\"\ngroup = \"no-such-group-fws\"\n",
            "group \"no-such-group-fws\" does not exist",
        ),
    ] {
        let cfg = path_str(&site.config("bad.toml", text));
        let r = run(&[
            "--root",
            &site.root_str(),
            "--listen",
            "127.0.0.1:0",
            "--config",
            &cfg,
        ]);
        assert_eq!(r.code(), Some(1), "{r:?}");
        assert!(r.stderr.contains(want), "want {want:?} in {}", r.stderr);
    }
}

#[test]
fn bad_values_are_config_errors_with_file_and_line() {
    let site = site();
    for (text, line, want) in [
        ("[server]\ngroup = \"nogroup\"\n", 2, "group: needs a user"),
        (
            "[server]\n\nuser = 0\n",
            3,
            "user: expected a user or group name",
        ),
        (
            "[server]\nuser = \"a b\"\n",
            2,
            "user: expected a user or group name",
        ),
        (
            "[server]\nuser = \"-x\"\n",
            2,
            "user: expected a user or group name",
        ),
        (
            "[server]\nrequire_drop = \"yes\"\n",
            2,
            "require_drop: expected true or false",
        ),
    ] {
        let cfg = path_str(&site.config("bad.toml", text));
        let r = run(&[
            "--root",
            &site.root_str(),
            "--config",
            &cfg,
            "--check-config",
        ]);
        assert_eq!(r.code(), Some(1), "{text}: {r:?}");
        let prefix = format!("{cfg}:{line}: ");
        assert!(
            r.stderr
                .lines()
                .any(|l| l.starts_with(&prefix) && l.contains(want)),
            "want {prefix}...{want} in {}",
            r.stderr
        );
    }
}

#[test]
fn check_config_shows_the_settings() {
    let site = site();
    let cfg = path_str(&site.config("drop.toml", DROP));
    let r = run(&[
        "--root",
        &site.root_str(),
        "--config",
        &cfg,
        "--check-config",
    ]);
    assert_eq!(r.code(), Some(0), "{r:?}");
    for line in [
        "user = \"nobody\"",
        "group = \"nogroup\"",
        "require_drop = true",
    ] {
        assert!(
            r.stdout.lines().any(|l| l == line),
            "{line} missing in\n{}",
            r.stdout
        );
    }
}

#[test]
fn a_docroot_the_user_cannot_read_is_refused_at_start() {
    let site = site();
    if our_uid() != 0 {
        return check_refused_without_root(&site);
    }
    fs::set_permissions(site.root(), fs::Permissions::from_mode(0o700)).unwrap();
    let cfg = path_str(&site.config("drop.toml", DROP));
    let r = run(&[
        "--root",
        &site.root_str(),
        "--listen",
        "127.0.0.1:0",
        "--config",
        &cfg,
    ]);
    assert_eq!(r.code(), Some(1), "{r:?}");
    assert!(
        r.stderr.contains("cannot read the document root"),
        "{}",
        r.stderr
    );
}

fn check_refused_without_root(site: &Site) {
    let cfg = path_str(&site.config("drop.toml", DROP));
    let r = run(&[
        "--root",
        &site.root_str(),
        "--listen",
        "127.0.0.1:0",
        "--config",
        &cfg,
    ]);
    assert_eq!(r.code(), Some(1), "{r:?}");
    assert!(r.stderr.contains("not started as root"), "{}", r.stderr);
}
