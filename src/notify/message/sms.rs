//! The SMS text: marker, headline, places and what to do, fitted to the segment budget.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alerts::levels::Level;
use crate::domain::text::maputo;
use crate::notify::gsm::{SegmentCount, count_segments, transliterate_to_gsm7};
use crate::notify::select::Notice;
use crate::notify::subscriber::Lang;

use super::{MessageInput, MessageOptions, headline, marker, name_list, place_names};

/// An SMS text and its length on the air.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmsText {
    pub text: String,
    pub count: SegmentCount,
}

/// A time in Maputo time, short form for SMS: "10/03 14h00" or "10 Mar 14:00 CAT".
pub fn maputo_time_short(t: DateTime<Utc>, lang: Lang) -> String {
    let t = maputo(t);
    match lang {
        Lang::Pt => t.format("%d/%m %Hh%M").to_string(),
        Lang::En => t.format("%-d %b %H:%M CAT").to_string(),
    }
}

/// The SMS form of [`instruction`](super::instruction): a few words.
fn short_instruction(notice: &Notice, lang: Lang) -> &'static str {
    match (notice.level, lang) {
        (None, Lang::Pt) => "Ameaça afastou-se.",
        (None, Lang::En) => "Threat has moved away.",
        (Some(Level::Red), Lang::Pt) => "Prontidão máxima, siga as autoridades.",
        (Some(Level::Red), Lang::En) => "Maximum preparedness, follow authorities.",
        (Some(Level::Orange), Lang::Pt) => "Prepare-se, pré-posicione meios.",
        (Some(Level::Orange), Lang::En) => "Prepare, pre-position resources.",
        (Some(Level::Yellow), Lang::Pt) => "Atenção aos avisos.",
        (Some(Level::Yellow), Lang::En) => "Follow the warnings.",
        (Some(Level::Green), Lang::Pt) => "Vigilância.",
        (Some(Level::Green), Lang::En) => "Watch.",
    }
}

/// The SMS text: marker, headline, places, short instruction, next update, map link and
/// the STOP opt-out, in that order of importance. Parts are dropped from the least
/// important (link, then instruction, then next update) and then district names are
/// shortened to "+N" until the text fits `sms_max_segments`; the headline, the first place
/// and STOP always stay (and the count then says it did not fit).
pub fn sms(input: &MessageInput<'_>, opts: &MessageOptions) -> SmsText {
    let (alert, notice, lang) = (input.alert, input.notice, input.lang);
    let head = format!(
        "{}{}",
        marker(alert, lang),
        headline(alert, notice, lang).to_uppercase_first_word()
    );
    let names = place_names(alert, notice);
    let next = alert.next_update.map(|t| match lang {
        Lang::Pt => format!("Próx. aviso {}.", maputo_time_short(t, lang)),
        Lang::En => format!("Next update {}.", maputo_time_short(t, lang)),
    });
    let stop = match lang {
        Lang::Pt => "STOP p/ sair",
        Lang::En => "Reply STOP to opt out",
    };
    let link = format!("{}/", opts.base_url.trim_end_matches('/'));
    // A Cancel or Error sent by hand says why instead of the standard words (issue 13).
    let instr = match &alert.instruction {
        Some(x)
            if alert.msg_type.withdraws()
                && !x[usize::from(lang == Lang::En)].trim().is_empty() =>
        {
            x[usize::from(lang == Lang::En)].trim().to_string()
        }
        _ => short_instruction(notice, lang).to_string(),
    };
    let build = |keep: usize, with_next: bool, with_instr: bool, with_link: bool| {
        let mut parts = vec![head.clone()];
        let places = name_list(&names, keep, lang, true);
        if let Some(first) = parts.first_mut()
            && !places.is_empty()
        {
            first.push_str(&format!(" - {places}."));
        } else if let Some(first) = parts.first_mut() {
            first.push('.');
        }
        if with_instr {
            parts.push(instr.clone());
        }
        if with_next && let Some(n) = &next {
            parts.push(n.clone());
        }
        if with_link {
            parts.push(link.clone());
        }
        parts.push(stop.to_string());
        let text = parts.join(" ");
        if opts.sms_transliterate {
            transliterate_to_gsm7(&text)
        } else {
            text
        }
    };
    let fits = |t: &str| count_segments(t).segments <= opts.sms_max_segments.max(1);
    let all = names.len().max(1);
    let mut candidates: Vec<(usize, bool, bool, bool)> = vec![
        (all, true, true, true),
        (all, true, true, false),
        (all, true, false, false),
        (all, false, false, false),
    ];
    candidates.extend((1..all).rev().map(|k| (k, false, false, false)));
    let mut text = String::new();
    for (keep, n, i, l) in candidates {
        text = build(keep, n, i, l);
        if fits(&text) {
            break;
        }
    }
    let count = count_segments(&text);
    SmsText { text, count }
}

trait UpperFirstWord {
    fn to_uppercase_first_word(&self) -> String;
}

impl UpperFirstWord for String {
    /// "Alerta vermelho: ciclone X" -> "ALERTA VERMELHO: ciclone X": the words before the
    /// colon in capitals, so the level stands out on a small screen.
    fn to_uppercase_first_word(&self) -> String {
        match self.split_once(':') {
            Some((a, b)) => format!("{}:{b}", a.to_uppercase()),
            None => self.to_uppercase(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::text::maputo_time;
    use chrono::TimeZone;

    #[test]
    fn times_are_written_in_maputo_time() {
        let t = Utc.with_ymd_and_hms(2023, 3, 10, 23, 30, 0).unwrap();
        // 23:30 UTC is 01:30 the next day in Maputo (UTC+2).
        assert_eq!(
            maputo_time(t, Lang::Pt),
            "11/03/2023 01:30 (hora de Maputo)"
        );
        assert_eq!(maputo_time(t, Lang::En), "11 Mar 2023 01:30 CAT");
        assert_eq!(maputo_time_short(t, Lang::Pt), "11/03 01h30");
    }
}
