//! The testkit plugin (being written).
#![forbid(unsafe_code)]

use fws_api::plugin::{Env, Plugin, Section};

pub struct TestKit;

impl Plugin for TestKit {
    const NAME: &'static str = "testkit";
    type Worker = ();

    fn init(sections: &[Section<'_>], _env: &Env) -> Result<Self, Vec<String>> {
        match sections.first() {
            Some(s) => Err(vec![format!(
                "{}:{}: the testkit plugin is not finished",
                s.file, s.table.line
            )]),
            None => Ok(TestKit),
        }
    }

    fn worker(&self, _id: usize) -> Self::Worker {}
}
