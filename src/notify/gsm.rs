//! SMS encodings and segment counting: the GSM 03.38 (3GPP TS 23.038) default alphabet
//! and its extension table, UCS-2, how many segments a text takes, and a transliteration
//! that keeps Portuguese text in GSM-7.
//!
//! Pure: string arithmetic only; must not depend on I/O.

use serde::{Deserialize, Serialize};

/// The GSM 7-bit default alphabet (3GPP TS 23.038 §6.2.1), in code order 0x00–0x7F.
/// 0x1B is the escape to the extension table, not a character (written here as U+001B and
/// refused by [`gsm7_septets`]). 0x09 is capital Ç: the small ç is NOT in the alphabet.
const GSM7_BASIC: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1b}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// The GSM 7-bit default alphabet extension table (3GPP TS 23.038 §6.2.1.1): each of these
/// is sent as ESC + code, two septets. Form feed (0x0A) included.
const GSM7_EXTENSION: [char; 10] = ['\u{0c}', '^', '{', '}', '\\', '[', '~', ']', '|', '€'];

/// Septets in one single-part GSM-7 SMS (140 octets × 8 / 7).
pub const GSM7_SINGLE: usize = 160;
/// Septets per part of a concatenated GSM-7 SMS: 7 septets go to the user-data header
/// (3GPP TS 23.040 §9.2.3.24.1, 6 octets of concatenation IE, padded to 7 septets).
pub const GSM7_MULTI: usize = 153;
/// UCS-2 code units in one single-part SMS (140 octets / 2).
pub const UCS2_SINGLE: usize = 70;
/// UCS-2 code units per part of a concatenated SMS (134 octets / 2).
pub const UCS2_MULTI: usize = 67;

/// The encoding a text needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsEncoding {
    Gsm7,
    Ucs2,
}

/// How long a text is on the air.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentCount {
    pub encoding: SmsEncoding,
    /// Septets (GSM-7, extension characters count 2) or UTF-16 code units (UCS-2).
    pub units: usize,
    pub segments: usize,
}

/// Septets a character takes in GSM-7: 1 in the default alphabet, 2 in the extension
/// table, `None` if it cannot be sent in GSM-7 at all.
pub fn gsm7_septets(c: char) -> Option<usize> {
    if c == '\u{1b}' {
        None
    } else if GSM7_BASIC.contains(&c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(&c) {
        Some(2)
    } else {
        None
    }
}

/// True when every character of `s` is in the GSM-7 alphabet or its extension.
pub fn is_gsm7(s: &str) -> bool {
    s.chars().all(|c| gsm7_septets(c).is_some())
}

/// Counts parts of `units` (each item the size of one indivisible character) packed into
/// parts of `multi` units, never splitting a character (an escape pair or a surrogate
/// pair must stay in one part, 3GPP TS 23.038 §6.1.2.1.1).
fn pack(widths: impl Iterator<Item = usize>, single: usize, multi: usize) -> (usize, usize) {
    let widths: Vec<usize> = widths.collect();
    let total: usize = widths.iter().sum();
    if total <= single {
        return (total, 1);
    }
    let mut parts = 1;
    let mut used = 0;
    for w in widths {
        if used + w > multi {
            parts += 1;
            used = 0;
        }
        used += w;
    }
    (total, parts)
}

/// Segments `s` takes: GSM-7 when every character allows it, UCS-2 otherwise (one
/// character outside GSM-7 turns the whole message to UCS-2). An empty text is one
/// segment.
pub fn count_segments(s: &str) -> SegmentCount {
    if is_gsm7(s) {
        let (units, segments) = pack(
            s.chars().map(|c| gsm7_septets(c).unwrap_or(1)),
            GSM7_SINGLE,
            GSM7_MULTI,
        );
        SegmentCount {
            encoding: SmsEncoding::Gsm7,
            units,
            segments,
        }
    } else {
        let (units, segments) = pack(s.chars().map(char::len_utf16), UCS2_SINGLE, UCS2_MULTI);
        SegmentCount {
            encoding: SmsEncoding::Ucs2,
            units,
            segments,
        }
    }
}

/// Replaces characters outside GSM-7 by their nearest GSM-7 spelling so Portuguese text
/// stays in GSM-7 (about 2.3 times as many characters per segment as UCS-2). Letters that
/// ARE in GSM-7 are kept: é, É, à, Ç, ü, ñ … Others lose their accent: á â ã → a,
/// ç → c, ê → e, í → i, ó ô õ → o, ú → u (and capitals: Á → A, È → E …). Typographic
/// punctuation becomes ASCII (– — → -, “ ” → ", ‘ ’ → ', … → ..., º → o, ª → a). What has
/// no spelling (emoji, other scripts) is left as is, and the text stays UCS-2.
pub fn transliterate_to_gsm7(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if gsm7_septets(c).is_some() {
            out.push(c);
            continue;
        }
        let r: &str = match c {
            'á' | 'â' | 'ã' | 'ā' => "a",
            'Á' | 'Â' | 'Ã' | 'À' => "A",
            'ç' => "c",
            'ê' | 'ë' | 'ē' => "e",
            'Ê' | 'È' | 'Ë' => "E",
            'í' | 'î' | 'ï' => "i",
            'Í' | 'Ì' | 'Î' | 'Ï' => "I",
            'ó' | 'ô' | 'õ' => "o",
            'Ó' | 'Ò' | 'Ô' | 'Õ' => "O",
            'ú' | 'û' => "u",
            'Ú' | 'Ù' | 'Û' => "U",
            '–' | '—' | '‐' | '−' => "-",
            '“' | '”' | '„' | '«' | '»' => "\"",
            '‘' | '’' | '‚' | '´' | '`' => "'",
            '…' => "...",
            'º' | '°' => "o",
            'ª' => "a",
            '\u{a0}' | '\u{2009}' | '\u{202f}' | '\t' => " ",
            '•' | '·' => "-",
            _ => {
                out.push(c);
                continue;
            }
        };
        out.push_str(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gsm7_table_is_exact_about_portuguese_letters() {
        // In the default alphabet (3GPP TS 23.038 §6.2.1).
        for c in [
            'é', 'É', 'à', 'Ç', 'è', 'ù', 'ì', 'ò', 'ñ', 'ü', '@', '£', '§', '¿',
        ] {
            assert_eq!(gsm7_septets(c), Some(1), "{c}");
        }
        // Not in it: force UCS-2.
        for c in [
            'ç', 'ã', 'õ', 'á', 'í', 'ó', 'ú', 'â', 'ê', 'ô', 'À', 'Ã', '`',
        ] {
            assert_eq!(gsm7_septets(c), None, "{c}");
        }
        // Extension table: two septets.
        for c in ['€', '[', ']', '{', '}', '~', '|', '^', '\\'] {
            assert_eq!(gsm7_septets(c), Some(2), "{c}");
        }
        assert_eq!(GSM7_BASIC.len(), 128);
    }

    #[test]
    fn segment_limits_follow_3gpp() {
        let a = |n| "a".repeat(n);
        assert_eq!(count_segments(&a(160)).segments, 1);
        assert_eq!(count_segments(&a(161)).segments, 2);
        assert_eq!(count_segments(&a(306)).segments, 2);
        assert_eq!(count_segments(&a(307)).segments, 3);
        // 159 plain + € (2 septets) = 161 septets: two parts.
        let euro = format!("{}€", a(159));
        assert_eq!(count_segments(&euro).units, 161);
        assert_eq!(count_segments(&euro).segments, 2);
        // An escape pair may not straddle parts: 152 + € + 152 = 306 septets, but the € cannot
        // be split at 152|153, so it moves to part two, which then holds 2 + 152 = 154 > 153.
        let straddle = format!("{}€{}", a(152), a(152));
        assert_eq!(count_segments(&straddle).units, 306);
        assert_eq!(count_segments(&straddle).segments, 3);

        let u = |n| "ã".repeat(n);
        assert_eq!(count_segments(&u(70)).segments, 1);
        assert_eq!(count_segments(&u(71)).segments, 2);
        assert_eq!(count_segments(&u(134)).segments, 2);
        assert_eq!(count_segments(&u(135)).segments, 3);
        assert_eq!(count_segments("").segments, 1);
    }

    #[test]
    fn one_character_outside_gsm7_turns_the_whole_text_to_ucs2() {
        let c = count_segments("Alerta vermelho em Búzi");
        assert_eq!(c.encoding, SmsEncoding::Ucs2);
        assert_eq!(c.units, 23);
        // An emoji is two UTF-16 units (a surrogate pair).
        assert_eq!(count_segments("ok 🌀").units, 5);
        assert_eq!(count_segments("Alerta é à Ç").encoding, SmsEncoding::Gsm7);
    }

    #[test]
    fn transliteration_keeps_gsm7_letters_and_strips_the_others() {
        let t =
            transliterate_to_gsm7("Atenção: prontidão máxima — Ilha de Moçambique, Búzi, é à Ç");
        assert_eq!(
            t,
            "Atencao: prontidao maxima - Ilha de Mocambique, Buzi, é à Ç"
        );
        assert!(is_gsm7(&t));
        assert!(!is_gsm7(&transliterate_to_gsm7("tempo 🌀")));
    }
}
