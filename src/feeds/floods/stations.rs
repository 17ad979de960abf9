//! The stations file: one row per station, its position and its three thresholds.

use super::table::{Table, named, read_thresholds, threshold_columns};
use super::{FloodFeedError, Input};
use crate::domain::FloodStation;

/// Stations set aside for misordered thresholds: (station id, the error).
pub type SkippedStations = Vec<(String, FloodFeedError)>;

/// Parses the stations file; any station with misordered thresholds is an error.
pub fn parse_stations(input: Input) -> Result<Vec<FloodStation>, FloodFeedError> {
    let (stations, skipped) = parse_stations_lenient(input)?;
    match skipped.into_iter().next() {
        Some((_, e)) => Err(e),
        None => Ok(stations),
    }
}

/// Parses the stations file, setting aside (id, error) the stations whose thresholds are
/// misordered; every other problem is an error.
pub fn parse_stations_lenient(
    input: Input,
) -> Result<(Vec<FloodStation>, SkippedStations), FloodFeedError> {
    let t = Table::read(input)?;
    let id = named(&t, "station_id")?;
    let name = named(&t, "station_name")?;
    let river = named(&t, "river_name")?;
    let lon = named(&t, "longitude")?;
    let lat = named(&t, "latitude")?;
    let thr = threshold_columns(&t)?;
    let mut out: Vec<FloodStation> = Vec::with_capacity(t.rows.len());
    let mut skipped: Vec<(String, FloodFeedError)> = Vec::new();
    for row in t.records() {
        let sid = row.text(id)?;
        if out.iter().any(|s| s.id == sid) || skipped.iter().any(|s| s.0 == sid) {
            return Err(FloodFeedError::Duplicate {
                origin: t.origin.to_string(),
                line: row.line,
                message: format!("station {sid} appears twice; expected one row per station"),
            });
        }
        let (x, y) = row.lon_lat(lon, lat)?;
        let thresholds_m3s = match read_thresholds(&row, &thr, &sid) {
            Ok(t) => t,
            Err(e @ FloodFeedError::ThresholdOrder { .. }) => {
                skipped.push((sid, e));
                continue;
            }
            Err(e) => return Err(e),
        };
        out.push(FloodStation {
            thresholds_m3s,
            id: sid,
            name: row.text(name)?,
            river: row.text(river)?,
            lon: x,
            lat: y,
        });
    }
    Ok((out, skipped))
}
