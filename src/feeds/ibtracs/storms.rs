//! The storms of a file: the selector, the per-storm summaries of both files, the choice of
//! one storm (with the list of candidates when none or several match) and the season of a SID.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};

use super::table::Table;
use super::{DERIVED_REQUIRED, IBTRACS_REQUIRED};
use crate::feeds::{FeedError, Location, TrackFormat, detect_format};

/// Which storm to take from a multi-storm file. Every field given must match; `name` is
/// compared case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StormSelector {
    pub name: Option<String>,
    /// IBTrACS season (southern hemisphere: the year the season ends).
    pub season: Option<i32>,
    pub sid: Option<String>,
}

impl StormSelector {
    fn is_empty(&self) -> bool {
        self.name.is_none() && self.season.is_none() && self.sid.is_none()
    }

    fn matches(&self, s: &StormSummary) -> bool {
        self.sid
            .as_ref()
            .is_none_or(|x| x.trim().eq_ignore_ascii_case(&s.sid))
            && self
                .name
                .as_ref()
                .is_none_or(|x| x.trim().eq_ignore_ascii_case(&s.name))
            && self.season.is_none_or(|x| x == s.season)
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(n) = &self.name {
            parts.push(format!("name {n:?}"));
        }
        if let Some(s) = self.season {
            parts.push(format!("season {s}"));
        }
        if let Some(s) = &self.sid {
            parts.push(format!("sid {s:?}"));
        }
        if parts.is_empty() {
            "an empty selector (no --name, --season or --sid)".into()
        } else {
            parts.join(", ")
        }
    }
}

/// One storm of a file, as listed for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StormSummary {
    pub sid: String,
    /// Upper-case name ("UNNAMED" when the derived file's SID is not in the names table).
    pub name: String,
    pub season: i32,
    pub n_fixes: usize,
}

/// The IBTrACS season of a SID ("YYYYDDDHLLLLL": genesis year, day of year, hemisphere N/S,
/// then position). For southern-hemisphere storms the season is named by the year it ends
/// (July–June), so a genesis from July on belongs to the next year's season.
pub fn season_from_sid(sid: &str) -> Option<i32> {
    let year: i32 = sid.get(0..4)?.parse().ok()?;
    let day: u32 = sid.get(4..7)?.parse().ok()?;
    let hemisphere = sid.get(7..8)?;
    let genesis = NaiveDate::from_yo_opt(year, day)?;
    Some(if hemisphere == "S" && genesis.month() >= 7 {
        year + 1
    } else {
        year
    })
}

/// Lists the storms of an IBTrACS CSV or derived CSV (detected from the header), in file
/// order. `names` (SID → NAME) names the derived file's storms.
pub fn list_storms(
    bytes: &[u8],
    origin: &str,
    names: &HashMap<String, String>,
) -> Result<Vec<StormSummary>, FeedError> {
    match detect_format(bytes) {
        Some(TrackFormat::IbtracsDerivedCsv) => {
            let t = Table::read(bytes, origin, &DERIVED_REQUIRED, false)?;
            derived_summaries(&t, origin, names)
        }
        _ => {
            let t = Table::read(bytes, origin, &IBTRACS_REQUIRED, true)?;
            ibtracs_summaries(&t, origin)
        }
    }
}

pub(super) fn ibtracs_summaries(t: &Table, origin: &str) -> Result<Vec<StormSummary>, FeedError> {
    let mut out: Vec<StormSummary> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for (line, rec) in &t.rows {
        let sid = t.text(rec, "SID").unwrap_or_default();
        if let Some(&i) = at.get(sid) {
            if let Some(s) = out.get_mut(i) {
                s.n_fixes += 1;
            }
            continue;
        }
        let season_raw = t.text(rec, "SEASON").unwrap_or_default();
        let season = season_raw.parse::<i32>().map_err(|_| FeedError::Invalid {
            origin: origin.to_string(),
            at: Location::Line(*line),
            field: "SEASON".into(),
            expected: "a year like 2023".into(),
            found: format!("{season_raw:?}"),
        })?;
        at.insert(sid.to_string(), out.len());
        out.push(StormSummary {
            sid: sid.to_string(),
            name: t
                .text(rec, "NAME")
                .map(str::to_uppercase)
                .unwrap_or_else(|| "UNNAMED".into()),
            season,
            n_fixes: 1,
        });
    }
    Ok(out)
}

pub(super) fn derived_summaries(
    t: &Table,
    origin: &str,
    names: &HashMap<String, String>,
) -> Result<Vec<StormSummary>, FeedError> {
    let mut out: Vec<StormSummary> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for (line, rec) in &t.rows {
        let sid = t.text(rec, "sid").unwrap_or_default();
        if let Some(&i) = at.get(sid) {
            if let Some(s) = out.get_mut(i) {
                s.n_fixes += 1;
            }
            continue;
        }
        let season = season_from_sid(sid).ok_or_else(|| FeedError::Invalid {
            origin: origin.to_string(),
            at: Location::Line(*line),
            field: "sid".into(),
            expected: "an IBTrACS SID like \"2019063S18038\" (YYYYDDDH...)".into(),
            found: format!("{sid:?}"),
        })?;
        at.insert(sid.to_string(), out.len());
        out.push(StormSummary {
            sid: sid.to_string(),
            name: names
                .get(sid)
                .map(|n| n.to_uppercase())
                .unwrap_or_else(|| "UNNAMED".into()),
            season,
            n_fixes: 1,
        });
    }
    Ok(out)
}

fn listing(storms: &[&StormSummary]) -> String {
    storms
        .iter()
        .map(|s| format!("  {} {} {} ({} fixes)", s.name, s.season, s.sid, s.n_fixes))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Advice when a name was asked for but the derived file's storms are unnamed.
const NO_NAMES_HINT: &str = "\nthis file has no storm names: pass a SID→name table \
(layers/ibtracs_sid_names.csv) to select by name, or select by --sid";

pub(super) fn select<'a>(
    origin: &str,
    storms: &'a [StormSummary],
    sel: &StormSelector,
) -> Result<&'a StormSummary, FeedError> {
    let unnamed = !storms.is_empty() && storms.iter().all(|s| s.name == "UNNAMED");
    let hint = if sel.name.is_some() && unnamed {
        NO_NAMES_HINT.to_string()
    } else {
        String::new()
    };
    let all: Vec<&StormSummary> = storms.iter().collect();
    let matching: Vec<&StormSummary> = if sel.is_empty() {
        all.clone()
    } else {
        storms.iter().filter(|s| sel.matches(s)).collect()
    };
    match matching.as_slice() {
        [one] => Ok(one),
        [] => Err(if storms.is_empty() {
            FeedError::EmptyTrack {
                origin: origin.to_string(),
                expected: "track row",
                found: "only the header".into(),
            }
        } else {
            FeedError::NoStormMatch {
                origin: origin.to_string(),
                selector: sel.describe(),
                available: listing(&all),
                hint,
            }
        }),
        many => Err(FeedError::AmbiguousStorm {
            origin: origin.to_string(),
            selector: sel.describe(),
            count: many.len(),
            candidates: listing(many),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn season_follows_the_southern_hemisphere_july_to_june_convention() {
        assert_eq!(season_from_sid("2019063S18038"), Some(2019)); // IDAI, March
        assert_eq!(season_from_sid("2024345S11062"), Some(2025)); // CHIDO, December
        assert_eq!(season_from_sid("2024345N11062"), Some(2024)); // northern: calendar year
        assert_eq!(season_from_sid("20A9063S18038"), None);
        assert_eq!(season_from_sid("2019"), None);
    }
}
