//! The CGI/FastCGI response-head parser (`fws_api::gateway`), fed what a
//! script prints. The first byte picks a split size: the head must parse to
//! the same result whole and in pieces, and whatever it accepts must write
//! an HTTP head that cannot be split by the values it carries.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fws_api::gateway::fuzz_head(data));
