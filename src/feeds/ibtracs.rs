//! IBTrACS best tracks (NOAA NCEI, v04 CSV) and the derived 12-hourly extract into a
//! [`Forecast`] whose fixes are all analyses, for one storm chosen by name/season/SID.
//!
//! Pure: bytes in, domain out; no file or network I/O.
//!
//! Decisions (IBTrACS v04 column documentation, Knapp et al. 2010):
//! - Position: `LAT`/`LON`, IBTrACS's merged position (it follows the WMO agency, here RSMC
//!   La Réunion, where that agency reports); `REUNION_LAT/LON` are only at RSMC fixes and
//!   would leave the 3-hourly interpolated fixes without a position. `LON` in 0..360 (some
//!   copies) is normalised to −180..180.
//! - Wind, converted to 10-minute means so the whole track has one averaging
//!   ([`WindAveraging::TenMinute`]): `REUNION_WIND` (10-min); else `WMO_WIND` when
//!   `WMO_AGENCY` is an agency that reports 10-minute means ([`TEN_MINUTE_WMO_AGENCIES`]);
//!   else `USA_WIND` (1-min) × [`crate::domain::ONE_MIN_TO_TEN_MIN`]. The counts per source are
//!   returned as a note, and the source label names the agencies used.
//! - Pressure: `REUNION_PRES`, else `WMO_PRES`, else `USA_PRES`. RMW: `REUNION_RMW`, else
//!   `USA_RMW` (nm). Gust: `REUNION_GUST`, else `USA_GUST` (not converted).
//! - Radii: the `REUNION_*` block when any of its radii is present on the row, else `USA_*`.
//!   RSMC La Réunion's radii are at gale (34 kt), storm (48 kt) and hurricane (64 kt) force
//!   (WMO-No. 1178); IBTrACS files the storm-force radii under the `R50` column names (its
//!   documentation calls the BOM/REUNION `R50` columns "storm force"), so they are stored as
//!   48 kt. The `USA_R34/R50/R64` radii are JTWC's, for 1-minute thresholds, and are stored
//!   as 34/50/64 kt: a 1-minute 34 kt radius is somewhat wider than a 10-minute 34 kt one;
//!   that mismatch is accepted (no conversion for radii exists in the sources).
//! - Every fix of the storm is kept (ET/DS/NR natures are part of the track), time-ordered,
//!   one per time. `NATURE` goes into `development`.
//! - Seasons: IBTrACS `SEASON` for southern-hemisphere storms is the year the July–June
//!   season ends (CHIDO, genesis 2024-12-10, SID 2024345S11062, SEASON 2025). The derived
//!   file has no SEASON; [`season_from_sid`] computes it from the SID's genesis date the same
//!   way (checked against every storm of the real IBTrACS extract in tests/it/feeds.rs).
//!
//! Split along its jobs: `table` (a CSV read whole, columns by name, times), `storms` (the
//! storms of a file, the selector and [`season_from_sid`]), `derived` (the derived 12-hourly
//! file and its SID→name table); this file reads the IBTrACS CSV itself and builds the track.

use std::collections::HashMap;

use super::{FeedError, Location, ParsedForecast, TrackFormat, check_lon_lat, sort_and_dedupe};
use crate::domain::{
    FixKind, Forecast, ForecastSource, Hectopascals, Knots, Motion, NauticalMiles, QuadrantRadii,
    StormId, TrackPoint, WindAveraging, WindRadii,
};

mod derived;
mod storms;
mod table;

pub use derived::{parse_derived, parse_sid_names};
pub use storms::{StormSelector, StormSummary, list_storms, season_from_sid};
use storms::{ibtracs_summaries, select};
use table::{Table, parse_time};

/// WMO agencies whose `WMO_WIND` is a 10-minute mean: RSMC La Réunion (RA I plan,
/// WMO-No. 1178), the Australian BoM, RSMC Nadi and TCWC Wellington (RA V plan, WMO/TD-292),
/// RSMC Tokyo (Typhoon Committee operational manual). Not listed: New Delhi (3-minute) and the
/// US agencies (1-minute), whose values are not used as 10-minute winds.
pub const TEN_MINUTE_WMO_AGENCIES: [&str; 5] = ["reunion", "bom", "nadi", "wellington", "tokyo"];

/// Columns without which an IBTrACS CSV cannot be read.
const IBTRACS_REQUIRED: [&str; 6] = ["SID", "SEASON", "NAME", "ISO_TIME", "LAT", "LON"];
/// Columns without which the derived CSV cannot be read.
const DERIVED_REQUIRED: [&str; 4] = ["sid", "time", "lat", "lon"];

/// Where a fix's 10-minute wind came from, for the source label and notes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum WindSource {
    Agency(String),
    UsaConverted,
}

impl WindSource {
    fn label(&self) -> String {
        match self {
            WindSource::Agency(a) => a.clone(),
            WindSource::UsaConverted => "usa".into(),
        }
    }
    fn describe(&self) -> String {
        match self {
            WindSource::Agency(a) => format!("{a} (10-min)"),
            WindSource::UsaConverted => format!(
                "usa (1-min × {} → 10-min)",
                crate::domain::ONE_MIN_TO_TEN_MIN
            ),
        }
    }
}

/// "reunion", or "usa+bom" (most-used first) when several agencies supplied the winds.
fn agency_label(counts: &HashMap<WindSource, usize>) -> String {
    let mut v: Vec<(&WindSource, &usize)> = counts.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    if v.is_empty() {
        return "none".into();
    }
    v.iter()
        .map(|(s, _)| s.label())
        .collect::<Vec<_>>()
        .join("+")
}

fn wind_note(sid: &str, counts: &HashMap<WindSource, usize>, no_wind: usize) -> String {
    let mut v: Vec<(&WindSource, &usize)> = counts.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut parts: Vec<String> = v
        .iter()
        .map(|(s, n)| format!("{n} from {}", s.describe()))
        .collect();
    if no_wind > 0 {
        parts.push(format!("{no_wind} without wind"));
    }
    format!("IBTrACS {sid}: winds of the fixes: {}", parts.join(", "))
}

/// Parses one storm of an IBTrACS v04 CSV (header, units row, data; missing = empty).
pub fn parse(
    bytes: &[u8],
    origin: &str,
    selector: &StormSelector,
) -> Result<ParsedForecast, FeedError> {
    let t = Table::read(bytes, origin, &IBTRACS_REQUIRED, true)?;
    let storms = ibtracs_summaries(&t, origin)?;
    let chosen = select(origin, &storms, selector)?.clone();

    let mut track = Vec::with_capacity(chosen.n_fixes);
    let mut counts: HashMap<WindSource, usize> = HashMap::new();
    let (mut no_wind, mut reunion_radii, mut usa_radii) = (0, 0, 0);
    let mut basin = String::new();
    for (line, rec) in t
        .rows
        .iter()
        .filter(|(_, r)| t.text(r, "SID") == Some(chosen.sid.as_str()))
    {
        let line = *line;
        let num = |col: &str| t.num(origin, line, rec, col);
        if basin.is_empty() {
            basin = t.text(rec, "BASIN").unwrap_or_default().to_string();
        }
        let time = parse_time(origin, line, "ISO_TIME", t.text(rec, "ISO_TIME"))?;
        let lat = t.required_num(origin, line, rec, "LAT")?;
        let mut lon = t.required_num(origin, line, rec, "LON")?;
        if lon > 180.0 && lon <= 360.0 {
            lon -= 360.0;
        }
        check_lon_lat(origin, Location::Line(line), "LAT, LON", lon, lat)?;
        let mut p = TrackPoint::new(time, lon, lat, FixKind::Analysis);

        let wmo_agency = t.text(rec, "WMO_AGENCY").unwrap_or_default().to_lowercase();
        let wind = if let Some(w) = num("REUNION_WIND")? {
            Some((w, WindSource::Agency("reunion".into())))
        } else if let Some(w) =
            num("WMO_WIND")?.filter(|_| TEN_MINUTE_WMO_AGENCIES.contains(&wmo_agency.as_str()))
        {
            Some((w, WindSource::Agency(wmo_agency.clone())))
        } else {
            num("USA_WIND")?.map(|w| {
                (
                    WindAveraging::OneMinute.to_ten_minute(Knots(w)).0,
                    WindSource::UsaConverted,
                )
            })
        };
        match wind {
            Some((w, src)) => {
                p.max_wind_kt = Some(Knots(w));
                *counts.entry(src).or_default() += 1;
            }
            None => no_wind += 1,
        }
        p.min_pressure_hpa =
            first_some(&[num("REUNION_PRES")?, num("WMO_PRES")?, num("USA_PRES")?])
                .map(Hectopascals);
        p.rmw_nm = first_some(&[num("REUNION_RMW")?, num("USA_RMW")?]).map(NauticalMiles);
        p.gust_kt = first_some(&[num("REUNION_GUST")?, num("USA_GUST")?]).map(Knots);
        p.env_pressure_hpa = num("USA_POCI")?.map(Hectopascals);
        p.roci_nm = num("USA_ROCI")?.map(NauticalMiles);
        p.development = t.text(rec, "NATURE").map(str::to_string);
        // DIST2LAND: km from the centre to the nearest land (any country); 0 = over land.
        p.over_land = num("DIST2LAND")?.map(|km| km <= 0.0);
        if let (Some(speed_kt), Some(toward_deg)) = (num("STORM_SPEED")?, num("STORM_DIR")?) {
            p.motion = Some(Motion {
                speed_kt,
                toward_deg,
            });
        }

        // RSMC's storm-force radii (48 kt) live in the REUNION_R50 columns (see module doc).
        let reunion = radii_block(
            &t,
            origin,
            line,
            rec,
            "REUNION",
            &[(34, 34.0), (50, 48.0), (64, 64.0)],
        )?;
        p.wind_radii = if !reunion.is_empty() {
            reunion_radii += 1;
            reunion
        } else {
            let usa = radii_block(
                &t,
                origin,
                line,
                rec,
                "USA",
                &[(34, 34.0), (50, 50.0), (64, 64.0)],
            )?;
            if !usa.is_empty() {
                usa_radii += 1;
            }
            usa
        };
        track.push(p);
    }

    let mut notes = vec![wind_note(&chosen.sid, &counts, no_wind)];
    notes.push(format!(
        "IBTrACS {}: wind radii from REUNION (34/48/64 kt) on {reunion_radii} fixes, from USA (1-min 34/50/64 kt) on {usa_radii} fixes",
        chosen.sid
    ));
    finish(
        origin,
        chosen,
        basin,
        track,
        agency_label(&counts),
        notes,
        TrackFormat::IbtracsCsv,
    )
}

/// Reads `{prefix}_R{col}_{NE,SE,SW,NW}` for each (column threshold, stored threshold); a
/// threshold is kept when any quadrant is given (missing quadrants then count as 0).
fn radii_block(
    t: &Table,
    origin: &str,
    line: u64,
    rec: &csv::StringRecord,
    prefix: &str,
    thresholds: &[(u32, f64)],
) -> Result<Vec<WindRadii>, FeedError> {
    let mut out = Vec::new();
    for &(col_kt, threshold_kt) in thresholds {
        let mut q = [None; 4];
        for (slot, quad) in q.iter_mut().zip(["NE", "SE", "SW", "NW"]) {
            *slot = t.num(origin, line, rec, &format!("{prefix}_R{col_kt}_{quad}"))?;
        }
        if q.iter().any(Option::is_some) {
            let [ne, se, sw, nw] = q.map(|v| v.unwrap_or(0.0));
            out.push(WindRadii {
                threshold_kt,
                radii: QuadrantRadii {
                    ne_nm: ne,
                    se_nm: se,
                    sw_nm: sw,
                    nw_nm: nw,
                },
            });
        }
    }
    Ok(out)
}

fn first_some(values: &[Option<f64>]) -> Option<f64> {
    values.iter().flatten().next().copied()
}

fn finish(
    origin: &str,
    chosen: StormSummary,
    basin: String,
    mut track: Vec<TrackPoint>,
    agency: String,
    mut notes: Vec<String>,
    format: TrackFormat,
) -> Result<ParsedForecast, FeedError> {
    for (time, _) in sort_and_dedupe(&mut track) {
        notes.push(format!(
            "IBTrACS {}: a second fix at {time} was dropped (the first in the file is kept)",
            chosen.sid
        ));
    }
    let Some(last) = track.last().map(|p| p.time) else {
        return Err(FeedError::EmptyTrack {
            origin: origin.to_string(),
            expected: "fix",
            found: format!("no rows for {}", chosen.sid),
        });
    };
    Ok(ParsedForecast {
        forecast: Forecast {
            source: ForecastSource::Ibtracs { agency },
            origin: origin.to_string(),
            storm: StormId {
                name: chosen.name,
                id: chosen.sid,
                basin,
                season: chosen.season.to_string(),
            },
            issued: last,
            reference_time: last,
            wind_averaging: WindAveraging::TenMinute,
            track,
            cone: None,
        },
        format,
        notes,
    })
}
