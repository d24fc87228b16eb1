//! The ctl plugin: a control socket for a running server, and the
//! `firmware-server ctl` client that talks to it.
//!
//! ## Configuration
//! The socket is served only when the config has a `[ctl]` section (an
//! empty `[ctl]` uses the defaults):
//!
//! ```toml
//! [ctl]
//! socket = "/var/run/firmware-server.sock"  # Unix socket path (at most 107 bytes)
//! max_clients = 4                           # control connections at once, 1..=64
//! timeout = "10s"                           # a client silent this long is dropped (100ms..1h)
//! ```
//!
//! ## Server
//! In the process context ([`Plugin::start`]) the socket is bound: a stale
//! socket file (nobody answers on it) is removed; if another server answers
//! on it, or the path is not a socket, or it cannot be bound, the server
//! refuses to start (`firmware-server: ctl: ...` on stderr, exit 1). The
//! socket is mode 0600. A thread of its own then runs a small
//! single-threaded executor (`async-executor` on `async-io`, the parts of
//! `smol`) that serves the connections (see [`server`]); the HTTP workers
//! never see it. The socket file is left behind when the server exits; the
//! next start removes it.
//!
//! ## Protocol
//! Length-prefixed (u32 big-endian), versioned `postcard` frames (see
//! [`proto`]): requests at most 64 KiB; a garbage frame, an oversized or
//! empty length prefix or a version mismatch gets an error reply and the
//! connection is closed; the server keeps running.
//!
//! ## Client
//! `firmware-server ctl [--config FILE] COMMAND [--socket PATH] [--json]`
//! with COMMAND one of `status`, `connections`, `config`, `log [--follow]`,
//! `reopen-logs` (see [`client::USAGE`]). Output is human-readable, or JSON
//! with `--json` (`log --json` prints one object per poll:
//! `{"next":N,"missed":M,"lines":[...]}`). Errors are one line on stderr and
//! exit 1; a bad command line exits 2.
//!
//! `status` reports log drops from the logger plugin's `stats` command and
//! `log` reads its RAM ring (`ring SEQ`); `reopen-logs` runs its `reopen`
//! command and then what SIGHUP does ([`Control::reload`]). Without the
//! logger plugin, `status` says so, `log` is an error and `reopen-logs`
//! only reloads.
#![forbid(unsafe_code)]

pub mod client;
pub mod config;
pub mod proto;
pub mod ring;
pub mod server;

use std::sync::Arc;

use fws_api::plugin::{Control, Env, Plugin, Section};

pub use client::client;
use config::CtlConfig;

pub struct Ctl {
    /// `None`: no `[ctl]` section, nothing is served.
    cfg: Option<CtlConfig>,
}

impl Plugin for Ctl {
    const NAME: &'static str = "ctl";
    type Worker = ();

    fn init(sections: &[Section<'_>], _env: &Env) -> Result<Self, Vec<String>> {
        if sections.is_empty() {
            return Ok(Ctl { cfg: None });
        }
        Ok(Ctl {
            cfg: Some(CtlConfig::from_sections(sections)?),
        })
    }

    fn config_text(&self) -> String {
        self.cfg.as_ref().map_or(String::new(), CtlConfig::text)
    }

    fn worker(&self, _id: usize) -> Self::Worker {}

    fn start(&self, ctl: Arc<dyn Control>) {
        let Some(cfg) = self.cfg.clone() else {
            return;
        };
        let listener = match server::bind(&cfg.socket) {
            Ok(l) => l,
            Err(m) => {
                // The plugin API has no way to fail a start: refuse to run
                // the way a start-up failure does.
                log::error!("ctl: {m}");
                eprintln!("firmware-server: ctl: {m}");
                std::process::exit(1);
            }
        };
        log::info!("ctl: control socket {}", cfg.socket.display());
        let spawned = std::thread::Builder::new()
            .name("fws-ctl".into())
            .spawn(move || server::serve(listener, ctl, cfg));
        if let Err(e) = spawned {
            log::error!("ctl: cannot start the control thread: {e}");
            eprintln!("firmware-server: ctl: cannot start the control thread: {e}");
            std::process::exit(1);
        }
    }
}
