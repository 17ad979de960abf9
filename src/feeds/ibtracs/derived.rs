//! The derived 12-hourly IBTrACS extract (no names, one wind column) and the SID→name table
//! that names its storms.

use std::collections::HashMap;

use super::storms::{StormSelector, derived_summaries, season_from_sid, select};
use super::table::{Table, parse_time};
use super::{DERIVED_REQUIRED, WindSource, agency_label, finish, wind_note};
use crate::domain::{FixKind, Hectopascals, Knots, TrackPoint, WindAveraging};
use crate::feeds::{FeedError, Location, ParsedForecast, TrackFormat, check_lon_lat};

/// Parses one storm of the derived 12-hourly IBTrACS extract
/// (`sid,step,time,...,lat,lon,...,wind_kt,pres_mb,...,wind_src,nature,...`). It has no names,
/// so `names` (SID → NAME) is used to match `selector.name`; the season is
/// [`season_from_sid`]. Its `wind_kt` is the WMO agency's (RSMC La Réunion, 10-min, in the
/// SWIO) when `wind_src` is "wmo", and JTWC's 1-minute wind when "usa" (converted here).
pub fn parse_derived(
    bytes: &[u8],
    origin: &str,
    selector: &StormSelector,
    names: &HashMap<String, String>,
) -> Result<ParsedForecast, FeedError> {
    let t = Table::read(bytes, origin, &DERIVED_REQUIRED, false)?;
    let storms = derived_summaries(&t, origin, names)?;
    let chosen = select(origin, &storms, selector)?.clone();

    let mut track = Vec::with_capacity(chosen.n_fixes);
    let mut counts: HashMap<WindSource, usize> = HashMap::new();
    let mut no_wind = 0;
    for (line, rec) in t
        .rows
        .iter()
        .filter(|(_, r)| t.text(r, "sid") == Some(chosen.sid.as_str()))
    {
        let line = *line;
        let time = parse_time(origin, line, "time", t.text(rec, "time"))?;
        let lat = t.required_num(origin, line, rec, "lat")?;
        let mut lon = t.required_num(origin, line, rec, "lon")?;
        if lon > 180.0 && lon <= 360.0 {
            lon -= 360.0;
        }
        check_lon_lat(origin, Location::Line(line), "lat, lon", lon, lat)?;
        let mut p = TrackPoint::new(time, lon, lat, FixKind::Analysis);
        match t.num(origin, line, rec, "wind_kt")? {
            Some(w) => {
                let src = t.text(rec, "wind_src").unwrap_or("wmo").to_lowercase();
                let (w, source) = match src.as_str() {
                    "wmo" => (w, WindSource::Agency("wmo".into())),
                    "usa" => (
                        WindAveraging::OneMinute.to_ten_minute(Knots(w)).0,
                        WindSource::UsaConverted,
                    ),
                    other => {
                        return Err(FeedError::Invalid {
                            origin: origin.to_string(),
                            at: Location::Line(line),
                            field: "wind_src".into(),
                            expected: "wmo or usa".into(),
                            found: format!("{other:?}"),
                        });
                    }
                };
                p.max_wind_kt = Some(Knots(w));
                *counts.entry(source).or_default() += 1;
            }
            None => no_wind += 1,
        }
        p.min_pressure_hpa = t.num(origin, line, rec, "pres_mb")?.map(Hectopascals);
        p.development = t.text(rec, "nature").map(str::to_string);
        // dist2land_km: IBTrACS DIST2LAND carried by the derived file; 0 = over land.
        p.over_land = t
            .num(origin, line, rec, "dist2land_km")?
            .map(|km| km <= 0.0);
        track.push(p);
    }
    let notes = vec![wind_note(&chosen.sid, &counts, no_wind)];
    finish(
        origin,
        chosen,
        String::new(),
        track,
        agency_label(&counts),
        notes,
        TrackFormat::IbtracsDerivedCsv,
    )
}

/// Parses a `sid,name,season` table (e.g. layers/ibtracs_sid_names.csv) into SID → NAME
/// (upper case). A season, when given, must agree with [`season_from_sid`]: a mismatch means
/// a mistyped SID.
pub fn parse_sid_names(bytes: &[u8], origin: &str) -> Result<HashMap<String, String>, FeedError> {
    let t = Table::read(bytes, origin, &["sid", "name"], false)?;
    let mut out = HashMap::new();
    for (line, rec) in &t.rows {
        let sid = t.text(rec, "sid").unwrap_or_default();
        let expected_season = season_from_sid(sid).ok_or_else(|| FeedError::Invalid {
            origin: origin.to_string(),
            at: Location::Line(*line),
            field: "sid".into(),
            expected: "an IBTrACS SID like \"2019063S18038\"".into(),
            found: format!("{sid:?}"),
        })?;
        let name = t.text(rec, "name").ok_or_else(|| FeedError::Invalid {
            origin: origin.to_string(),
            at: Location::Line(*line),
            field: "name".into(),
            expected: "a storm name".into(),
            found: "an empty cell".into(),
        })?;
        if let Some(season) = t.text(rec, "season")
            && season.parse::<i32>().ok() != Some(expected_season)
        {
            return Err(FeedError::Invalid {
                origin: origin.to_string(),
                at: Location::Line(*line),
                field: "season".into(),
                expected: format!("{expected_season} (the season of SID {sid})"),
                found: format!("{season:?}"),
            });
        }
        out.insert(sid.to_string(), name.to_uppercase());
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lon_in_0_360_is_normalised() {
        let csv = "sid,step,time,lat,lon,wind_kt,pres_mb,wind_src,nature\n\
                   2019063S18038,0,2019-03-05 00:00:00,-17.0,357.2,20,1003,wmo,TS\n";
        let f = parse_derived(
            csv.as_bytes(),
            "t.csv",
            &StormSelector::default(),
            &HashMap::new(),
        )
        .unwrap()
        .forecast;
        assert!((f.track[0].lon - (-2.8)).abs() < 1e-9);
        assert_eq!(f.storm.name, "UNNAMED");
    }

    #[test]
    fn a_names_table_with_a_wrong_season_is_refused() {
        let e = parse_sid_names(b"sid,name,season\n2019063S18038,IDAI,2018\n", "n.csv")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 2") && e.contains("season") && e.contains("2019"),
            "{e}"
        );
    }
}
