//! The `firmware-server` command.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use firmware_server::config::{self, cli};
use firmware_server::plugins::{self, Registry};
use firmware_server::server::Server;
use firmware_server::{sys, BOARD_CONFIG, VERSION};

fn main() -> ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == "ctl") {
        args.remove(0);
        return ctl(args);
    }
    let cli = match cli::parse_args(args) {
        Ok(cli::Command::Run(cli)) => cli,
        Ok(cli::Command::Help) => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(cli::Command::Version) => {
            println!("firmware-server {VERSION}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("firmware-server: {msg}");
            return ExitCode::from(2);
        }
    };
    let board = (!BOARD_CONFIG.trim().is_empty()).then_some(BOARD_CONFIG);
    let cfg = match config::build(&cli, board) {
        Ok(cfg) => cfg,
        Err(errors) => {
            for e in errors {
                eprintln!("{e}");
            }
            return ExitCode::from(1);
        }
    };
    let registry = match Registry::init(&cfg, &plugins::env(&cfg, Server::worker_count(&cfg))) {
        Ok(r) => Arc::new(r),
        Err(errors) => {
            for e in errors {
                eprintln!("{e}");
            }
            return ExitCode::from(1);
        }
    };
    if cli.check_config {
        print!("{}{}", cfg.to_config_text(), registry.config_text());
        return ExitCode::SUCCESS;
    }

    let mut logger = env_logger::Builder::new();
    logger.filter_level(cfg.log_level);
    if let Ok(spec) = std::env::var("RUST_LOG") {
        logger.parse_filters(&spec);
    }
    // The logger plugin may have installed its own error log already.
    let _ = logger.try_init();

    let signals = match sys::signal_pipe() {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("firmware-server: cannot install signal handlers: {e}");
            return ExitCode::from(1);
        }
    };
    let server = match Server::start(&cfg, registry, None) {
        Ok(s) => s,
        Err(msg) => {
            eprintln!("firmware-server: {msg}");
            return ExitCode::from(1);
        }
    };
    for addr in server.addrs() {
        println!("listening on http://{addr}/");
        log::info!(
            "listening on http://{addr}/, docroot {}",
            cfg.root.display()
        );
    }
    match server.run(Some(signals), Arc::new(AtomicBool::new(false))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("firmware-server: {e}");
            ExitCode::from(1)
        }
    }
}

/// `firmware-server ctl [--config FILE] COMMAND...`: talks to a running
/// server's control socket (the ctl plugin), found through the same
/// configuration layers as the server's.
fn ctl(mut args: Vec<std::ffi::OsString>) -> ExitCode {
    let mut cli = cli::Cli::default();
    if let Some(i) = args.iter().position(|a| a == "--config") {
        if i + 1 >= args.len() {
            eprintln!("firmware-server: ctl: --config needs a file");
            return ExitCode::from(2);
        }
        cli.config = Some(args.remove(i + 1).into());
        args.remove(i);
    }
    let board = (!BOARD_CONFIG.trim().is_empty()).then_some(BOARD_CONFIG);
    let cfg = match config::build(&cli, board) {
        Ok(cfg) => cfg,
        Err(errors) => {
            for e in errors {
                eprintln!("{e}");
            }
            return ExitCode::from(1);
        }
    };
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    run_ctl(&cfg, &args)
}

#[cfg(feature = "ctl")]
fn run_ctl(cfg: &config::Config, args: &[String]) -> ExitCode {
    let sections: Vec<fws_api::plugin::Section<'_>> = cfg
        .plugin_sections
        .iter()
        .filter(|s| s.plugin == "ctl")
        .map(|s| fws_api::plugin::Section {
            file: &s.file,
            table: &s.table,
        })
        .collect();
    ExitCode::from(fws_ctl::client(args, &sections))
}

#[cfg(not(feature = "ctl"))]
fn run_ctl(_cfg: &config::Config, _args: &[String]) -> ExitCode {
    eprintln!("firmware-server: ctl: this build does not include the ctl plugin");
    ExitCode::from(2)
}
