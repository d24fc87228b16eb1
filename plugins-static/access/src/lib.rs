//! The access plugin (being written).
#![forbid(unsafe_code)]

use fws_api::plugin::{Env, Plugin, Section};

pub struct Access;

impl Plugin for Access {
    const NAME: &'static str = "access";
    type Worker = ();

    fn init(sections: &[Section<'_>], _env: &Env) -> Result<Self, Vec<String>> {
        match sections.first() {
            Some(s) => Err(vec![format!(
                "{}:{}: the access plugin is not finished",
                s.file, s.table.line
            )]),
            None => Ok(Access),
        }
    }

    fn worker(&self, _id: usize) -> Self::Worker {}
}
