//! The dirlisting plugin (being written).
#![forbid(unsafe_code)]

use fws_api::plugin::{Env, Plugin, Section};

pub struct DirListing;

impl Plugin for DirListing {
    const NAME: &'static str = "dirlisting";
    type Worker = ();

    fn init(sections: &[Section<'_>], _env: &Env) -> Result<Self, Vec<String>> {
        match sections.first() {
            Some(s) => Err(vec![format!(
                "{}:{}: the dirlisting plugin is not finished",
                s.file, s.table.line
            )]),
            None => Ok(DirListing),
        }
    }

    fn worker(&self, _id: usize) -> Self::Worker {}
}
