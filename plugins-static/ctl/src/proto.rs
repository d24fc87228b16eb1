//! The control protocol, sans I/O.
//!
//! A frame is a 4-byte big-endian payload length followed by the payload: a
//! `postcard` encoding of the protocol version (`u16`, first, so that a
//! mismatch is recognised before the rest is decoded) and then a
//! [`Command`] (client to server) or an [`Answer`] (server to client).
//!
//! Limits: a request payload is at most [`MAX_REQUEST`] bytes, a reply at
//! most [`MAX_REPLY`]. Decoding never panics on any input and allocates at
//! most what the (already bounded) payload can describe.

use serde::{Deserialize, Serialize};

/// Bumped on any incompatible change of the types below.
pub const PROTOCOL: u16 = 1;
/// Largest request payload the server reads.
pub const MAX_REQUEST: usize = 64 * 1024;
/// Largest reply payload the client reads.
pub const MAX_REPLY: usize = 16 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    Status,
    Connections,
    Config,
    /// Log lines after sequence number `after` (0: from the oldest kept).
    Log {
        after: u64,
    },
    ReopenLogs,
    /// A command addressed to a plugin (`ctl tls reload-certs`).
    Plugin {
        name: String,
        args: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Answer {
    Error(String),
    Status(StatusReply),
    Connections(Vec<Connection>),
    Config(String),
    Log(LogChunk),
    /// A command that only succeeded; the text says what was done.
    Done(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReply {
    pub version: String,
    pub uptime_secs: u64,
    pub features: Vec<String>,
    /// Connections answered 503 because every slot was taken.
    pub refused: u64,
    pub workers: Vec<WorkerReply>,
    /// The logger plugin's `stats` reply: `None` without a logger plugin.
    pub logger: Option<Result<String, String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerReply {
    pub live: u64,
    pub capacity: u64,
    pub requests: u64,
    pub bytes: u64,
    pub errors: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub worker: u32,
    pub peer: String,
    pub local: String,
    pub state: String,
    pub requests: u32,
    pub secure: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogChunk {
    /// Ask for lines after this next time.
    pub next: u64,
    pub lines: Vec<String>,
    /// Lines that were gone from the ring before they could be read.
    pub missed: u64,
}

/// A frame: length prefix, version, value.
fn frame<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![0u8; 4];
    match postcard::to_extend(&(PROTOCOL, value), out) {
        Ok(v) => out = v,
        // Serialising plain data into a Vec cannot fail; answer with an
        // empty frame rather than panic.
        Err(_) => out = vec![0u8; 4],
    }
    let len = u32::try_from(out.len() - 4).unwrap_or(u32::MAX);
    out[..4].copy_from_slice(&len.to_be_bytes());
    out
}

pub fn encode_command(cmd: &Command) -> Vec<u8> {
    frame(cmd)
}

pub fn encode_answer(answer: &Answer) -> Vec<u8> {
    frame(answer)
}

/// Splits the version off a payload and decodes the rest, which must be
/// used up exactly.
fn decode<'a, T: Deserialize<'a>>(payload: &'a [u8], peer: &str) -> Result<T, String> {
    let (version, rest) = postcard::take_from_bytes::<u16>(payload)
        .map_err(|_| "malformed frame (no protocol version)".to_string())?;
    if version != PROTOCOL {
        return Err(format!(
            "protocol version {version} is not supported ({peer} speaks version {PROTOCOL})"
        ));
    }
    match postcard::take_from_bytes::<T>(rest) {
        Ok((v, [])) => Ok(v),
        Ok((_, extra)) => Err(format!("malformed frame ({} trailing bytes)", extra.len())),
        Err(e) => Err(format!("malformed frame ({e})")),
    }
}

/// Decodes a request payload (the server side).
pub fn decode_command(payload: &[u8]) -> Result<Command, String> {
    decode(payload, "this server")
}

/// Decodes a reply payload (the client side).
pub fn decode_answer(payload: &[u8]) -> Result<Answer, String> {
    decode(payload, "this client")
}

/// Checks a length prefix against a limit.
pub fn frame_len(prefix: [u8; 4], max: usize) -> Result<usize, String> {
    let n = u32::from_be_bytes(prefix) as usize;
    if n == 0 {
        Err("empty frame".into())
    } else if n > max {
        Err(format!("frame too large ({n} bytes, the limit is {max})"))
    } else {
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(frame: &[u8]) -> &[u8] {
        let n = frame_len(frame[..4].try_into().unwrap(), MAX_REPLY).unwrap();
        assert_eq!(frame.len(), 4 + n);
        &frame[4..]
    }

    #[test]
    fn commands_round_trip() {
        for c in [
            Command::Status,
            Command::Connections,
            Command::Config,
            Command::Log { after: 0 },
            Command::Log { after: u64::MAX },
            Command::ReopenLogs,
            Command::Plugin {
                name: "tls".into(),
                args: vec!["reload-certs".into()],
            },
        ] {
            let f = encode_command(&c);
            assert_eq!(decode_command(payload(&f)), Ok(c));
        }
    }

    #[test]
    fn answers_round_trip() {
        let answers = [
            Answer::Error("x".into()),
            Answer::Config("[server]\n".into()),
            Answer::Done("ok".into()),
            Answer::Connections(vec![Connection {
                worker: 1,
                peer: "127.0.0.1:5".into(),
                local: "[::1]:80".into(),
                state: "idle".into(),
                requests: 3,
                secure: false,
            }]),
            Answer::Log(LogChunk {
                next: 9,
                lines: vec!["a".into(), "b".into()],
                missed: 1,
            }),
            Answer::Status(StatusReply {
                version: "0.1.0".into(),
                uptime_secs: 5,
                features: vec!["ctl".into()],
                refused: 0,
                workers: vec![WorkerReply {
                    live: 1,
                    capacity: 2,
                    requests: 3,
                    bytes: 4,
                    errors: 5,
                }],
                logger: Some(Err("no ring".into())),
            }),
        ];
        for a in answers {
            let f = encode_answer(&a);
            assert_eq!(decode_answer(payload(&f)), Ok(a));
        }
    }

    #[test]
    fn bad_payloads() {
        let cases: &[(&[u8], &str)] = &[
            (&[], "no protocol version"),
            (&[0xff], "no protocol version"),
            (&[2, 0], "protocol version 2 is not supported"),
            (&[0x80, 0x01, 0], "protocol version 128"),
            (&[1], "malformed frame"),
            (&[1, 99], "malformed frame"),
            (&[1, 0, 0], "1 trailing bytes"),
            (&[1, 3, 0xff], "malformed frame"),
        ];
        for (p, want) in cases {
            let e = decode_command(p).unwrap_err();
            assert!(e.contains(want), "{p:?}: {e}");
        }
        // Deterministic fuzz: never panics.
        let mut x: u32 = 0x1234_5678;
        for len in 0..2000usize {
            let p: Vec<u8> = (0..len % 64)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    (x >> 24) as u8
                })
                .collect();
            let _ = decode_command(&p);
            let _ = decode_answer(&p);
            let mut q = p.clone();
            q.insert(0, 1);
            let _ = decode_command(&q);
            let _ = decode_answer(&q);
        }
        // A huge announced string length is refused, not allocated.
        assert!(decode_answer(&[1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
    }

    #[test]
    fn frame_lengths() {
        assert_eq!(frame_len([0, 0, 0, 1], 10), Ok(1));
        assert_eq!(frame_len([0, 1, 0, 0], 65536), Ok(65536));
        assert!(frame_len([0, 1, 0, 1], 65536)
            .unwrap_err()
            .contains("too large"));
        assert!(frame_len([0, 0, 0, 0], 10).unwrap_err().contains("empty"));
        assert!(frame_len([0xff; 4], 10).is_err());
    }
}
