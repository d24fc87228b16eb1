//! The ctl plugin (being written).
#![forbid(unsafe_code)]

use fws_api::plugin::{Env, Plugin, Section};

pub struct Ctl;

impl Plugin for Ctl {
    const NAME: &'static str = "ctl";
    type Worker = ();

    fn init(sections: &[Section<'_>], _env: &Env) -> Result<Self, Vec<String>> {
        match sections.first() {
            Some(s) => Err(vec![format!(
                "{}:{}: the ctl plugin is not finished",
                s.file, s.table.line
            )]),
            None => Ok(Ctl),
        }
    }

    fn worker(&self, _id: usize) -> Self::Worker {}
}
