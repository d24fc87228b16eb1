//! The static plugin registry, generated from the enabled Cargo features.
//!
//! Each line of the `registry!` invocation names a feature, a field and a
//! plugin type. A plugin whose feature is off is not compiled, has no field,
//! and its hooks are not called: with no plugins every dispatch function is
//! empty and inlines to nothing. Hooks run in the order of the list.

#![allow(
    unused_variables,
    unused_mut,
    unused_assignments,
    dead_code,
    clippy::let_unit_value
)]

use std::os::fd::OwnedFd;
use std::time::Instant;

#[allow(unused_imports)]
use fws_api::plugin::Plugin;

use fws_api::plugin::{
    ConnInfo, Content, Control, Env, Exchange, LogRecord, Reply, Section, Transport, Verdict,
};

use crate::config::Config;

/// What plugins are told at init, from the configuration.
pub fn env(cfg: &Config, workers: usize) -> Env {
    let mut roots = vec![cfg.root.clone()];
    roots.extend(cfg.vhosts.iter().map(|v| v.root.clone()));
    Env {
        roots,
        vhost_names: cfg.vhosts.iter().map(|v| v.names.clone()).collect(),
        workers,
    }
}

fn sections<'a>(cfg: &'a Config, name: &str) -> Vec<Section<'a>> {
    cfg.plugin_sections
        .iter()
        .filter(|s| s.plugin == name)
        .map(|s| Section {
            file: &s.file,
            table: &s.table,
        })
        .collect()
}

macro_rules! registry {
    ($( $feat:literal => $field:ident : $ty:ty ),* $(,)?) => {
        /// Every plugin of the project, compiled in or not.
        pub const ALL: &[&str] = &[$($feat),*];

        /// Whether plugin `name` is compiled into this build.
        pub fn enabled(name: &str) -> bool {
            $( if cfg!(feature = $feat) && name == $feat { return true; } )*
            false
        }

        /// Names of the plugins compiled in.
        pub fn names() -> Vec<&'static str> {
            let mut v = Vec::new();
            $( if cfg!(feature = $feat) { v.push($feat); } )*
            v
        }

        /// The process-wide plugin instances.
        pub struct Registry {
            $( #[cfg(feature = $feat)] $field: $ty, )*
        }

        /// One worker's plugin states.
        pub struct Workers {
            $( #[cfg(feature = $feat)] $field: <$ty as Plugin>::Worker, )*
        }

        impl Registry {
            /// Initialises every plugin with its sections; all errors are returned.
            pub fn init(cfg: &Config, env: &Env) -> Result<Registry, Vec<String>> {
                let mut errs: Vec<String> = Vec::new();
                $(
                    #[cfg(feature = $feat)]
                    let $field = match <$ty as Plugin>::init(&sections(cfg, $feat), env) {
                        Ok(p) => Some(p),
                        Err(e) => {
                            errs.extend(e);
                            None
                        }
                    };
                )*
                if !errs.is_empty() {
                    return Err(errs);
                }
                Ok(Registry {
                    $( #[cfg(feature = $feat)] $field: match $field {
                        Some(p) => p,
                        None => return Err(errs),
                    }, )*
                })
            }

            /// Each plugin's effective configuration, in config-file syntax.
            pub fn config_text(&self) -> String {
                let mut out = String::new();
                $( #[cfg(feature = $feat)] out.push_str(&self.$field.config_text()); )*
                out
            }

            /// Listeners the plugins own, with the index of the owning plugin.
            pub fn listeners(&self) -> Vec<(std::net::SocketAddr, usize)> {
                let mut v = Vec::new();
                let mut i = 0usize;
                $(
                    #[cfg(feature = $feat)]
                    for a in self.$field.listeners() {
                        v.push((a, i));
                    }
                    i += 1;
                )*
                v
            }

            pub fn workers(&self, id: usize) -> Workers {
                Workers { $( #[cfg(feature = $feat)] $field: self.$field.worker(id), )* }
            }

            pub fn start(&self, ctl: std::sync::Arc<dyn Control>) {
                $( #[cfg(feature = $feat)] self.$field.start(ctl.clone()); )*
            }

            #[inline]
            pub fn accept(&self, w: &mut Workers, conn: &ConnInfo) -> Verdict {
                $(
                    #[cfg(feature = $feat)]
                    match self.$field.accept(&mut w.$field, conn) {
                        Verdict::Continue => {}
                        v => return v,
                    }
                )*
                Verdict::Continue
            }

            /// Asks plugin number `owner` (its position in the list) to wrap a connection.
            pub fn transport(&self, w: &mut Workers, owner: usize, conn: &ConnInfo) -> Option<Box<dyn Transport>> {
                let mut i = 0usize;
                $(
                    #[cfg(feature = $feat)]
                    if i == owner {
                        return self.$field.transport(&mut w.$field, conn);
                    }
                    i += 1;
                )*
                None
            }

            #[inline]
            pub fn request(&self, w: &mut Workers, x: &mut Exchange<'_, '_>, reply: &mut Reply<'_>) -> Verdict {
                $(
                    #[cfg(feature = $feat)]
                    match self.$field.request(&mut w.$field, x, reply) {
                        Verdict::Continue => {}
                        v => return v,
                    }
                )*
                Verdict::Continue
            }

            #[inline]
            pub fn content(&self, w: &mut Workers, x: &mut Exchange<'_, '_>, reply: &mut Reply<'_>) -> Content {
                $(
                    #[cfg(feature = $feat)]
                    match self.$field.content(&mut w.$field, x, reply) {
                        Content::Decline => {}
                        c => return c,
                    }
                )*
                Content::Decline
            }

            pub fn directory(&self, w: &mut Workers, x: &mut Exchange<'_, '_>, dir: OwnedFd, reply: &mut Reply<'_>) -> Content {
                $(
                    #[cfg(feature = $feat)]
                    let dir = match dir.try_clone() {
                        Ok(d) => match self.$field.directory(&mut w.$field, x, d, reply) {
                            Content::Decline => dir,
                            c => return c,
                        },
                        Err(_) => return Content::Decline,
                    };
                )*
                drop(dir);
                Content::Decline
            }

            /// Whether any plugin wants access-log records.
            pub fn wants_log(&self) -> bool {
                $( #[cfg(feature = $feat)] if self.$field.wants_log() { return true; } )*
                false
            }

            #[inline]
            pub fn logged(&self, w: &mut Workers, rec: &LogRecord<'_>) {
                $( #[cfg(feature = $feat)] self.$field.logged(&mut w.$field, rec); )*
            }

            #[inline]
            pub fn closed(&self, w: &mut Workers, conn: &ConnInfo) {
                $( #[cfg(feature = $feat)] self.$field.closed(&mut w.$field, conn); )*
            }

            pub fn stop(&self) {
                $( #[cfg(feature = $feat)] self.$field.stop(); )*
            }

            pub fn reload(&self) {
                $( #[cfg(feature = $feat)] self.$field.reload(); )*
            }

            pub fn tick(&self, w: &mut Workers, now: Instant) {
                $( #[cfg(feature = $feat)] self.$field.tick(&mut w.$field, now); )*
            }

            /// Runs `ctl NAME ARGS...` on plugin NAME.
            pub fn command(&self, name: &str, args: &[&str]) -> Option<Result<String, String>> {
                $(
                    #[cfg(feature = $feat)]
                    if name == $feat {
                        return self.$field.command(args);
                    }
                )*
                None
            }
        }
    };
}

registry! {
    "access" => access: fws_access::Access,
    "tls" => tls: fws_tls::Tls,
    "auth" => auth: fws_auth::Auth,
    "testkit" => testkit: fws_testkit::TestKit,
    "cgi" => cgi: fws_cgi::Cgi,
    "fastcgi" => fastcgi: fws_fastcgi::FastCgi,
    "dirlisting" => dirlisting: fws_dirlisting::DirListing,
    "logger" => logger: fws_logger::Logger,
    "ctl" => ctl: fws_ctl::Ctl,
}
