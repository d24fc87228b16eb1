//! The FastCGI record decoder (what a backend sends the server), fed
//! arbitrary bytes in pieces whose size the first byte picks: it never
//! panics, never loops, and holds at most a record header and a bounded
//! small record, whatever the split (`fws_fastcgi::codec::fuzz_decode`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&step, data)) = data.split_first() else {
        return;
    };
    fws_fastcgi::codec::fuzz_decode(data, step as usize % 64 + 1);
});
