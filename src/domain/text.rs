//! What every text for people shares: the two languages (Portuguese first, Mozambique's
//! working language; English for partners), digit grouping of counts of people, and
//! Maputo time. Used by the CAP documents, the duty officer's table, the subscribers'
//! messages and the contingency sheet, so that they agree.
//!
//! Pure. Must not depend on anything above `domain`.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// Mozambique's time zone: Central Africa Time, UTC+2 all year (Mozambique has not
/// observed daylight saving time since 1980; IANA tz database, zone Africa/Maputo).
pub const MAPUTO_OFFSET_S: i32 = 2 * 3600;

/// A language of the texts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    /// Portuguese: Mozambique's working language (../shared/DOMAIN.md).
    #[default]
    Pt,
    /// English, for partners.
    En,
}

impl Lang {
    /// Portuguese first, as every bilingual text is written.
    pub const ALL: [Lang; 2] = [Lang::Pt, Lang::En];

    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Pt => "pt",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pt" | "pt-pt" | "pt-mz" | "por" | "portugues" | "português" => Some(Lang::Pt),
            "en" | "en-us" | "en-gb" | "eng" | "english" => Some(Lang::En),
            _ => None,
        }
    }

    /// The Portuguese or the English wording.
    pub fn pick<'a>(self, pt: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Pt => pt,
            Lang::En => en,
        }
    }
}

/// `n` (formatted with no decimals, negatives as 0) with its thousands grouped by `sep`:
/// `group_thousands(533825.4, ' ')` is "533 825". Callers round as their text needs.
pub fn group_thousands(n: f64, sep: char) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

/// `t` on the wall clocks of Maputo (CAT, UTC+2).
pub fn maputo(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc() + TimeDelta::seconds(i64::from(MAPUTO_OFFSET_S))
}

/// A time in Maputo time, long form: "10/03/2023 14:00 (hora de Maputo)" or
/// "10 Mar 2023 14:00 CAT".
pub fn maputo_time(t: DateTime<Utc>, lang: Lang) -> String {
    let t = maputo(t);
    match lang {
        Lang::Pt => t.format("%d/%m/%Y %H:%M (hora de Maputo)").to_string(),
        Lang::En => t.format("%-d %b %Y %H:%M CAT").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped_from_the_right_and_rounded() {
        assert_eq!(group_thousands(533_825.4, ' '), "533 825");
        assert_eq!(group_thousands(999.7, ','), "1,000");
        assert_eq!(group_thousands(12.0, ','), "12");
        assert_eq!(group_thousands(-3.0, ','), "0");
        assert_eq!(
            group_thousands(1_234_567.0, '\u{202f}'),
            "1\u{202f}234\u{202f}567"
        );
    }

    #[test]
    fn languages_parse_from_the_usual_spellings() {
        assert_eq!(Lang::parse(" PT-MZ "), Some(Lang::Pt));
        assert_eq!(Lang::parse("English"), Some(Lang::En));
        assert_eq!(Lang::parse("fr"), None);
    }
}
