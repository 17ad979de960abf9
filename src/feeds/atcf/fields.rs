//! One ATCF deck line's fields: the date-time group, latitude and longitude in tenths of a
//! degree with their hemisphere, optional numbers, and the fix and wind radii built from
//! them, each error naming the line and the column.

use super::*;

/// Largest forecast hour accepted: ATCF's TAU field is three digits wide (NRL/JTWC ATCF
/// a-deck format description; JTWC warnings reach 120 h, model aids 240 h or more). A
/// larger number is a damaged line, and would overflow the valid-time arithmetic.
pub(super) const MAX_TAU_H: i64 = 999;

/// "2023030912" (or with minutes, "202303091230") → UTC time.
pub(super) fn parse_dtg(s: &str) -> Option<DateTime<Utc>> {
    let padded = match s.len() {
        10 => format!("{s}00"),
        12 => s.to_string(),
        _ => return None,
    };
    NaiveDateTime::parse_from_str(&padded, "%Y%m%d%H%M")
        .ok()
        .map(|t| Utc.from_utc_datetime(&t))
}

/// "196S" → −19.6 (tenths of a degree, hemisphere letter).
pub fn parse_lat(s: &str) -> Option<f64> {
    parse_tenths(s, b'N', b'S', 900)
}

/// "0372E" or "372E" → 37.2; "1502W" → −150.2.
pub fn parse_lon(s: &str) -> Option<f64> {
    parse_tenths(s, b'E', b'W', 1800)
}

pub(super) fn parse_tenths(s: &str, pos: u8, neg: u8, max_tenths: u32) -> Option<f64> {
    let s = s.trim();
    let hemi = s.chars().last()?;
    let digits = s.strip_suffix(hemi)?;
    let sign = match u8::try_from(hemi.to_ascii_uppercase()) {
        Ok(c) if c == pos => 1.0,
        Ok(c) if c == neg => -1.0,
        _ => return None,
    };
    let digits = digits.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let tenths: u32 = digits.parse().ok()?;
    (tenths <= max_tenths).then(|| sign * f64::from(tenths) / 10.0)
}

/// An optional non-negative number field; empty or 0 → `None` ("not given" in ATCF).
pub(super) fn optional(origin: &str, line: &Line, field: &str) -> Result<Option<f64>, FeedError> {
    let raw = line.fields.get(column_of(field)).copied().unwrap_or("");
    if raw.is_empty() {
        return Ok(None);
    }
    match raw.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(Some(v)),
        Ok(0.0) => Ok(None),
        _ => Err(invalid(origin, line, field, "a non-negative number")),
    }
}

pub(super) fn fix_from_line(
    origin: &str,
    line: &Line,
    time: DateTime<Utc>,
    kind: FixKind,
) -> Result<TrackPoint, FeedError> {
    let lat = parse_lat(line.get(col::LAT)).ok_or_else(|| {
        invalid(
            origin,
            line,
            "LatN/S",
            "tenths of a degree followed by N or S, like \"196S\"",
        )
    })?;
    let lon = parse_lon(line.get(col::LON)).ok_or_else(|| {
        invalid(
            origin,
            line,
            "LonE/W",
            "tenths of a degree followed by E or W, like \"0372E\"",
        )
    })?;
    check_lon_lat(
        origin,
        Location::Line(line.number),
        "LatN/S, LonE/W",
        lon,
        lat,
    )?;
    let mut p = TrackPoint::new(time, lon, lat, kind);
    p.max_wind_kt = optional(origin, line, "VMAX")?.map(Knots);
    p.min_pressure_hpa = optional(origin, line, "MSLP")?.map(Hectopascals);
    p.env_pressure_hpa = optional(origin, line, "POUTER")?.map(Hectopascals);
    p.roci_nm = optional(origin, line, "ROUTER")?.map(NauticalMiles);
    p.rmw_nm = optional(origin, line, "RMW")?.map(NauticalMiles);
    p.gust_kt = optional(origin, line, "GUSTS")?.map(Knots);
    let ty = line.get(col::TY);
    if !ty.is_empty() {
        p.development = Some(ty.to_string());
    }
    // DIR/SPEED are often left 0 in decks: only a non-zero speed is a motion.
    if let (Some(toward_deg), Some(speed_kt)) = (
        line.fields
            .get(col::DIR)
            .and_then(|d| d.parse::<f64>().ok()),
        optional(origin, line, "SPEED")?,
    ) {
        p.motion = Some(Motion {
            speed_kt,
            toward_deg,
        });
    }
    Ok(p)
}

/// The wind radii of one line, or `None` when the line carries none (RAD empty or 0).
pub(super) fn radii_from_line(origin: &str, line: &Line) -> Result<Option<WindRadii>, FeedError> {
    let rad = line.get(col::RAD);
    if rad.is_empty() {
        return Ok(None);
    }
    let threshold_kt = match rad.parse::<u32>() {
        Ok(0) => return Ok(None),
        Ok(t) => f64::from(t),
        Err(_) => {
            return Err(invalid(
                origin,
                line,
                "RAD",
                "a wind threshold in kt (34, 50 or 64)",
            ));
        }
    };
    let mut r = [0.0f64; 4];
    for (k, name) in ["RAD1", "RAD2", "RAD3", "RAD4"].iter().enumerate() {
        // A missing or empty radius field is read as 0 ("not reached"); a garbled one is an error.
        if let Some(v) = optional(origin, line, name)?
            && let Some(slot) = r.get_mut(k)
        {
            *slot = v;
        }
    }
    // All four radii 0 is how trackers and model aids say "radii not computed" (an AVNO line
    // with VMAX 78 kt and 34 kt radii 0/0/0/0); storing it would tell the hazard module the
    // threshold is nowhere reached, so it is dropped and the fix falls back to a profile.
    if r.iter().all(|&x| x == 0.0) {
        return Ok(None);
    }
    let [r1, r2, r3, r4] = r;
    // Radii are listed clockwise starting at the quadrant WINDCODE names.
    let radii = match line.get(col::WINDCODE).to_uppercase().as_str() {
        "AAA" => QuadrantRadii {
            ne_nm: r1,
            se_nm: r1,
            sw_nm: r1,
            nw_nm: r1,
        },
        "NEQ" | "" => QuadrantRadii {
            ne_nm: r1,
            se_nm: r2,
            sw_nm: r3,
            nw_nm: r4,
        },
        "SEQ" => QuadrantRadii {
            se_nm: r1,
            sw_nm: r2,
            nw_nm: r3,
            ne_nm: r4,
        },
        "SWQ" => QuadrantRadii {
            sw_nm: r1,
            nw_nm: r2,
            ne_nm: r3,
            se_nm: r4,
        },
        "NWQ" => QuadrantRadii {
            nw_nm: r1,
            ne_nm: r2,
            se_nm: r3,
            sw_nm: r4,
        },
        _ => {
            return Err(invalid(
                origin,
                line,
                "WINDCODE",
                "AAA (full circle) or NEQ/SEQ/SWQ/NWQ (quadrants)",
            ));
        }
    };
    Ok(Some(WindRadii {
        threshold_kt,
        radii,
    }))
}
