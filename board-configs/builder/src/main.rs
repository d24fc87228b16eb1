//! `fws-board`: builds firmware-server for a board or a target triple.
//!
//! Run through the cargo alias in `.cargo/config.toml`:
//!
//! ```text
//! cargo board --board ath79-generic            # release build with the board's defaults baked in
//! cargo board --board mt7621-generic --features tls,cgi --debug
//! cargo board --target armv7-unknown-linux-musleabihf   # plain build, no board defaults
//! cargo board --target mips-unknown-linux-musl --no-default-features   # the bare engine
//! cargo board --list
//! cargo board --target mips-unknown-linux-musl --test -p fws-tls-selftest   # tests under QEMU
//! ```
//!
//! The recipe (see /work/spec/CROSS-README.md): Debian's `/usr/bin/cargo` and `/usr/bin/rustc`
//! with `RUSTC_BOOTSTRAP=1`, `cargo-zigbuild build --target T -Zbuild-std=std,panic_abort`
//! (Zig is the musl C compiler and linker), one target directory per triple under
//! `target/cross/T`. The per-target rustflags in `.cargo/config.toml` stay in effect: the board's
//! `-C target-cpu` goes in `CARGO_TARGET_<TRIPLE>_RUSTFLAGS`, which cargo appends to them.
//! For a board, `FWS_BOARD_CONFIG` carries the absolute path of its file to the engine's
//! build script, which bakes the file in as the binary's defaults.
//!
//! Output on success (stdout), one `key: value` per line: board, target, cpu, features,
//! artifact, size (bytes). Any failure: one line `fws-board: ...` on stderr, exit 1
//! (exit 2 for a bad command line).
//!
//! `--test` runs `cargo-zigbuild test` instead (dev profile, plain `-Zbuild-std`: a release
//! test build with `panic = "abort"` fails with duplicate lang items), so the unit tests of a
//! package run under the QEMU runner named in `.cargo/config.toml`.

mod board;

use board::{known_target, parse_board, valid_board_name, valid_feature, Board, TARGETS};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "\
usage: cargo board --board NAME [--features F1,F2] [--debug] [--dry-run]
       cargo board --target TRIPLE [--no-default-features] [--features F1,F2] [--debug] [--dry-run]
       cargo board (--board NAME | --target TRIPLE) --test [-p PACKAGE] [-- TEST-ARGS]
       cargo board --list

  --board NAME      build for board-configs/NAME.toml: its target, CPU, features and server defaults
  --target TRIPLE   plain build for a target triple, without board defaults
  --features LIST   extra cargo features of firmware-server (comma or space separated; repeatable)
  --no-default-features
                    with --target: leave out the crate's default plugins (the bare engine plus
                    --features); a board's build always has them off (its list is complete)
  --debug           dev profile instead of release
  --dry-run         print the environment and command instead of running them
  --test            run the tests of PACKAGE (default firmware-server) under QEMU (dev profile)
  -p, --package P   the package to test (with --test)
  --list            list the boards
Install the toolchain first (as root): board-configs/install-cross-toolchain.sh";

/// Where the Debian toolchain lives (apt: rustc-web cargo-web rust-web-src).
const DEBIAN_CARGO: &str = "/usr/bin/cargo";
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
const DEBIAN_STD_SRC: &str = "/usr/lib/rustlib/src/rust/library/std/Cargo.toml";

/// What to build.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    Board(String),
    Target(String),
    List,
    Help,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Args {
    mode: Mode,
    features: Vec<String>,
    /// `--no-default-features`: the crate's default plugins left out.
    no_default_features: bool,
    debug: bool,
    dry_run: bool,
    /// Run tests (of `package`) instead of building the server.
    test: bool,
    package: Option<String>,
    /// Arguments after `--`, for the test harness.
    passthrough: Vec<String>,
}

/// Parses the command line (without the program name).
fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Args, String> {
    let mut mode = None;
    let mut features = Vec::new();
    let mut no_default_features = false;
    let mut debug = false;
    let mut dry_run = false;
    let mut test = false;
    let mut package = None;
    let mut passthrough = Vec::new();
    let mut it = args.into_iter();
    let set_mode = |mode: &mut Option<Mode>, m: Mode| -> Result<(), String> {
        if mode.is_some() {
            return Err("give one of --board, --target, --list".into());
        }
        *mode = Some(m);
        Ok(())
    };
    while let Some(arg) = it.next() {
        if arg == "--" {
            passthrough.extend(it.by_ref());
            break;
        }
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let takes_value = matches!(
            flag.as_str(),
            "--board" | "--target" | "--features" | "-p" | "--package"
        );
        let value = if takes_value {
            match inline {
                Some(v) => Some(v),
                None => Some(it.next().ok_or_else(|| format!("{flag} needs a value"))?),
            }
        } else {
            if inline.is_some() {
                return Err(format!("{flag} takes no value"));
            }
            None
        };
        match flag.as_str() {
            "--board" => {
                let name = value.unwrap_or_default();
                let name = name.strip_suffix(".toml").unwrap_or(&name).to_string();
                if !valid_board_name(&name) {
                    return Err(format!("bad board name '{name}'"));
                }
                set_mode(&mut mode, Mode::Board(name))?;
            }
            "--target" => {
                let t = value.unwrap_or_default();
                if !known_target(&t) {
                    let known: Vec<&str> = TARGETS.iter().map(|(t, _)| *t).collect();
                    return Err(format!(
                        "unsupported target '{t}' (known: {})",
                        known.join(", ")
                    ));
                }
                set_mode(&mut mode, Mode::Target(t))?;
            }
            "--features" => {
                for f in value
                    .unwrap_or_default()
                    .split([',', ' '])
                    .filter(|f| !f.is_empty())
                {
                    if !valid_feature(f) {
                        return Err(format!("bad feature name '{f}'"));
                    }
                    if !features.iter().any(|g| g == f) {
                        features.push(f.to_string());
                    }
                }
            }
            "--no-default-features" => no_default_features = true,
            "--debug" => debug = true,
            "--release" => debug = false,
            "--dry-run" => dry_run = true,
            "--test" => test = true,
            "-p" | "--package" => {
                let p = value.unwrap_or_default();
                if !valid_feature(&p) || p.contains('/') {
                    return Err(format!("bad package name '{p}'"));
                }
                package = Some(p);
            }
            "--list" => set_mode(&mut mode, Mode::List)?,
            "-h" | "--help" => set_mode(&mut mode, Mode::Help)?,
            other => return Err(format!("unknown argument '{other}' (see --help)")),
        }
    }
    let mode = mode
        .ok_or_else(|| "give --board NAME, --target TRIPLE or --list (see --help)".to_string())?;
    if package.is_some() && !test {
        return Err("--package goes with --test (builds are always of firmware-server)".into());
    }
    if !passthrough.is_empty() && !test {
        return Err("arguments after -- go with --test".into());
    }
    if test && matches!(mode, Mode::List | Mode::Help) {
        return Err("--test needs --board NAME or --target TRIPLE".into());
    }
    if no_default_features && matches!(mode, Mode::List | Mode::Help) {
        return Err("--no-default-features needs --board NAME or --target TRIPLE".into());
    }
    if no_default_features && test {
        return Err("--no-default-features goes with a build, not --test".into());
    }
    Ok(Args {
        mode,
        features,
        no_default_features,
        debug,
        dry_run,
        test,
        package,
        passthrough,
    })
}

/// The `CARGO_TARGET_<TRIPLE>_RUSTFLAGS` variable name for a triple.
fn target_rustflags_var(triple: &str) -> String {
    let up: String = triple
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("CARGO_TARGET_{up}_RUSTFLAGS")
}

/// A fully described build: what is run, with which environment, and where the result lands.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plan {
    target: String,
    cpu: Option<String>,
    features: Vec<String>,
    /// (name, value) to set; `None` removes the variable.
    env: Vec<(String, Option<String>)>,
    program: String,
    args: Vec<String>,
    artifact: PathBuf,
}

/// Environment variables that would change the build behind the tool's back.
/// `RUSTFLAGS` and friends replace (not extend) the per-target rustflags of `.cargo/config.toml`.
const CLEARED_ENV: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_TARGET_DIR",
    "RUSTUP_TOOLCHAIN",
    "FWS_BOARD_CONFIG",
    "FWS_BOARD",
];

/// What cargo is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action<'a> {
    /// Build the firmware-server binary (release unless `debug`; without the crate's default
    /// features if `no_default_features`).
    Build {
        debug: bool,
        no_default_features: bool,
    },
    /// Run a package's tests under the target's runner (dev profile).
    Test {
        package: &'a str,
        passthrough: &'a [String],
    },
}

fn plan(
    root: &Path,
    target: &str,
    cpu: Option<&str>,
    board: Option<(&str, &Path)>,
    features: &[String],
    action: Action<'_>,
    path_env: Option<&OsString>,
) -> Plan {
    let debug = !matches!(action, Action::Build { debug: false, .. });
    let target_dir = root.join("target").join("cross").join(target);
    let profile_dir = if debug { "debug" } else { "release" };
    let artifact = target_dir
        .join(target)
        .join(profile_dir)
        .join("firmware-server");

    let mut env: Vec<(String, Option<String>)> = Vec::new();
    for v in CLEARED_ENV {
        env.push((v.to_string(), None));
    }
    // Debian's cargo and rustc first: ~/.cargo/bin (rustup) has no std source for -Zbuild-std.
    let path = match path_env {
        Some(p) if !p.is_empty() => format!("/usr/bin:{}", p.to_string_lossy()),
        _ => "/usr/bin:/bin".to_string(),
    };
    env.push(("PATH".into(), Some(path)));
    env.push(("CARGO".into(), Some(DEBIAN_CARGO.into())));
    env.push(("RUSTC".into(), Some(DEBIAN_RUSTC.into())));
    env.push(("RUSTC_BOOTSTRAP".into(), Some("1".into())));
    env.push((
        "CARGO_TARGET_DIR".into(),
        Some(target_dir.to_string_lossy().into_owned()),
    ));
    // Appended by cargo to target.<triple>.rustflags from .cargo/config.toml (checked with
    // `cargo -Zunstable-options config get`), so relocation-model / fix_y2038 stay in effect.
    let var = target_rustflags_var(target);
    env.push((var, cpu.map(|c| format!("-C target-cpu={c}"))));
    if let Some((name, file)) = board {
        env.push((
            "FWS_BOARD_CONFIG".into(),
            Some(file.to_string_lossy().into_owned()),
        ));
        env.push(("FWS_BOARD".into(), Some(name.to_string())));
    }

    let mut args = Vec::new();
    match action {
        Action::Build { debug, .. } => {
            args.push("build".to_string());
            if !debug {
                args.push("--release".into());
            }
        }
        Action::Test { .. } => args.push("test".to_string()),
    }
    args.push("--target".into());
    args.push(target.into());
    // release: panic = "abort" in the workspace profile, so std is built with panic_abort.
    args.push(if debug {
        "-Zbuild-std".into()
    } else {
        "-Zbuild-std=std,panic_abort".into()
    });
    args.push("-p".into());
    match action {
        Action::Build { .. } => {
            args.push("firmware-server".into());
            args.push("--bin".into());
            args.push("firmware-server".into());
        }
        Action::Test { package, .. } => args.push(package.into()),
    }
    // A board's feature list is the whole plugin set: cargo's default features are off.
    if let Action::Build {
        no_default_features,
        ..
    } = action
    {
        if no_default_features || board.is_some() {
            args.push("--no-default-features".into());
        }
    }
    if !features.is_empty() {
        args.push("--features".into());
        args.push(features.join(","));
    }
    args.push("--manifest-path".into());
    args.push(root.join("Cargo.toml").to_string_lossy().into_owned());
    if let Action::Test { passthrough, .. } = action {
        if !passthrough.is_empty() {
            args.push("--".into());
            args.extend(passthrough.iter().cloned());
        }
    }

    Plan {
        target: target.to_string(),
        cpu: cpu.map(str::to_string),
        features: features.to_vec(),
        env,
        program: "cargo-zigbuild".into(),
        args,
        artifact,
    }
}

/// The workspace root: `cargo run` sets CARGO_MANIFEST_DIR (board-configs/builder) at run time;
/// the compile-time value is the fallback for running the binary directly.
fn workspace_root() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .filter(|p| p.join("src").join("main.rs").exists() && p.ends_with("board-configs/builder"))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or(manifest)
}

fn boards_dir(root: &Path) -> PathBuf {
    root.join("board-configs")
}

/// The boards of `board-configs/`: (file stem, parsed board or one-line error).
type BoardList = Vec<(String, Result<Board, String>)>;

fn list_boards(root: &Path) -> Result<BoardList, String> {
    let dir = boards_dir(root);
    let rd = std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut out = Vec::new();
    for entry in rd.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let Some(stem) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        out.push((stem, load_board_file(&path)));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Reads and parses a board file; errors joined into one line `FILE:LINE: message; ...`.
fn load_board_file(path: &Path) -> Result<Board, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let board = parse_board(&text).map_err(|errs| {
        errs.iter()
            .map(|e| format!("{}:{}", path.display(), e))
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    if board.name != stem {
        return Err(format!(
            "{}: [board] name '{}' does not match the file name '{stem}'",
            path.display(),
            board.name
        ));
    }
    Ok(board)
}

/// Finds a program on PATH.
fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

fn check_toolchain() -> Result<PathBuf, String> {
    let hint = "run board-configs/install-cross-toolchain.sh as root";
    for f in [DEBIAN_CARGO, DEBIAN_RUSTC, DEBIAN_STD_SRC] {
        if !Path::new(f).exists() {
            return Err(format!("cross toolchain missing ({f} not found): {hint}"));
        }
    }
    which("cargo-zigbuild")
        .ok_or_else(|| format!("cross toolchain missing (cargo-zigbuild not on PATH): {hint}"))
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn run(args: Args) -> Result<(), String> {
    let root = workspace_root();
    let (target, cpu, board_file, board_name, mut features) = match &args.mode {
        Mode::Help => {
            println!("{USAGE}");
            return Ok(());
        }
        Mode::List => {
            for (name, b) in list_boards(&root)? {
                match b {
                    Ok(b) => println!(
                        "{name:<20} {:<32} {:<12} {}",
                        b.target, b.cpu, b.description
                    ),
                    Err(e) => println!("{name:<20} (invalid: {e})"),
                }
            }
            return Ok(());
        }
        Mode::Target(t) => (t.clone(), None, None, None, Vec::new()),
        Mode::Board(name) => {
            let file = boards_dir(&root).join(format!("{name}.toml"));
            if !file.is_file() {
                let names: Vec<String> = list_boards(&root)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|b| b.0)
                    .collect();
                return Err(format!(
                    "unknown board '{name}' (boards: {})",
                    names.join(", ")
                ));
            }
            let board = load_board_file(&file)?;
            let file = std::fs::canonicalize(&file).unwrap_or(file);
            (
                board.target.clone(),
                Some(board.cpu.clone()),
                Some(file),
                Some(board.name.clone()),
                board.features,
            )
        }
    };
    for f in &args.features {
        if !features.contains(f) {
            features.push(f.clone());
        }
    }
    let board = match (&board_name, &board_file) {
        (Some(n), Some(f)) => Some((n.as_str(), f.as_path())),
        _ => None,
    };
    let path_env = std::env::var_os("PATH");
    let action = if args.test {
        Action::Test {
            package: args.package.as_deref().unwrap_or("firmware-server"),
            passthrough: &args.passthrough,
        }
    } else {
        Action::Build {
            debug: args.debug,
            no_default_features: args.no_default_features,
        }
    };
    let plan = plan(
        &root,
        &target,
        cpu.as_deref(),
        board,
        &features,
        action,
        path_env.as_ref(),
    );

    if args.dry_run {
        for (k, v) in &plan.env {
            match v {
                Some(v) => println!("export {k}={}", shell_quote(v)),
                None => println!("unset {k}"),
            }
        }
        let cmd: Vec<String> = plan.args.iter().map(|a| shell_quote(a)).collect();
        println!("{} {}", plan.program, cmd.join(" "));
        if !args.test {
            println!("# artifact: {}", plan.artifact.display());
        }
        return Ok(());
    }

    let zigbuild = check_toolchain()?;
    let mut cmd = Command::new(&zigbuild);
    cmd.args(&plan.args).current_dir(&root);
    for (k, v) in &plan.env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let what = match &board_name {
        Some(n) => format!("board {n}"),
        None => format!("target {target}"),
    };
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {}: {e}", zigbuild.display()))?;
    if !status.success() {
        let code = status
            .code()
            .map(|c| c.to_string())
            .unwrap_or_else(|| "a signal".into());
        let step = if args.test {
            "tests failed"
        } else {
            "build failed"
        };
        return Err(format!(
            "{step} for {what} (cargo-zigbuild exited with {code})"
        ));
    }
    if args.test {
        return Ok(());
    }
    let meta = std::fs::metadata(&plan.artifact).map_err(|e| {
        format!(
            "build for {what} succeeded but {} is missing: {e}",
            plan.artifact.display()
        )
    })?;

    if let Some(n) = &board_name {
        println!("board: {n}");
    }
    println!("target: {}", plan.target);
    if let Some(c) = &plan.cpu {
        println!("cpu: {c}");
    }
    // A plain target build without --no-default-features also has the crate's defaults.
    let mut shown = Vec::new();
    if board_name.is_none() && !args.no_default_features {
        shown.push("default".to_string());
    }
    shown.extend(plan.features.iter().cloned());
    println!(
        "features: {}",
        if shown.is_empty() {
            "(none)".to_string()
        } else {
            shown.join(",")
        }
    );
    println!("profile: {}", if args.debug { "dev" } else { "release" });
    println!("artifact: {}", plan.artifact.display());
    println!("size: {} bytes", meta.len());
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("fws-board: {e}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fws-board: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Args, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn args_board() {
        let a = p(&[
            "--board",
            "ath79-generic",
            "--features",
            "tls,cgi",
            "--features=auth",
            "--debug",
        ])
        .unwrap();
        assert_eq!(a.mode, Mode::Board("ath79-generic".into()));
        assert_eq!(a.features, vec!["tls", "cgi", "auth"]);
        assert!(a.debug);
        assert!(!a.dry_run);
        assert_eq!(
            p(&["--board=host.toml"]).unwrap().mode,
            Mode::Board("host".into())
        );
    }

    #[test]
    fn args_target_and_list() {
        assert_eq!(
            p(&["--target", "mips-unknown-linux-musl"]).unwrap().mode,
            Mode::Target("mips-unknown-linux-musl".into())
        );
        assert_eq!(p(&["--list"]).unwrap().mode, Mode::List);
        assert_eq!(p(&["--help"]).unwrap().mode, Mode::Help);
    }

    #[test]
    fn args_errors() {
        assert!(p(&[]).unwrap_err().contains("give --board"));
        assert!(p(&["--board"]).unwrap_err().contains("needs a value"));
        assert!(p(&["--board", "../x"])
            .unwrap_err()
            .contains("bad board name"));
        assert!(p(&["--target", "x86_64-unknown-linux-gnu"])
            .unwrap_err()
            .contains("unsupported target"));
        assert!(p(&["--board", "a", "--list"])
            .unwrap_err()
            .contains("one of"));
        assert!(p(&["--bogus"]).unwrap_err().contains("unknown argument"));
        assert!(p(&["--debug=1", "--list"])
            .unwrap_err()
            .contains("takes no value"));
        assert!(p(&["--list", "--features", "-x"])
            .unwrap_err()
            .contains("bad feature"));
    }

    #[test]
    fn rustflags_var_name() {
        assert_eq!(
            target_rustflags_var("mips-unknown-linux-musl"),
            "CARGO_TARGET_MIPS_UNKNOWN_LINUX_MUSL_RUSTFLAGS"
        );
        assert_eq!(
            target_rustflags_var("armv7-unknown-linux-musleabihf"),
            "CARGO_TARGET_ARMV7_UNKNOWN_LINUX_MUSLEABIHF_RUSTFLAGS"
        );
    }

    fn env_of<'a>(plan: &'a Plan, k: &str) -> Option<&'a Option<String>> {
        plan.env.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v)
    }

    #[test]
    fn plan_for_board() {
        let root = Path::new("/repo");
        let file = Path::new("/repo/board-configs/ath79-generic.toml");
        let path = OsString::from("/root/.cargo/bin:/usr/bin");
        let pl = plan(
            root,
            "mips-unknown-linux-musl",
            Some("mips32r2"),
            Some(("ath79-generic", file)),
            &["tls".to_string()],
            Action::Build {
                debug: false,
                no_default_features: false,
            },
            Some(&path),
        );
        assert_eq!(pl.program, "cargo-zigbuild");
        assert_eq!(
            pl.args,
            [
                "build",
                "--release",
                "--target",
                "mips-unknown-linux-musl",
                "-Zbuild-std=std,panic_abort",
                "-p",
                "firmware-server",
                "--bin",
                "firmware-server",
                "--no-default-features",
                "--features",
                "tls",
                "--manifest-path",
                "/repo/Cargo.toml"
            ]
        );
        assert_eq!(
            pl.artifact,
            Path::new("/repo/target/cross/mips-unknown-linux-musl/mips-unknown-linux-musl/release/firmware-server")
        );
        assert_eq!(
            env_of(&pl, "FWS_BOARD_CONFIG"),
            Some(&Some(file.display().to_string()))
        );
        assert_eq!(
            env_of(&pl, "CARGO_TARGET_MIPS_UNKNOWN_LINUX_MUSL_RUSTFLAGS"),
            Some(&Some("-C target-cpu=mips32r2".to_string()))
        );
        assert_eq!(env_of(&pl, "RUSTFLAGS"), Some(&None));
        assert_eq!(
            env_of(&pl, "RUSTC"),
            Some(&Some("/usr/bin/rustc".to_string()))
        );
        assert_eq!(env_of(&pl, "RUSTC_BOOTSTRAP"), Some(&Some("1".to_string())));
        assert_eq!(
            env_of(&pl, "PATH"),
            Some(&Some("/usr/bin:/root/.cargo/bin:/usr/bin".to_string()))
        );
        assert_eq!(
            env_of(&pl, "CARGO_TARGET_DIR"),
            Some(&Some(
                "/repo/target/cross/mips-unknown-linux-musl".to_string()
            ))
        );
    }

    #[test]
    fn plan_for_plain_target_debug() {
        let pl = plan(
            Path::new("/r"),
            "armv7-unknown-linux-musleabihf",
            None,
            None,
            &[],
            Action::Build {
                debug: true,
                no_default_features: false,
            },
            None,
        );
        assert!(pl.args.contains(&"-Zbuild-std".to_string()));
        assert!(!pl.args.contains(&"--release".to_string()));
        assert!(!pl.args.contains(&"--features".to_string()));
        assert!(!pl.args.contains(&"--no-default-features".to_string()));
        assert_eq!(env_of(&pl, "FWS_BOARD_CONFIG"), Some(&None));
        assert_eq!(
            env_of(&pl, "CARGO_TARGET_ARMV7_UNKNOWN_LINUX_MUSLEABIHF_RUSTFLAGS"),
            Some(&None)
        );
        assert!(pl
            .artifact
            .ends_with("armv7-unknown-linux-musleabihf/debug/firmware-server"));
    }

    #[test]
    fn plan_for_bare_target() {
        let a = p(&[
            "--target",
            "mipsel-unknown-linux-musl",
            "--no-default-features",
            "--features",
            "logger",
        ])
        .unwrap();
        assert!(a.no_default_features);
        let pl = plan(
            Path::new("/r"),
            "mipsel-unknown-linux-musl",
            None,
            None,
            &a.features,
            Action::Build {
                debug: false,
                no_default_features: a.no_default_features,
            },
            None,
        );
        let args = pl.args.join(" ");
        assert!(
            args.contains(
                "-p firmware-server --bin firmware-server --no-default-features --features logger"
            ),
            "{args}"
        );
        assert!(p(&["--list", "--no-default-features"])
            .unwrap_err()
            .contains("--no-default-features needs"));
    }

    #[test]
    fn plan_for_test() {
        let extra = vec!["--nocapture".to_string()];
        let pl = plan(
            Path::new("/r"),
            "mips-unknown-linux-musl",
            None,
            None,
            &[],
            Action::Test {
                package: "fws-tls-selftest",
                passthrough: &extra,
            },
            None,
        );
        assert_eq!(
            pl.args,
            [
                "test",
                "--target",
                "mips-unknown-linux-musl",
                "-Zbuild-std",
                "-p",
                "fws-tls-selftest",
                "--manifest-path",
                "/r/Cargo.toml",
                "--",
                "--nocapture"
            ]
        );
    }

    #[test]
    fn args_test_mode() {
        let a = p(&[
            "--target",
            "mips-unknown-linux-musl",
            "--test",
            "-p",
            "fws-tls-selftest",
            "--",
            "--nocapture",
        ])
        .unwrap();
        assert!(a.test);
        assert_eq!(a.package.as_deref(), Some("fws-tls-selftest"));
        assert_eq!(a.passthrough, vec!["--nocapture"]);
        assert!(p(&["--board", "x", "-p", "y"])
            .unwrap_err()
            .contains("--package goes with --test"));
        assert!(p(&["--board", "x", "--", "y"])
            .unwrap_err()
            .contains("go with --test"));
        assert!(p(&["--list", "--test"])
            .unwrap_err()
            .contains("--test needs"));
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("-C target-cpu=x"), "'-C target-cpu=x'");
        assert_eq!(shell_quote("/usr/bin"), "/usr/bin");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
