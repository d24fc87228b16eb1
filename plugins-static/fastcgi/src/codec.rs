//! The FastCGI record codec, sans I/O.
//!
//! Encoding (web server → application): `BEGIN_REQUEST`, `PARAMS`
//! (name-value pairs with 1- or 4-byte lengths), `STDIN`, `ABORT_REQUEST`,
//! `GET_VALUES`. Decoding (application → web server): `STDOUT`, `STDERR`,
//! `END_REQUEST`, `GET_VALUES_RESULT`, `UNKNOWN_TYPE`, incrementally over
//! any split of the input, without copying stream content, with every
//! length bounded by the record format itself (content ≤ 65535, padding
//! ≤ 255) and anything unexpected rejected: another version, another
//! request id, a record type the server never gets, a management record
//! with a request id, a short `END_REQUEST`, data after `END_REQUEST`.

/// Protocol version 1, the only one.
pub const VERSION: u8 = 1;
pub const BEGIN_REQUEST: u8 = 1;
pub const ABORT_REQUEST: u8 = 2;
pub const END_REQUEST: u8 = 3;
pub const PARAMS: u8 = 4;
pub const STDIN: u8 = 5;
pub const STDOUT: u8 = 6;
pub const STDERR: u8 = 7;
pub const DATA: u8 = 8;
pub const GET_VALUES: u8 = 9;
pub const GET_VALUES_RESULT: u8 = 10;
pub const UNKNOWN_TYPE: u8 = 11;

pub const RESPONDER: u16 = 1;
pub const AUTHORIZER: u16 = 2;
pub const FILTER: u16 = 3;

/// `BEGIN_REQUEST` flag: keep the connection open after the request.
pub const KEEP_CONN: u8 = 1;

/// `END_REQUEST` protocol status values.
pub const REQUEST_COMPLETE: u8 = 0;
pub const CANT_MPX_CONN: u8 = 1;
pub const OVERLOADED: u8 = 2;
pub const UNKNOWN_ROLE: u8 = 3;

/// Largest content of one record.
pub const MAX_CONTENT: usize = 0xffff;
/// Largest name or value length a pair may declare (31 bits).
pub const MAX_PAIR_LEN: usize = 0x7fff_ffff;
/// Most bytes of a management record's content kept (GET_VALUES_RESULT).
pub const MAX_MANAGEMENT: usize = 4096;

/// Appends one record header, the content and padding to a multiple of 8.
/// `content` must be at most [`MAX_CONTENT`] bytes (longer content is
/// split by the callers below).
fn record(out: &mut Vec<u8>, kind: u8, id: u16, content: &[u8]) {
    debug_assert!(content.len() <= MAX_CONTENT);
    let len = content.len().min(MAX_CONTENT);
    let pad = (8 - len % 8) % 8;
    out.extend_from_slice(&[
        VERSION,
        kind,
        (id >> 8) as u8,
        id as u8,
        (len >> 8) as u8,
        len as u8,
        pad as u8,
        0,
    ]);
    out.extend_from_slice(&content[..len]);
    out.extend_from_slice(&[0u8; 8][..pad]);
}

/// Appends a stream's content as records of at most [`MAX_CONTENT`] bytes
/// each; empty `content` appends the empty record that ends the stream.
pub fn encode_stream(out: &mut Vec<u8>, kind: u8, id: u16, content: &[u8]) {
    if content.is_empty() {
        record(out, kind, id, &[]);
    }
    for c in content.chunks(MAX_CONTENT) {
        record(out, kind, id, c);
    }
}

/// `BEGIN_REQUEST` for `role`, with `FCGI_KEEP_CONN` when `keep_conn`.
pub fn encode_begin(out: &mut Vec<u8>, id: u16, role: u16, keep_conn: bool) {
    let flags = if keep_conn { KEEP_CONN } else { 0 };
    record(
        out,
        BEGIN_REQUEST,
        id,
        &[(role >> 8) as u8, role as u8, flags, 0, 0, 0, 0, 0],
    );
}

/// `ABORT_REQUEST`.
pub fn encode_abort(out: &mut Vec<u8>, id: u16) {
    record(out, ABORT_REQUEST, id, &[]);
}

/// `STDIN` content (empty: the end of the request body).
pub fn encode_stdin(out: &mut Vec<u8>, id: u16, data: &[u8]) {
    encode_stream(out, STDIN, id, data);
}

/// `END_REQUEST` (what an application sends; for tests and fakes).
pub fn encode_end(out: &mut Vec<u8>, id: u16, app_status: u32, protocol_status: u8) {
    let a = app_status.to_be_bytes();
    record(
        out,
        END_REQUEST,
        id,
        &[a[0], a[1], a[2], a[3], protocol_status, 0, 0, 0],
    );
}

/// Appends one name-value pair (lengths ≤ 127 in one byte, else four).
/// Fails on a name or value longer than [`MAX_PAIR_LEN`].
pub fn encode_pair(out: &mut Vec<u8>, name: &[u8], value: &[u8]) -> Result<(), CodecError> {
    for len in [name.len(), value.len()] {
        if len > MAX_PAIR_LEN {
            return Err(CodecError::PairTooLong);
        }
        if len < 0x80 {
            out.push(len as u8);
        } else {
            out.extend_from_slice(&(len as u32 | 0x8000_0000).to_be_bytes());
        }
    }
    out.extend_from_slice(name);
    out.extend_from_slice(value);
    Ok(())
}

/// Builds a `PARAMS` stream: pairs are gathered, then [`Params::finish`]
/// appends them as records followed by the empty record that ends it.
#[derive(Debug, Default)]
pub struct Params {
    body: Vec<u8>,
    limit: usize,
}

impl Params {
    /// At most `limit` bytes of pairs in all (the rest is refused).
    pub fn new(limit: usize) -> Params {
        Params {
            body: Vec::new(),
            limit,
        }
    }

    /// Adds a pair; refuses it when the total would pass the limit.
    pub fn add(&mut self, name: &[u8], value: &[u8]) -> Result<(), CodecError> {
        if self.body.len() + name.len() + value.len() + 8 > self.limit {
            return Err(CodecError::ParamsTooLong);
        }
        encode_pair(&mut self.body, name, value)
    }

    pub fn len(&self) -> usize {
        self.body.len()
    }

    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    /// Appends the `PARAMS` records and the empty one.
    pub fn finish(&self, out: &mut Vec<u8>, id: u16) {
        for c in self.body.chunks(MAX_CONTENT) {
            record(out, PARAMS, id, c);
        }
        record(out, PARAMS, id, &[]);
    }
}

/// `GET_VALUES` asking for `names` (values empty).
pub fn encode_get_values(out: &mut Vec<u8>, names: &[&[u8]]) -> Result<(), CodecError> {
    let mut body = Vec::new();
    for n in names {
        encode_pair(&mut body, n, b"")?;
    }
    if body.len() > MAX_CONTENT {
        return Err(CodecError::ParamsTooLong);
    }
    record(out, GET_VALUES, 0, &body);
    Ok(())
}

/// One name-value pair, borrowed.
pub type Pair<'d> = (&'d [u8], &'d [u8]);

/// Splits name-value pair content into pairs (each borrowed from `data`).
pub fn parse_pairs(mut data: &[u8]) -> Result<Vec<Pair<'_>>, CodecError> {
    fn len(data: &mut &[u8]) -> Result<usize, CodecError> {
        let first = *data.first().ok_or(CodecError::BadPair)?;
        if first < 0x80 {
            *data = &data[1..];
            return Ok(first as usize);
        }
        let b = data.get(..4).ok_or(CodecError::BadPair)?;
        let n = u32::from_be_bytes([b[0] & 0x7f, b[1], b[2], b[3]]) as usize;
        *data = &data[4..];
        Ok(n)
    }
    let mut pairs = Vec::new();
    while !data.is_empty() {
        let nl = len(&mut data)?;
        let vl = len(&mut data)?;
        if nl.checked_add(vl).is_none_or(|t| t > data.len()) {
            return Err(CodecError::BadPair);
        }
        pairs.push((&data[..nl], &data[nl..nl + vl]));
        data = &data[nl + vl..];
    }
    Ok(pairs)
}

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodecError {
    /// A record of a version other than 1.
    Version(u8),
    /// A record for another request than the one in progress.
    RequestId(u16),
    /// A record type the web server never receives (or a management type
    /// with a request id, or an application type without one).
    Type(u8),
    /// A record whose content has the wrong size for its type.
    Length(u8),
    /// Data after `END_REQUEST`.
    AfterEnd,
    /// A malformed name-value pair.
    BadPair,
    /// A name or value longer than 2^31 - 1 bytes.
    PairTooLong,
    /// The parameters pass the configured limit.
    ParamsTooLong,
}

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CodecError::Version(v) => write!(f, "record of FastCGI version {v}"),
            CodecError::RequestId(id) => write!(f, "record for unexpected request id {id}"),
            CodecError::Type(t) => write!(f, "unexpected record type {t}"),
            CodecError::Length(t) => write!(f, "record of type {t} has a bad length"),
            CodecError::AfterEnd => f.write_str("data after END_REQUEST"),
            CodecError::BadPair => f.write_str("malformed name-value pair"),
            CodecError::PairTooLong => f.write_str("name or value too long"),
            CodecError::ParamsTooLong => f.write_str("parameters too long"),
        }
    }
}

/// One decoded event. Stream content comes in pieces as it arrives (one
/// record's content may be several events; empty records give none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'d> {
    Stdout(&'d [u8]),
    Stderr(&'d [u8]),
    /// `END_REQUEST`: the request is over.
    End {
        app_status: u32,
        protocol_status: u8,
    },
    /// `GET_VALUES_RESULT` content (parse with [`parse_pairs`]).
    Values(Vec<u8>),
    /// `UNKNOWN_TYPE`: the application did not understand a record type.
    UnknownType(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Gathering the 8-byte header (`have` bytes so far).
    Header,
    /// In a record's content.
    Content,
    /// Skipping its padding.
    Padding,
    /// `END_REQUEST` was seen.
    Ended,
}

/// Incremental decoder for the records of one request (id `id`) and the
/// management records (id 0) on the same connection.
#[derive(Debug, Clone)]
pub struct Decoder {
    id: u16,
    state: State,
    head: [u8; 8],
    have: usize,
    kind: u8,
    left: usize,
    pad: usize,
    /// Content of a small record being gathered (END_REQUEST, management).
    small: Vec<u8>,
    /// END_REQUEST was decoded; its padding is being skipped.
    ending: bool,
}

impl Decoder {
    pub fn new(id: u16) -> Decoder {
        Decoder {
            id,
            state: State::Header,
            head: [0; 8],
            have: 0,
            kind: 0,
            left: 0,
            pad: 0,
            small: Vec::new(),
            ending: false,
        }
    }

    /// Whether `END_REQUEST` was decoded.
    pub fn ended(&self) -> bool {
        self.state == State::Ended
    }

    /// Whether the input stopped on a record boundary (nothing partial).
    pub fn at_boundary(&self) -> bool {
        matches!(self.state, State::Ended) || (self.state == State::Header && self.have == 0)
    }

    /// Gives back the last `n` content bytes of a STDOUT/STDERR piece the
    /// caller could not take: they are decoded again next time.
    pub fn unread(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        if self.state != State::Content {
            // The piece ended its record: back into its content.
            self.state = State::Content;
        }
        self.left += n;
    }

    /// Starts over for the next request on a kept connection.
    pub fn reset(&mut self, id: u16) {
        *self = Decoder::new(id);
    }

    /// Decodes from `data`: returns how many bytes were used and at most
    /// one event. Call again with the rest until it uses nothing.
    pub fn decode<'d>(&mut self, data: &'d [u8]) -> Result<(usize, Option<Event<'d>>), CodecError> {
        let mut used = 0;
        loop {
            let rest = &data[used..];
            match self.state {
                State::Ended => {
                    return if rest.is_empty() {
                        Ok((used, None))
                    } else {
                        Err(CodecError::AfterEnd)
                    };
                }
                State::Header => {
                    if rest.is_empty() {
                        return Ok((used, None));
                    }
                    let n = (8 - self.have).min(rest.len());
                    self.head[self.have..self.have + n].copy_from_slice(&rest[..n]);
                    self.have += n;
                    used += n;
                    if self.have < 8 {
                        return Ok((used, None));
                    }
                    self.have = 0;
                    self.start_record()?;
                    if self.left == 0 {
                        if let Some(ev) = self.finish_record()? {
                            return Ok((used, Some(ev)));
                        }
                    }
                }
                State::Content => {
                    if rest.is_empty() {
                        return Ok((used, None));
                    }
                    let n = self.left.min(rest.len());
                    self.left -= n;
                    used += n;
                    let piece = &rest[..n];
                    match self.kind {
                        STDOUT | STDERR => {
                            if self.left == 0 {
                                self.finish_record()?;
                            }
                            let ev = if self.kind == STDOUT {
                                Event::Stdout(piece)
                            } else {
                                Event::Stderr(piece)
                            };
                            return Ok((used, Some(ev)));
                        }
                        _ => {
                            // Small records: bounded when they started.
                            self.small.extend_from_slice(piece);
                            if self.left == 0 {
                                if let Some(ev) = self.finish_record()? {
                                    return Ok((used, Some(ev)));
                                }
                            }
                        }
                    }
                }
                State::Padding => {
                    let n = self.pad.min(rest.len());
                    self.pad -= n;
                    used += n;
                    if self.pad == 0 {
                        self.state = if self.ending {
                            State::Ended
                        } else {
                            State::Header
                        };
                    }
                    if rest.len() == n {
                        return Ok((used, None));
                    }
                }
            }
        }
    }

    /// Checks a complete header.
    fn start_record(&mut self) -> Result<(), CodecError> {
        let h = self.head;
        if h[0] != VERSION {
            return Err(CodecError::Version(h[0]));
        }
        let kind = h[1];
        let id = u16::from_be_bytes([h[2], h[3]]);
        let len = u16::from_be_bytes([h[4], h[5]]) as usize;
        self.kind = kind;
        self.left = len;
        self.pad = h[6] as usize;
        self.small.clear();
        match kind {
            STDOUT | STDERR | END_REQUEST => {
                if id == 0 {
                    return Err(CodecError::Type(kind));
                }
                if id != self.id {
                    return Err(CodecError::RequestId(id));
                }
                if kind == END_REQUEST && len != 8 {
                    return Err(CodecError::Length(kind));
                }
            }
            GET_VALUES_RESULT | UNKNOWN_TYPE => {
                if id != 0 {
                    return Err(CodecError::Type(kind));
                }
                if (kind == UNKNOWN_TYPE && len != 8) || len > MAX_MANAGEMENT {
                    return Err(CodecError::Length(kind));
                }
            }
            _ => return Err(CodecError::Type(kind)),
        }
        self.state = State::Content;
        Ok(())
    }

    /// The content is complete: the event of a small record, and on to the
    /// padding.
    fn finish_record(&mut self) -> Result<Option<Event<'static>>, CodecError> {
        self.state = if self.pad > 0 {
            State::Padding
        } else {
            State::Header
        };
        Ok(match self.kind {
            END_REQUEST => {
                let s = &self.small;
                let ev = Event::End {
                    app_status: u32::from_be_bytes([s[0], s[1], s[2], s[3]]),
                    protocol_status: s[4],
                };
                self.ending = true;
                if self.pad == 0 {
                    self.state = State::Ended;
                }
                Some(ev)
            }
            GET_VALUES_RESULT => Some(Event::Values(std::mem::take(&mut self.small))),
            UNKNOWN_TYPE => Some(Event::UnknownType(self.small[0])),
            _ => None,
        })
    }
}

/// For a fuzz target: the decoder on arbitrary bytes fed in `step`-sized
/// pieces: never panics, never loops, never
/// holds more than a record header and a bounded small record.
pub fn fuzz_decode(data: &[u8], step: usize) {
    let mut d = Decoder::new(1);
    for piece in data.chunks(step.max(1)) {
        let mut at = 0;
        while at < piece.len() {
            match d.decode(&piece[at..]) {
                Ok((0, None)) => break,
                Ok((n, _)) => at += n,
                Err(_) => return,
            }
            assert!(d.small.len() <= MAX_MANAGEMENT);
        }
    }
    let _ = parse_pairs(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    type Decoded = (Vec<u8>, Vec<u8>, Vec<Event<'static>>);

    /// Decodes `input` fed in pieces of `step` bytes; stream content joined.
    fn run(id: u16, input: &[u8], step: usize) -> Result<Decoded, CodecError> {
        let mut d = Decoder::new(id);
        let (mut out, mut err, mut other) = (Vec::new(), Vec::new(), Vec::new());
        for piece in input.chunks(step.max(1)) {
            let mut at = 0;
            loop {
                let (n, ev) = d.decode(&piece[at..])?;
                at += n;
                match ev {
                    Some(Event::Stdout(b)) => out.extend_from_slice(b),
                    Some(Event::Stderr(b)) => err.extend_from_slice(b),
                    Some(Event::End {
                        app_status,
                        protocol_status,
                    }) => other.push(Event::End {
                        app_status,
                        protocol_status,
                    }),
                    Some(Event::Values(v)) => other.push(Event::Values(v)),
                    Some(Event::UnknownType(t)) => other.push(Event::UnknownType(t)),
                    None if at == piece.len() => break,
                    None => {}
                }
                if n == 0 && at == piece.len() {
                    break;
                }
            }
        }
        Ok((out, err, other))
    }

    fn rec(kind: u8, id: u16, content: &[u8], pad: u8) -> Vec<u8> {
        let mut v = vec![
            1,
            kind,
            (id >> 8) as u8,
            id as u8,
            (content.len() >> 8) as u8,
            content.len() as u8,
            pad,
            0,
        ];
        v.extend_from_slice(content);
        v.extend(std::iter::repeat_n(0xAA, pad as usize));
        v
    }

    #[test]
    fn decode_table() {
        let end = {
            let mut v = Vec::new();
            encode_end(&mut v, 1, 7, REQUEST_COMPLETE);
            v
        };
        // (input, expected stdout, stderr, or error)
        type Case = (Vec<u8>, Result<(&'static [u8], &'static [u8]), CodecError>);
        let cases: Vec<Case> = vec![
            (
                [rec(STDOUT, 1, b"hello", 3), end.clone()].concat(),
                Ok((b"hello", b"")),
            ),
            (
                [
                    rec(STDOUT, 1, b"a", 0),
                    rec(STDERR, 1, b"oops", 255),
                    rec(STDOUT, 1, b"", 0),
                    rec(STDOUT, 1, b"b", 7),
                    end.clone(),
                ]
                .concat(),
                Ok((b"ab", b"oops")),
            ),
            (rec(STDOUT, 2, b"x", 0), Err(CodecError::RequestId(2))),
            (rec(STDOUT, 0, b"x", 0), Err(CodecError::Type(STDOUT))),
            (
                rec(BEGIN_REQUEST, 1, &[0; 8], 0),
                Err(CodecError::Type(BEGIN_REQUEST)),
            ),
            (rec(DATA, 1, b"", 0), Err(CodecError::Type(DATA))),
            (rec(99, 1, b"", 0), Err(CodecError::Type(99))),
            (
                rec(END_REQUEST, 1, &[0; 4], 0),
                Err(CodecError::Length(END_REQUEST)),
            ),
            (
                rec(UNKNOWN_TYPE, 0, &[0; 9], 0),
                Err(CodecError::Length(UNKNOWN_TYPE)),
            ),
            (
                rec(GET_VALUES_RESULT, 1, b"", 0),
                Err(CodecError::Type(GET_VALUES_RESULT)),
            ),
            (
                rec(GET_VALUES_RESULT, 0, &[0; MAX_MANAGEMENT + 1], 0),
                Err(CodecError::Length(GET_VALUES_RESULT)),
            ),
            (
                {
                    let mut v = rec(STDOUT, 1, b"x", 0);
                    v[0] = 2;
                    v
                },
                Err(CodecError::Version(2)),
            ),
            (
                [end.clone(), rec(STDOUT, 1, b"late", 0)].concat(),
                Err(CodecError::AfterEnd),
            ),
            (
                b"HTTP/1.1 200 OK\r\n".to_vec(),
                Err(CodecError::Version(b'H')),
            ),
        ];
        for (i, (input, want)) in cases.iter().enumerate() {
            for step in [1, 2, 3, 7, 8, 9, 64, input.len()] {
                let got = run(1, input, step).map(|(o, e, _)| (o, e));
                match want {
                    Ok((o, e)) => {
                        assert_eq!(got, Ok((o.to_vec(), e.to_vec())), "case {i} step {step}")
                    }
                    Err(e) => assert_eq!(got, Err(*e), "case {i} step {step}"),
                }
            }
        }
    }

    #[test]
    fn end_request_and_management() {
        let mut v = rec(UNKNOWN_TYPE, 0, &[42, 0, 0, 0, 0, 0, 0, 0], 0);
        let mut vals = Vec::new();
        encode_pair(&mut vals, b"FCGI_MPXS_CONNS", b"0").unwrap();
        v.extend(rec(GET_VALUES_RESULT, 0, &vals, 1));
        v.extend(rec(END_REQUEST, 1, &[0, 0, 1, 2, OVERLOADED, 0, 0, 0], 8));
        for step in [1, 5, v.len()] {
            let (_, _, ev) = run(1, &v, step).unwrap();
            assert_eq!(
                ev,
                vec![
                    Event::UnknownType(42),
                    Event::Values(vals.clone()),
                    Event::End {
                        app_status: 258,
                        protocol_status: OVERLOADED
                    }
                ]
            );
        }
        assert_eq!(
            parse_pairs(&vals).unwrap(),
            vec![(&b"FCGI_MPXS_CONNS"[..], &b"0"[..])]
        );
    }

    #[test]
    fn pairs_table() {
        let long = vec![b'v'; 300];
        let mut p = Vec::new();
        encode_pair(&mut p, b"A", &long).unwrap();
        encode_pair(&mut p, b"", b"").unwrap();
        assert_eq!(&p[..5], &[1, 0x80, 0, 1, 44]);
        assert_eq!(
            parse_pairs(&p).unwrap(),
            vec![(&b"A"[..], &long[..]), (&b""[..], &b""[..])]
        );
        for bad in [
            &[5u8][..],
            &[0x80, 0, 0],
            &[1, 1, b'a'],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert_eq!(parse_pairs(bad), Err(CodecError::BadPair), "{bad:?}");
        }
        let mut params = Params::new(64);
        params
            .add(b"SCRIPT_FILENAME", b"/srv/www/index.php")
            .unwrap();
        assert_eq!(
            params.add(b"X", &[b'x'; 64]),
            Err(CodecError::ParamsTooLong)
        );
    }

    #[test]
    fn encode_layout() {
        let mut v = Vec::new();
        encode_begin(&mut v, 0x0102, RESPONDER, true);
        assert_eq!(v, [1, 1, 1, 2, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
        v.clear();
        encode_stdin(&mut v, 1, b"abc");
        assert_eq!(
            v,
            [1, STDIN, 0, 1, 0, 3, 5, 0, b'a', b'b', b'c', 0, 0, 0, 0, 0]
        );
        v.clear();
        encode_stdin(&mut v, 1, b"");
        assert_eq!(v, [1, STDIN, 0, 1, 0, 0, 0, 0]);
        v.clear();
        encode_abort(&mut v, 3);
        assert_eq!(v, [1, ABORT_REQUEST, 0, 3, 0, 0, 0, 0]);
        v.clear();
        encode_stream(&mut v, STDOUT, 1, &vec![7u8; MAX_CONTENT + 10]);
        assert_eq!(v.len(), 8 + MAX_CONTENT + 1 + 8 + 10 + 6);
    }

    /// A small deterministic generator (no extra dependencies).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// Encode → decode round trip over random streams and random splits.
    #[test]
    fn round_trip_property() {
        let mut r = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..300 {
            let id = (r.next() % 3 + 1) as u16;
            let (mut want_out, mut want_err, mut wire) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..r.next() % 6 {
                let len = match r.next() % 4 {
                    0 => 0,
                    1 => (r.next() % 16) as usize,
                    2 => (r.next() % 3000) as usize,
                    _ => MAX_CONTENT + (r.next() % 100) as usize,
                };
                let data: Vec<u8> = (0..len).map(|_| r.next() as u8).collect();
                if r.next() % 3 == 0 {
                    encode_stream(&mut wire, STDERR, id, &data);
                    want_err.extend_from_slice(&data);
                } else {
                    encode_stream(&mut wire, STDOUT, id, &data);
                    want_out.extend_from_slice(&data);
                }
            }
            let status = r.next() as u32;
            encode_end(&mut wire, id, status, REQUEST_COMPLETE);
            let step = 1 + (r.next() % 5000) as usize;
            let (o, e, ev) = run(id, &wire, step).unwrap();
            assert_eq!(o, want_out);
            assert_eq!(e, want_err);
            assert_eq!(
                ev,
                vec![Event::End {
                    app_status: status,
                    protocol_status: 0
                }]
            );
        }
    }

    #[test]
    fn fuzz_decoder() {
        let mut r = Rng(12345);
        for _ in 0..3000 {
            let len = (r.next() % 200) as usize;
            let mut data: Vec<u8> = (0..len).map(|_| r.next() as u8).collect();
            // Bias towards valid headers so content paths are reached.
            if len >= 8 && r.next() % 2 == 0 {
                data[0] = 1;
                data[1] = [STDOUT, STDERR, END_REQUEST, UNKNOWN_TYPE, GET_VALUES_RESULT]
                    [(r.next() % 5) as usize];
                data[2] = 0;
                data[3] = (r.next() % 2) as u8;
            }
            fuzz_decode(&data, 1 + (r.next() % 20) as usize);
        }
    }
}
