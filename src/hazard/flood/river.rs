//! River centre-lines as a metric corridor: river names compared without accents or
//! generic words, a station's river found among the loaded lines, and the buffer of a line
//! drawn in metres in local ellipsoidal frames.
//!
//! Pure: no I/O. Must not depend on feeds, layers, exposure, alerts or any adapter.

use std::collections::BTreeMap;

use geo::algorithm::buffer::{BufferStyle, LineCap, LineJoin};
use geo::{
    BooleanOps, BoundingRect, Buffer, Coord, Intersects, LineString, MapCoords, MultiLineString,
    MultiPolygon, Polygon,
};

use super::impact::{Corridor, fold};
use crate::domain::{FloodStation, RiverBasin, RiverLine};
use crate::hazard::geodesy::union_polygons;

/// Words that name no river in particular: "Rio Limpopo", "R. Limpopo" and "Limpopo
/// River" all come down to `["limpopo"]`.
pub(super) const GENERIC_RIVER_WORDS: &[&str] =
    &["rio", "r", "rs", "river", "de", "do", "da", "dos", "das"];

/// A river name as comparable words: folded (lower case, no accents), split at anything
/// not a letter or digit, generic words dropped.
pub(super) fn river_words(name: &str) -> Vec<String> {
    fold(name)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !GENERIC_RIVER_WORDS.contains(w))
        .map(str::to_string)
        .collect()
}

/// The rivers a station names: its river field, and the river its name says it is "at"
/// (`Changane_em_Chibuto` is on the Changane, a tributary its river field files under
/// the Limpopo; ARA and GloFAS station names read "<river> em <place>").
pub(super) fn station_rivers(station: &FloodStation) -> Vec<Vec<String>> {
    let mut out = vec![river_words(&station.river)];
    let name = fold(&station.name).replace('_', " ");
    let words: Vec<&str> = name.split_whitespace().collect();
    if let Some(i) = words.iter().position(|w| *w == "em")
        && i > 0
    {
        out.push(river_words(&words[..i].join(" ")));
    }
    out.retain(|w| !w.is_empty());
    out.dedup();
    out
}

/// The station's river lines inside its basin, buffered by `buffer_km`: the lines named
/// after one of [`station_rivers`], else every line in the basin.
pub(super) fn river_corridor(
    station: &FloodStation,
    basin: &RiverBasin,
    rivers: &[RiverLine],
    buffer_km: f64,
) -> Corridor {
    let Some(basin_box) = basin.geometry.bounding_rect() else {
        return Corridor::NoLines;
    };
    let wanted = station_rivers(station);
    let mut named: Vec<LineString<f64>> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut all: Vec<LineString<f64>> = Vec::new();
    for r in rivers {
        if !r
            .geometry
            .bounding_rect()
            .is_some_and(|b| b.intersects(&basin_box))
        {
            continue;
        }
        let inside = basin.geometry.clip(&r.geometry, false);
        let inside: Vec<LineString<f64>> =
            inside.0.into_iter().filter(|l| l.0.len() >= 2).collect();
        if inside.is_empty() {
            continue;
        }
        if let Some(n) = r
            .name
            .as_deref()
            .filter(|n| wanted.contains(&river_words(n)))
        {
            if !names.iter().any(|x| x == n) {
                names.push(n.to_string());
            }
            named.extend(inside.iter().cloned());
        }
        all.extend(inside);
    }
    let lines = if named.is_empty() {
        names.clear();
        all
    } else {
        named
    };
    if lines.is_empty() {
        return Corridor::NoLines;
    }
    names.sort();
    Corridor::Buffer {
        polygon: river_buffer(&MultiLineString::new(lines), buffer_km),
        rivers: names,
    }
}

/// WGS 84 semi-major axis, m (NIMA TR8350.2, 3rd ed., table 3.1).
pub(super) const WGS84_A_M: f64 = 6_378_137.0;
/// WGS 84 first eccentricity squared, e² = f (2 − f) with 1/f = 298.257223563 (ibid.).
pub(super) const WGS84_E2: f64 = 6.694_379_990_141_3e-3;

/// Height of the latitude bands in which [`river_buffer`] draws (degrees). Each band gets
/// its own frame, so a point is never more than half a band plus the buffer from its
/// frame's latitude: the error bound of [`river_buffer`].
pub const RIVER_BAND_DEG: f64 = 1.0;

/// Angle step (rad) of the round joins and caps of the buffer: each arc is drawn as chords
/// whose sag is 1 − cos(step / 2) = 0.125 % of the buffer width (geo's default, 0.2 rad,
/// sags 0.5 %).
pub(super) const BUFFER_ARC_STEP_RAD: f64 = 0.1;

/// A local equirectangular frame on the WGS 84 ellipsoid, in metres: x = N(φ0)·cos φ0·Δλ,
/// y = M(φ0)·Δφ, with N and M the radii of curvature in the prime vertical and the
/// meridian at the frame's latitude φ0. Affine in (λ, φ): straight lines stay straight
/// both ways, so a polygon drawn in the frame maps back edge for edge.
pub(super) struct LocalFrame {
    lon0: f64,
    lat0: f64,
    x_m_per_deg: f64,
    y_m_per_deg: f64,
}

impl LocalFrame {
    fn new(lon0: f64, lat0: f64) -> Self {
        let phi = lat0.to_radians();
        let w2 = 1.0 - WGS84_E2 * phi.sin().powi(2);
        let n = WGS84_A_M / w2.sqrt();
        let m = WGS84_A_M * (1.0 - WGS84_E2) / (w2 * w2.sqrt());
        let per_deg = std::f64::consts::PI / 180.0;
        LocalFrame {
            lon0,
            lat0,
            x_m_per_deg: n * phi.cos() * per_deg,
            y_m_per_deg: m * per_deg,
        }
    }

    fn to_local(&self, c: Coord<f64>) -> Coord<f64> {
        Coord {
            x: (c.x - self.lon0) * self.x_m_per_deg,
            y: (c.y - self.lat0) * self.y_m_per_deg,
        }
    }

    fn to_lonlat(&self, c: Coord<f64>) -> Coord<f64> {
        Coord {
            x: self.lon0 + c.x / self.x_m_per_deg,
            y: self.lat0 + c.y / self.y_m_per_deg,
        }
    }
}

/// The area within `buffer_km` of `lines` (EPSG:4326), drawn in metres.
///
/// geo's `Buffer` is planar (it would buffer lon/lat by "degrees", 10 % too wide east-west
/// at 25°S and never a distance). No georust crate buffers geodesically (checked: geo
/// 0.33, geo-buffer, geos/proj need C libraries the pure core must not take on), so the
/// lines are cut into [`RIVER_BAND_DEG`] latitude bands, each band's lines are carried to a
/// `LocalFrame` centred on them, buffered there by geo (round joins and caps, i_overlay),
/// carried back and the bands' buffers united.
///
/// Error: the frame's east-west scale is exact at φ0 and off by N(φ)cos φ / (N(φ0)cos φ0)
/// − 1 ≈ −tan φ0 · Δφ elsewhere; north-south by M(φ)/M(φ0) − 1 ≈ 3e² sin φ cos φ Δφ
/// (< 0.02 %). Within a band |Δφ| ≤ 0.5° + the buffer's reach (≤ 0.45° at
/// `MAX_RIVER_BUFFER_KM`), so over Mozambique (|φ| ≤ 27°) the buffer's width is within
/// tan 27° × 0.95° ≈ 0.85 % of `buffer_km` (0.5 % at 5 km: 25 m); plus the 0.125 % chord
/// sag of arcs. Straight frame edges and geodesics part by < 1 m over the few-km edges of
/// a buffer. Not for lines crossing ±180° or near the poles.
pub fn river_buffer(lines: &MultiLineString<f64>, buffer_km: f64) -> MultiPolygon<f64> {
    if !(buffer_km > 0.0 && buffer_km.is_finite()) {
        return MultiPolygon::new(Vec::new());
    }
    let mut polygons: Vec<Polygon<f64>> = Vec::new();
    for pieces in latitude_bands(lines).into_values() {
        let pieces = MultiLineString::new(pieces);
        let Some(r) = pieces.bounding_rect() else {
            continue;
        };
        let frame = LocalFrame::new((r.min().x + r.max().x) / 2.0, (r.min().y + r.max().y) / 2.0);
        let style = BufferStyle::new(buffer_km * 1000.0)
            .line_join(LineJoin::Round(BUFFER_ARC_STEP_RAD))
            .line_cap(LineCap::Round(BUFFER_ARC_STEP_RAD));
        let buffered = pieces
            .map_coords(|c| frame.to_local(c))
            .buffer_with_style(style);
        polygons.extend(buffered.map_coords(|c| frame.to_lonlat(c)).0);
    }
    union_polygons(polygons)
}

/// The lines cut at every multiple of [`RIVER_BAND_DEG`] of latitude (new vertices by
/// linear interpolation along each segment as drawn in lon/lat) and grouped by band.
pub(super) fn latitude_bands(lines: &MultiLineString<f64>) -> BTreeMap<i64, Vec<LineString<f64>>> {
    let band_of = |y: f64| (y / RIVER_BAND_DEG).floor() as i64;
    let lerp = |a: Coord<f64>, b: Coord<f64>, t: f64| Coord {
        x: a.x + (b.x - a.x) * t,
        y: a.y + (b.y - a.y) * t,
    };
    let mut bands: BTreeMap<i64, Vec<LineString<f64>>> = BTreeMap::new();
    for line in lines {
        let mut piece: Option<(i64, Vec<Coord<f64>>)> = None;
        for seg in line.lines() {
            let (a, b) = (seg.start, seg.end);
            let (ka, kb) = (band_of(a.y), band_of(b.y));
            let mut cuts = vec![0.0, 1.0];
            // ka ≠ kb implies a.y ≠ b.y: no division by zero.
            for k in ka.min(kb) + 1..=ka.max(kb) {
                cuts.push((k as f64 * RIVER_BAND_DEG - a.y) / (b.y - a.y));
            }
            cuts.sort_by(f64::total_cmp);
            for w in cuts.windows(2) {
                let &[t0, t1] = w else { continue };
                let (p, q) = (lerp(a, b, t0), lerp(a, b, t1));
                let k = band_of((p.y + q.y) / 2.0);
                match &mut piece {
                    Some((pk, coords)) if *pk == k => coords.push(q),
                    _ => {
                        if let Some((pk, coords)) = piece.take() {
                            bands.entry(pk).or_default().push(LineString::new(coords));
                        }
                        piece = Some((k, vec![p, q]));
                    }
                }
            }
        }
        if let Some((k, coords)) = piece {
            bands.entry(k).or_default().push(LineString::new(coords));
        }
    }
    bands
}
