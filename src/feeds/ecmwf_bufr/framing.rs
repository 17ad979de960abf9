//! The framing of BUFR messages (WMO FM 94 BUFR, Manual on Codes WMO-No. 306 Vol. I.2,
//! editions 3 and 4), checked in Rust before any byte reaches ecCodes: each message's
//! section 0 total length must lie within the input and equal the sum of its section
//! lengths plus sections 0 and 5, and it must end with "7777".
//!
//! Written by hand (a dozen lines of length arithmetic, which no crate offers apart from a
//! whole BUFR decoder) because ecCodes 2.28 (Debian 12) trusts those lengths: the fuzz
//! tests (tests/it/fuzz) found damaged messages after which the process's heap was
//! corrupt ("malloc(): unaligned tcache chunk detected", abort). Pure: no I/O, no ecCodes.

/// Length of section 0: "BUFR", the total length (3 octets), the edition (1 octet).
const SECTION0_LEN: usize = 8;
/// Section 5: "7777".
const END: &[u8; 4] = b"7777";

/// Where a message sits in the input, once its framing is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Frame {
    pub start: usize,
    pub len: usize,
}

fn u24(bytes: &[u8], at: usize) -> Option<usize> {
    let b = bytes.get(at..at + 3)?;
    Some((usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]))
}

/// Every message of `bytes` (found as ecCodes finds them: from each "BUFR", skipping bytes
/// before and between messages), or `(message number from 1, what is wrong)`.
pub(super) fn frames(bytes: &[u8]) -> Result<Vec<Frame>, (usize, String)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(offset) = bytes
        .get(pos..)
        .and_then(|rest| rest.windows(4).position(|w| w == b"BUFR"))
    {
        let start = pos + offset;
        let n = out.len() + 1;
        let frame = frame(bytes, start).map_err(|what| (n, what))?;
        pos = start + frame.len;
        out.push(frame);
    }
    Ok(out)
}

fn frame(bytes: &[u8], start: usize) -> Result<Frame, String> {
    let msg = &bytes[start..];
    let total = u24(msg, 4)
        .ok_or("cut inside section 0 (its first 8 bytes): the file is truncated or damaged")?;
    if total < SECTION0_LEN + END.len() {
        return Err(format!(
            "section 0 gives a total length of {total} bytes, too short for a message: the \
             file is truncated or damaged"
        ));
    }
    if total > msg.len() {
        return Err(format!(
            "section 0 gives a total length of {total} bytes, but only {} remain in the input: \
             the file is truncated or the length damaged",
            msg.len()
        ));
    }
    let edition = msg.get(7).copied().unwrap_or(0);
    if !(3..=4).contains(&edition) {
        return Err(format!(
            "BUFR edition {edition}; expected 3 or 4 (the message may be damaged)"
        ));
    }
    let msg = &msg[..total];
    let mut at = SECTION0_LEN;
    let section = |at: usize, name: &str, min: usize| -> Result<usize, String> {
        let len = u24(msg, at).ok_or(format!("{name} starts past the message's end"))?;
        if len < min || at + len > total {
            return Err(format!(
                "{name} is {len} bytes at offset {at}: expected at least {min}, ending within \
                 the {total}-byte message"
            ));
        }
        Ok(len)
    };
    // Section 1; the optional-section flag is octet 10 (edition 4) or 8 (edition 3).
    let s1 = section(at, "section 1", if edition == 4 { 22 } else { 18 })?;
    let flag_octet = if edition == 4 { 10 } else { 8 };
    let has_section2 = msg.get(at + flag_octet - 1).is_some_and(|f| f & 0x80 != 0);
    at += s1;
    if has_section2 {
        at += section(at, "section 2", 4)?;
    }
    at += section(at, "section 3", 7)?;
    at += section(at, "section 4", 4)?;
    if at + END.len() != total || msg.get(at..total) != Some(&END[..]) {
        return Err(format!(
            "sections 0 to 4 end at byte {at} of a {total}-byte message, which must end with \
             \"7777\" right after them: the section lengths are damaged"
        ));
    }
    Ok(Frame { start, len: total })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal edition-4 frame: section 1 of 22 bytes, no section 2, section 3 of 9 and
    /// section 4 of 4 bytes.
    fn message() -> Vec<u8> {
        let total = 8 + 22 + 9 + 4 + 4;
        let mut m = b"BUFR".to_vec();
        m.extend_from_slice(&[0, 0, total as u8, 4]);
        m.extend_from_slice(&[0, 0, 22]);
        m.extend(std::iter::repeat_n(0, 19));
        m.extend_from_slice(&[0, 0, 9, 0, 0, 1, 0x80, 0, 0]);
        m.extend_from_slice(&[0, 0, 4, 0]);
        m.extend_from_slice(b"7777");
        m
    }

    #[test]
    fn whole_messages_frame_and_junk_between_them_is_skipped() {
        let m = message();
        let two = [m.clone(), b"junk".to_vec(), m.clone()].concat();
        let f = frames(&two).unwrap_or_default();
        assert_eq!(f.len(), 2);
        assert_eq!(f[1].start, m.len() + 4);
    }

    #[test]
    fn a_cut_or_a_damaged_length_is_refused_naming_the_message() {
        let m = message();
        for cut in 4..m.len() {
            assert!(frames(&m[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = m.clone();
        bad[32] = 200; // section 3's length
        let Err((n, what)) = frames(&[message(), bad].concat()) else {
            panic!("a damaged section 3 length must be refused");
        };
        assert_eq!(n, 2);
        assert!(what.contains("section 3"), "{what}");
    }
}
