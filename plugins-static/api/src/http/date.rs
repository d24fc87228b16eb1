//! HTTP-date formatting and parsing (RFC 9110 §5.6.7), sans I/O.
//!
//! Contract:
//! - [`format_http_date`] accepts any `u64` count of seconds since the Unix
//!   epoch and writes the 29-byte IMF-fixdate form
//!   (`Sun, 06 Nov 1994 08:49:37 GMT`) into a caller-provided array. Values
//!   past 9999-12-31 23:59:59 UTC are clamped to that instant.
//! - [`parse_http_date`] accepts any byte slice and returns the Unix time for
//!   the three forms a recipient must accept: IMF-fixdate, obsolete RFC 850
//!   (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`).
//!   Parsing is strict: exact spacing and case, the day-name spelling of the
//!   form, `GMT`, in-range fields (including leap years). The day name is not
//!   checked against the date (RFC 9110 does not require it; Apache and nginx
//!   do not either). Second `60` (leap second) is read as `59`; anything
//!   larger is rejected, as are dates before 1970. The caller strips the
//!   field value's surrounding whitespace.
//! - Neither function panics on any input, allocates, or uses `unsafe`; all
//!   arithmetic is checked or provably bounded.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::arithmetic_side_effects,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

const SECS_PER_DAY: u64 = 86_400;

/// 9999-12-31 23:59:59 UTC, the last instant [`format_http_date`] can express.
pub const MAX_HTTP_DATE: u64 = 253_402_300_799;

const DAY_NAMES: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];

const DAY_NAMES_LONG: [&[u8]; 7] = [
    b"Sunday",
    b"Monday",
    b"Tuesday",
    b"Wednesday",
    b"Thursday",
    b"Friday",
    b"Saturday",
];

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Writes `unix_secs` as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
///
/// Times after 9999-12-31 23:59:59 UTC are clamped to it.
pub fn format_http_date(unix_secs: u64, out: &mut [u8; 29]) {
    let secs = unix_secs.min(MAX_HTTP_DATE);
    let days = secs / SECS_PER_DAY;
    let sod = secs % SECS_PER_DAY;
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday (index 4 with Sunday = 0).
    let wd = usize::try_from(days.saturating_add(4) % 7).unwrap_or(0);
    let name = DAY_NAMES.get(wd).copied().unwrap_or(b"Thu");
    let mon = MONTHS
        .get(usize::from(month.saturating_sub(1)))
        .copied()
        .unwrap_or(b"Jan");
    let (hour, min, sec) = (sod / 3600, (sod / 60) % 60, sod % 60);
    *out = [
        name[0],
        name[1],
        name[2],
        b',',
        b' ',
        digit(u64::from(day) / 10),
        digit(u64::from(day)),
        b' ',
        mon[0],
        mon[1],
        mon[2],
        b' ',
        digit(year / 1000),
        digit(year / 100),
        digit(year / 10),
        digit(year),
        b' ',
        digit(hour / 10),
        digit(hour),
        b':',
        digit(min / 10),
        digit(min),
        b':',
        digit(sec / 10),
        digit(sec),
        b' ',
        b'G',
        b'M',
        b'T',
    ];
}

/// Parses an HTTP-date in any of the three RFC 9110 forms into Unix seconds.
///
/// Returns `None` for anything that is not exactly one of the forms, for
/// out-of-range fields and for dates before 1970-01-01.
pub fn parse_http_date(s: &[u8]) -> Option<u64> {
    match s {
        // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
        [w0, w1, w2, b',', b' ', d1, d2, b' ', m0, m1, m2, b' ', y1, y2, y3, y4, b' ', h1, h2, b':', i1, i2, b':', s1, s2, b' ', b'G', b'M', b'T'] =>
        {
            short_day_name([*w0, *w1, *w2])?;
            let year = num(&[*y1, *y2, *y3, *y4])?;
            let month = month_number([*m0, *m1, *m2])?;
            let day = num(&[*d1, *d2])?;
            let time = [*h1, *h2, *i1, *i2, *s1, *s2];
            to_unix(year, month, day, time)
        }
        // asctime: Sun Nov  6 08:49:37 1994
        [w0, w1, w2, b' ', m0, m1, m2, b' ', d1, d2, b' ', h1, h2, b':', i1, i2, b':', s1, s2, b' ', y1, y2, y3, y4] =>
        {
            short_day_name([*w0, *w1, *w2])?;
            let year = num(&[*y1, *y2, *y3, *y4])?;
            let month = month_number([*m0, *m1, *m2])?;
            let day = if *d1 == b' ' {
                num(&[*d2])?
            } else {
                num(&[*d1, *d2])?
            };
            let time = [*h1, *h2, *i1, *i2, *s1, *s2];
            to_unix(year, month, day, time)
        }
        _ => parse_rfc850(s),
    }
}

/// RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT`.
fn parse_rfc850(s: &[u8]) -> Option<u64> {
    let comma = s.iter().position(|&c| c == b',')?;
    let (name, rest) = s.split_at_checked(comma)?;
    if !DAY_NAMES_LONG.contains(&name) {
        return None;
    }
    match rest {
        [b',', b' ', d1, d2, b'-', m0, m1, m2, b'-', y1, y2, b' ', h1, h2, b':', i1, i2, b':', s1, s2, b' ', b'G', b'M', b'T'] =>
        {
            let yy = num(&[*y1, *y2])?;
            // RFC 9110 §5.6.7: a two-digit year more than 50 years in the
            // future means the past; fixed pivot 70 (00..69 -> 20xx).
            let century: u64 = if yy >= 70 { 1900 } else { 2000 };
            let year = century.checked_add(yy)?;
            let month = month_number([*m0, *m1, *m2])?;
            let day = num(&[*d1, *d2])?;
            to_unix(year, month, day, [*h1, *h2, *i1, *i2, *s1, *s2])
        }
        _ => None,
    }
}

fn short_day_name(name: [u8; 3]) -> Option<()> {
    DAY_NAMES.contains(&&name).then_some(())
}

fn month_number(name: [u8; 3]) -> Option<u64> {
    let idx = MONTHS.iter().position(|m| **m == name)?;
    u64::try_from(idx).ok()?.checked_add(1)
}

/// Decimal value of a run of ASCII digits (at most a few digits here).
fn num(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |acc, &c| {
        if c.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(c & 0x0f))
        } else {
            None
        }
    })
}

/// `HHMMSS` digits plus date fields -> Unix seconds, with range checks.
fn to_unix(year: u64, month: u64, day: u64, hms: [u8; 6]) -> Option<u64> {
    let [h1, h2, i1, i2, s1, s2] = hms;
    let hour = num(&[h1, h2])?;
    let min = num(&[i1, i2])?;
    let sec = num(&[s1, s2])?;
    if !(1970..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || min > 59
        || sec > 60
    {
        return None;
    }
    let sec = sec.min(59);
    days_from_civil(year, month, day)?
        .checked_mul(SECS_PER_DAY)?
        .checked_add(hour.checked_mul(3600)?)?
        .checked_add(min.checked_mul(60)?)?
        .checked_add(sec)
}

fn is_leap(year: u64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date with `year >= 1970`
/// (Howard Hinnant's `days_from_civil`, unsigned variant).
fn days_from_civil(year: u64, month: u64, day: u64) -> Option<u64> {
    let y = if month <= 2 {
        year.checked_sub(1)?
    } else {
        year
    };
    let era = y / 400;
    let yoe = y % 400;
    // March-based month index 0..=11.
    let mp = if month > 2 {
        month.checked_sub(3)?
    } else {
        month.checked_add(9)?
    };
    let doy = mp
        .checked_mul(153)?
        .checked_add(2)?
        .checked_div(5)?
        .checked_add(day)?
        .checked_sub(1)?;
    let doe = yoe
        .checked_mul(365)?
        .checked_add(yoe / 4)?
        .checked_sub(yoe / 100)?
        .checked_add(doy)?;
    era.checked_mul(146_097)?
        .checked_add(doe)?
        .checked_sub(719_468)
}

/// (year, month 1..=12, day 1..=31) for days since 1970-01-01.
/// Callers pass at most the day count of 9999-12-31, so nothing saturates.
fn civil_from_days(days: u64) -> (u64, u8, u8) {
    let z = days.saturating_add(719_468);
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = doe
        .saturating_sub(doe / 1460)
        .saturating_add(doe / 36_524)
        .saturating_sub(doe / 146_096)
        / 365;
    let doy = doe.saturating_sub(
        yoe.saturating_mul(365)
            .saturating_add(yoe / 4)
            .saturating_sub(yoe / 100),
    );
    let mp = doy.saturating_mul(5).saturating_add(2) / 153;
    let day = doy
        .saturating_sub(mp.saturating_mul(153).saturating_add(2) / 5)
        .saturating_add(1);
    let month = if mp < 10 {
        mp.saturating_add(3)
    } else {
        mp.saturating_sub(9)
    };
    let year = era
        .saturating_mul(400)
        .saturating_add(yoe)
        .saturating_add(u64::from(month <= 2));
    (
        year,
        u8::try_from(month).unwrap_or(1),
        u8::try_from(day).unwrap_or(1),
    )
}

/// Lowest decimal digit of `v` as ASCII.
fn digit(v: u64) -> u8 {
    // v % 10 < 10, so the OR with 0x30 yields '0'..='9'.
    b'0' | u8::try_from(v % 10).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(secs: u64) -> String {
        let mut out = [0u8; 29];
        format_http_date(secs, &mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn format_table() {
        let cases: &[(u64, &str)] = &[
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (59, "Thu, 01 Jan 1970 00:00:59 GMT"),
            (86_399, "Thu, 01 Jan 1970 23:59:59 GMT"),
            (86_400, "Fri, 02 Jan 1970 00:00:00 GMT"),
            (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
            (951_868_800, "Wed, 01 Mar 2000 00:00:00 GMT"),
            (2_147_483_648, "Tue, 19 Jan 2038 03:14:08 GMT"),
            (3_155_759_999, "Tue, 31 Dec 2069 23:59:59 GMT"),
            (4_107_542_400, "Mon, 01 Mar 2100 00:00:00 GMT"),
            (13_574_606_400, "Tue, 29 Feb 2400 12:00:00 GMT"),
            (MAX_HTTP_DATE, "Fri, 31 Dec 9999 23:59:59 GMT"),
            (MAX_HTTP_DATE + 1, "Fri, 31 Dec 9999 23:59:59 GMT"),
            (u64::MAX, "Fri, 31 Dec 9999 23:59:59 GMT"),
        ];
        for &(secs, want) in cases {
            assert_eq!(fmt(secs), want, "secs={secs}");
        }
    }

    #[test]
    fn max_constant_is_end_of_9999() {
        let d = days_from_civil(9999, 12, 31).unwrap();
        assert_eq!(d * 86_400 + 86_399, MAX_HTTP_DATE);
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
    }

    #[test]
    fn parse_valid_table() {
        let cases: &[(&str, u64)] = &[
            ("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_777),
            ("Sunday, 06-Nov-94 08:49:37 GMT", 784_111_777),
            ("Sun Nov  6 08:49:37 1994", 784_111_777),
            ("Sun Nov 06 08:49:37 1994", 784_111_777),
            ("Thu, 01 Jan 1970 00:00:00 GMT", 0),
            ("Thursday, 01-Jan-70 00:00:00 GMT", 0),
            ("Thu Jan  1 00:00:00 1970", 0),
            ("Tue, 29 Feb 2000 00:00:00 GMT", 951_782_400),
            ("Tuesday, 29-Feb-00 00:00:00 GMT", 951_782_400),
            ("Tue Feb 29 00:00:00 2000", 951_782_400),
            ("Tue, 31 Dec 2069 23:59:59 GMT", 3_155_759_999),
            ("Tuesday, 31-Dec-69 23:59:59 GMT", 3_155_759_999),
            ("Wednesday, 31-Dec-69 23:59:59 GMT", 3_155_759_999), // name not cross-checked
            ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_HTTP_DATE),
            ("Tue, 29 Feb 2400 12:00:00 GMT", 13_574_606_400),
            // Leap second reads as :59.
            ("Thu, 01 Jan 1970 00:00:60 GMT", 59),
            ("Thu Jan  1 00:00:60 1970", 59),
            ("Mon, 01 Jan 1970 00:00:00 GMT", 0),
        ];
        for &(s, want) in cases {
            assert_eq!(parse_http_date(s.as_bytes()), Some(want), "{s:?}");
        }
    }

    #[test]
    fn parse_invalid_table() {
        let cases: &[&str] = &[
            "",
            "G",
            "Sun, 06 Nov 1994 08:49:37 GM",
            "Sun, 06 Nov 1994 08:49:37 GMT ",
            " Sun, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 gmt",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "sun, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 nov 1994 08:49:37 GMT",
            "Sunday, 06 Nov 1994 08:49:37 GMT",
            "Sun,  6 Nov 1994 08:49:37 GMT",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 8:49:37 GMT",
            "Sun, 06  Nov 1994 08:49:37 GMT",
            "Sun 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sun, 06-Nov-1994 08:49:37 GMT",
            "Sun, 00 Nov 1994 08:49:37 GMT",
            "Sun, 31 Nov 1994 08:49:37 GMT",
            "Sun, 32 Jan 1994 08:49:37 GMT",
            "Sun, 29 Feb 1900 00:00:00 GMT",
            "Sun, 29 Feb 2100 00:00:00 GMT",
            "Sun, 29 Feb 2001 00:00:00 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 23:60:00 GMT",
            "Sun, 06 Nov 1994 23:59:61 GMT",
            "Sun, 06 Nov 1969 08:49:37 GMT",
            "Wed, 31 Dec 1969 23:59:59 GMT",
            "Sun, 06 Xyz 1994 08:49:37 GMT",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Sun, 0a Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 19a4 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:4-:37 GMT",
            "Sun, 06 Nov +994 08:49:37 GMT",
            "Sun, +6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08.49.37 GMT",
            "Sun, 06 Nov 1994 08:49:37\tGMT",
            // RFC 850 variants
            "Sun, 06-Nov-94 08:49:37 GMT",
            "sunday, 06-Nov-94 08:49:37 GMT",
            "Sunday,06-Nov-94 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GM",
            "Sunday, 06-Nov-94 08:49:37",
            "Sunday, 6-Nov-94 08:49:37 GMT",
            "Sunday, 06 Nov 94 08:49:37 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sunday, 29-Feb-01 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:61 GMT",
            "Someday, 06-Nov-94 08:49:37 GMT",
            ", 06-Nov-94 08:49:37 GMT",
            "Sunday, , 06-Nov-94 08:49:37 GMT",
            // asctime variants
            "Sunday Nov  6 08:49:37 1994",
            "Sun Nov 6 08:49:37 1994",
            "Sun Nov  6 08:49:37 1994 ",
            "Sun Nov  6 08:49:37 94",
            "Sun Nov  0 08:49:37 1994",
            "Sun Nov 31 08:49:37 1994",
            "Sun Nov  6 08:49:37 1969",
            "Sun Nov 6  08:49:37 1994",
            "Sun Nov  6 08:49:37 GMT 1994",
            "Sun Feb 29 08:49:37 1999",
            "Sun Nov \t6 08:49:37 1994",
        ];
        for s in cases {
            assert_eq!(parse_http_date(s.as_bytes()), None, "{s:?}");
        }
    }

    #[test]
    fn rfc850_two_digit_year_pivot() {
        let cases: &[(&str, u64)] = &[("70", 1970), ("99", 1999), ("00", 2000), ("69", 2069)];
        for &(yy, year) in cases {
            let s = format!("Thursday, 01-Jan-{yy} 00:00:00 GMT");
            let want = days_from_civil(year, 1, 1).unwrap() * 86_400;
            assert_eq!(parse_http_date(s.as_bytes()), Some(want), "{s}");
        }
    }

    /// Independent day-by-day walk from 1970 to 9999 checks both calendar
    /// conversions for every single day.
    #[test]
    fn civil_conversions_match_naive_walk() {
        let (mut y, mut m, mut d) = (1970u64, 1u64, 1u64);
        let mut days = 0u64;
        loop {
            assert_eq!(civil_from_days(days), (y, m as u8, d as u8), "days={days}");
            assert_eq!(days_from_civil(y, m, d), Some(days));
            if (y, m, d) == (9999, 12, 31) {
                break;
            }
            days += 1;
            d += 1;
            let dim = match m {
                2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            if d > dim {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
        assert_eq!(days, 2_932_896);
    }

    #[test]
    fn round_trip_many_values() {
        let mut secs = 0u64;
        let mut n = 0;
        while secs <= MAX_HTTP_DATE {
            let s = fmt(secs);
            assert_eq!(parse_http_date(s.as_bytes()), Some(secs), "{s}");
            secs += 7_777_777 + (n % 86_400);
            n += 1;
        }
        assert!(n > 30_000);
    }

    #[test]
    fn round_trip_leap_days_all_forms() {
        for year in 1970..=9999u64 {
            if !is_leap(year) {
                continue;
            }
            let base = days_from_civil(year, 2, 29).unwrap() * 86_400;
            for secs in [base, base + 86_399, base + 45_296] {
                let s = fmt(secs);
                assert_eq!(&s[5..16], &format!("29 Feb {year}"));
                assert_eq!(parse_http_date(s.as_bytes()), Some(secs), "{s}");
                // Rebuild the same instant in asctime form.
                let wd = &s[0..3];
                let asc = format!("{wd} Feb 29 {} {year}", &s[17..25]);
                assert_eq!(parse_http_date(asc.as_bytes()), Some(secs), "{asc}");
            }
            // The day after Feb 28 in a leap year is Feb 29, not Mar 1.
            let feb28 = days_from_civil(year, 2, 28).unwrap();
            assert_eq!(civil_from_days(feb28 + 1), (year, 2, 29));
        }
    }

    #[test]
    fn round_trip_rfc850_window() {
        // RFC 850 can express 1970..=2069 only.
        let end = days_from_civil(2070, 1, 1).unwrap() * 86_400;
        let mut secs = 0u64;
        while secs < end {
            let s = fmt(secs);
            let long = DAY_NAMES_LONG[DAY_NAMES
                .iter()
                .position(|d| d[..] == s.as_bytes()[..3])
                .unwrap()];
            let rfc850 = format!(
                "{}, {}-{}-{} {} GMT",
                std::str::from_utf8(long).unwrap(),
                &s[5..7],
                &s[8..11],
                &s[14..16],
                &s[17..25]
            );
            assert_eq!(parse_http_date(rfc850.as_bytes()), Some(secs), "{rfc850}");
            secs += 1_234_567;
        }
    }

    #[test]
    fn never_panics_on_mutations() {
        // Flip every byte of valid dates through a set of values.
        let seeds = [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ];
        for seed in seeds {
            let bytes = seed.as_bytes();
            for i in 0..bytes.len() {
                for v in [0u8, b' ', b'0', b'9', b':', b',', b'-', 0xff, b'A'] {
                    let mut b = bytes.to_vec();
                    b[i] = v;
                    let _ = parse_http_date(&b);
                    let _ = parse_http_date(&b[..i]);
                    let _ = parse_http_date(&b[i..]);
                }
            }
        }
    }
}
