//! The logger plugin (being written).
#![forbid(unsafe_code)]

use fws_api::plugin::{Env, Plugin, Section};

pub struct Logger;

impl Plugin for Logger {
    const NAME: &'static str = "logger";
    type Worker = ();

    fn init(sections: &[Section<'_>], _env: &Env) -> Result<Self, Vec<String>> {
        match sections.first() {
            Some(s) => Err(vec![format!(
                "{}:{}: the logger plugin is not finished",
                s.file, s.table.line
            )]),
            None => Ok(Logger),
        }
    }

    fn worker(&self, _id: usize) -> Self::Worker {}
}
