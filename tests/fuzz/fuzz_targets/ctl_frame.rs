//! The ctl protocol's frame decoder (what the server reads from a local
//! client, and what the client reads back). Any payload decodes or is
//! refused without panicking; a decoded command or answer re-encodes to a
//! well-formed frame (its length prefix names its payload) that decodes to
//! the same value; the length prefix check never accepts more than the
//! limit.
#![no_main]

use fws_ctl::proto::{
    decode_answer, decode_command, encode_answer, encode_command, frame_len, MAX_REQUEST,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() >= 4 {
        let prefix = [data[0], data[1], data[2], data[3]];
        if let Ok(n) = frame_len(prefix, MAX_REQUEST) {
            assert!(n <= MAX_REQUEST);
            assert_eq!(n as u32, u32::from_be_bytes(prefix));
        }
    }
    if let Ok(cmd) = decode_command(data) {
        let frame = encode_command(&cmd);
        let payload = &frame[4..];
        assert_eq!(
            frame_len(frame[..4].try_into().unwrap(), usize::MAX),
            Ok(payload.len())
        );
        assert_eq!(decode_command(payload), Ok(cmd));
    }
    if let Ok(answer) = decode_answer(data) {
        let frame = encode_answer(&answer);
        let payload = &frame[4..];
        assert_eq!(decode_answer(payload), Ok(answer));
    }
});
