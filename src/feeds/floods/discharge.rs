//! The discharge file: one discharge per station, valid day and ensemble member.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;

use super::table::{Table, named};
use super::{FloodFeedError, Input};
use crate::domain::FloodStation;

/// Member discharges per (station, day), from the discharge file.
pub(super) type Members = HashMap<(String, NaiveDate), BTreeMap<u32, f64>>;

pub(super) fn parse_discharge(
    input: Input,
    stations: &[FloodStation],
    skipped: &[String],
    stations_origin: &str,
) -> Result<Members, FloodFeedError> {
    let t = Table::read(input)?;
    let id = named(&t, "station_id")?;
    let valid = named(&t, "valid_time")?;
    let q = named(&t, "discharge")?;
    let member = named(&t, "ensemble_member")?;
    let mut out: Members = HashMap::new();
    for row in t.records() {
        let sid = row.text(id)?;
        if skipped.contains(&sid) {
            continue;
        }
        if !stations.iter().any(|s| s.id == sid) {
            return Err(FloodFeedError::UnknownStation {
                origin: t.origin.to_string(),
                line: row.line,
                station_id: sid,
                stations_origin: stations_origin.to_string(),
            });
        }
        let day = row.date(valid)?;
        let m = row.count(member)?;
        let value = row.non_negative(q, "a river discharge in m³/s")?;
        if out
            .entry((sid.clone(), day))
            .or_default()
            .insert(m, value)
            .is_some()
        {
            return Err(FloodFeedError::Duplicate {
                origin: t.origin.to_string(),
                line: row.line,
                message: format!(
                    "member {m} of station {sid} on {day} appears twice; expected one row per member"
                ),
            });
        }
    }
    Ok(out)
}
