//! The contingency sheet's small map: an inline SVG of the districts on the ladder
//! coloured by level, the forecast track, the lowest-threshold swath and the centres.
//! EPSG:4326 data drawn equirectangular. Pure.

use std::collections::BTreeMap;
use std::fmt::Write;

use geo::{BoundingRect, Coord, LineString, MultiPolygon, Rect, Simplify};

use crate::alerts::assess::Assessment;
use crate::alerts::levels::Level;
use crate::domain::text::Lang;
use crate::domain::{FixKind, Layers};
use crate::plan::Plan;

/// Douglas–Peucker tolerance of the map's outlines, degrees (about 1 km at 18° S): far
/// below a pixel of the 640-pixel map of a few hundred kilometres.
const MAP_SIMPLIFY_DEG: f64 = 0.01;

/// Width and height of the map, SVG user units (pixels on screen).
const MAP_W: f64 = 640.0;
const MAP_H: f64 = 440.0;

/// An equirectangular view of `bbox` scaled by cos(mid-latitude), so that a kilometre
/// east is as long as a kilometre north at the map's centre (fine over a few hundred km).
struct View {
    bbox: Rect<f64>,
    kx: f64,
    scale: f64,
}

impl View {
    fn new(bbox: Rect<f64>) -> View {
        let kx = bbox.center().y.to_radians().cos();
        let w = (bbox.width() * kx).max(1e-6);
        let hgt = bbox.height().max(1e-6);
        View {
            bbox,
            kx,
            scale: (MAP_W / w).min(MAP_H / hgt),
        }
    }
    fn xy(&self, c: Coord<f64>) -> (f64, f64) {
        (
            (c.x - self.bbox.min().x) * self.kx * self.scale,
            (self.bbox.max().y - c.y) * self.scale,
        )
    }
    fn path(&self, ring: &LineString<f64>) -> String {
        let mut d = String::new();
        for (i, c) in ring.coords().enumerate() {
            let (x, y) = self.xy(*c);
            let _ = write!(d, "{}{x:.1},{y:.1}", if i == 0 { "M" } else { "L" });
        }
        d
    }
    fn polygons(&self, mp: &MultiPolygon<f64>) -> String {
        let mut d = String::new();
        for p in mp.simplify(MAP_SIMPLIFY_DEG).0 {
            d.push_str(&self.path(p.exterior()));
            d.push('Z');
            for r in p.interiors() {
                d.push_str(&self.path(r));
                d.push('Z');
            }
        }
        d
    }
}

/// The map: districts on the ladder coloured by level, the other districts in outline,
/// the lowest-threshold forecast swath dashed, the forecast track, the centres to open
/// (green) and the register's centres made unsafe by the forecast (red). EPSG:4326 data,
/// drawn equirectangular.
pub(super) fn map_svg(plan: &Plan, a: &Assessment, layers: &Layers, lang: Lang) -> String {
    let levels: BTreeMap<&str, Level> = plan
        .districts
        .iter()
        .filter_map(|d| d.level.map(|l| (d.pcode.as_str(), l)))
        .filter(|(_, l)| *l > Level::Green)
        .collect();
    let mut bbox: Option<Rect<f64>> = None;
    let mut grow = |r: Option<Rect<f64>>| {
        if let Some(r) = r {
            bbox = Some(match bbox {
                None => r,
                Some(b) => Rect::new(
                    Coord {
                        x: b.min().x.min(r.min().x),
                        y: b.min().y.min(r.min().y),
                    },
                    Coord {
                        x: b.max().x.max(r.max().x),
                        y: b.max().y.max(r.max().y),
                    },
                ),
            });
        }
    };
    for d in layers
        .districts
        .iter()
        .filter(|d| levels.contains_key(d.pcode.as_str()))
    {
        grow(d.geometry.bounding_rect());
    }
    for c in plan.centres.iter().filter(|c| c.allocated > 0.5) {
        grow(Some(Rect::new(
            Coord { x: c.lon, y: c.lat },
            Coord { x: c.lon, y: c.lat },
        )));
    }
    let Some(b) = bbox else {
        return format!(
            "<p>{}</p>",
            lang.pick(
                "Nenhum distrito acima de verde: sem mapa.",
                "No district above green: no map."
            )
        );
    };
    // A margin of a tenth of the extent (at least 0.2°) so that the edges show context.
    let m = (b.width().max(b.height()) * 0.1).max(0.2);
    let view = View::new(Rect::new(
        Coord {
            x: b.min().x - m,
            y: b.min().y - m,
        },
        Coord {
            x: b.max().x + m,
            y: b.max().y + m,
        },
    ));
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {MAP_W} {MAP_H}\" \
         width=\"{MAP_W}\" height=\"{MAP_H}\" role=\"img\"><rect width=\"100%\" height=\"100%\" \
         fill=\"#eaf2f8\"/>"
    );
    for d in &layers.districts {
        let Some(r) = d.geometry.bounding_rect() else {
            continue;
        };
        if r.max().x < view.bbox.min().x
            || r.min().x > view.bbox.max().x
            || r.max().y < view.bbox.min().y
            || r.min().y > view.bbox.max().y
        {
            continue;
        }
        let fill = match levels.get(d.pcode.as_str()) {
            Some(Level::Red) => "#d7301f",
            Some(Level::Orange) => "#fc8d59",
            Some(Level::Yellow) => "#fee08b",
            _ => "#f7f7f7",
        };
        let _ = write!(
            s,
            "<path d=\"{}\" fill=\"{fill}\" stroke=\"#777\" stroke-width=\"0.6\"/>",
            view.polygons(&d.geometry)
        );
    }
    if let Some(sw) = a.hazard.forecast_swaths.first() {
        let _ = write!(
            s,
            "<path d=\"{}\" fill=\"none\" stroke=\"#5e3c99\" stroke-width=\"1.5\" \
             stroke-dasharray=\"5 3\"/>",
            view.polygons(&sw.geometry)
        );
    }
    let track: LineString<f64> = a
        .forecast
        .track
        .iter()
        .filter(|p| p.kind == FixKind::Forecast || p.kind == FixKind::Analysis)
        .map(|p| Coord { x: p.lon, y: p.lat })
        .collect();
    let _ = write!(
        s,
        "<path d=\"{}\" fill=\"none\" stroke=\"#000\" stroke-width=\"2\"/>",
        view.path(&track)
    );
    for c in plan.centres.iter().filter(|c| !c.safe) {
        let (x, y) = view.xy(Coord { x: c.lon, y: c.lat });
        if (0.0..=MAP_W).contains(&x) && (0.0..=MAP_H).contains(&y) {
            let _ = write!(
                s,
                "<path d=\"M{:.1},{:.1}l6,6m0,-6l-6,6\" stroke=\"#b2182b\" stroke-width=\"1.5\"/>",
                x - 3.0,
                y - 3.0
            );
        }
    }
    for c in plan.centres.iter().filter(|c| c.allocated > 0.5) {
        let (x, y) = view.xy(Coord { x: c.lon, y: c.lat });
        let _ = write!(
            s,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4\" fill=\"#1a9850\" stroke=\"#fff\"/>"
        );
    }
    let _ = write!(
        s,
        "<g font-size=\"11\" font-family=\"sans-serif\"><rect x=\"6\" y=\"6\" width=\"250\" \
         height=\"62\" fill=\"#fff\" opacity=\"0.85\"/>\
         <path d=\"M12,18h22\" stroke=\"#000\" stroke-width=\"2\"/><text x=\"40\" y=\"22\">{}</text>\
         <path d=\"M12,34h22\" stroke=\"#5e3c99\" stroke-dasharray=\"5 3\" stroke-width=\"1.5\"/>\
         <text x=\"40\" y=\"38\">{} {:.0} kt</text>\
         <circle cx=\"23\" cy=\"52\" r=\"4\" fill=\"#1a9850\"/><text x=\"40\" y=\"56\">{}</text>\
         <path d=\"M126,49l6,6m0,-6l-6,6\" stroke=\"#b2182b\" stroke-width=\"1.5\"/>\
         <text x=\"140\" y=\"56\">{}</text></g></svg>",
        lang.pick("trajectória prevista", "forecast track"),
        lang.pick("vento ≥", "wind ≥"),
        a.hazard
            .forecast_swaths
            .first()
            .map_or(0.0, |s| s.threshold_kt),
        lang.pick("centro a abrir", "centre to open"),
        lang.pick("centro inseguro", "unsafe centre"),
    );
    s
}
