//! The auth plugin (being written).
#![forbid(unsafe_code)]

use fws_api::plugin::{Env, Plugin, Section};

pub struct Auth;

impl Plugin for Auth {
    const NAME: &'static str = "auth";
    type Worker = ();

    fn init(sections: &[Section<'_>], _env: &Env) -> Result<Self, Vec<String>> {
        match sections.first() {
            Some(s) => Err(vec![format!(
                "{}:{}: the auth plugin is not finished",
                s.file, s.table.line
            )]),
            None => Ok(Auth),
        }
    }

    fn worker(&self, _id: usize) -> Self::Worker {}
}
