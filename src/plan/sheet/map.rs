//! The contingency sheet's small map: an inline SVG of the districts on the ladder
//! coloured by level, the hazard's layers ([`Overlay`]: a cyclone's forecast track and
//! lowest-threshold swath, a flood's areas and stations) and the centres. EPSG:4326 data
//! drawn equirectangular. Pure.

use std::collections::BTreeMap;
use std::fmt::Write;

use geo::{BoundingRect, Coord, LineString, MultiPolygon, Rect, Simplify};

use crate::alerts::levels::Level;
use crate::domain::Layers;
use crate::domain::text::Lang;
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

/// How an overlay area is drawn.
#[derive(Debug, Clone, Copy)]
pub(super) enum AreaStyle {
    /// Outline only, dashed purple (a cyclone's wind swath).
    Dashed,
    /// Translucent blue with a blue outline (a flood area).
    Water,
}

/// The hazard's layers on the map and their legend lines.
pub(super) struct Overlay {
    pub(super) areas: Vec<(MultiPolygon<f64>, AreaStyle)>,
    /// A forecast track, drawn as a black line.
    pub(super) track: Option<LineString<f64>>,
    /// Points drawn as blue triangles (flood stations at a level), lon/lat.
    pub(super) stations: Vec<(f64, f64)>,
    /// Legend of the hazard's layers, drawn before the centres' (label per mark).
    pub(super) legend: Vec<(Mark, String)>,
}

/// A legend mark.
#[derive(Debug, Clone, Copy)]
pub(super) enum Mark {
    Track,
    Area(AreaStyle),
    Station,
}

fn area_attrs(style: AreaStyle) -> &'static str {
    match style {
        AreaStyle::Dashed => {
            "fill=\"none\" stroke=\"#5e3c99\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\""
        }
        AreaStyle::Water => {
            "fill=\"#2c7fb8\" fill-opacity=\"0.45\" stroke=\"#08519c\" stroke-width=\"1\""
        }
    }
}

/// A blue triangle centred on (x, y).
fn triangle(x: f64, y: f64) -> String {
    format!(
        "<path d=\"M{:.1},{:.1}l5,9h-10z\" fill=\"#08519c\" stroke=\"#fff\" stroke-width=\"0.8\"/>",
        x,
        y - 5.0
    )
}

/// The map: districts on the ladder coloured by level, the other districts in outline,
/// the hazard's overlay, the centres to open (green) and the register's centres made
/// unsafe by the forecast (red crosses). EPSG:4326 data, drawn equirectangular.
pub(super) fn map_svg(plan: &Plan, overlay: &Overlay, layers: &Layers, lang: Lang) -> String {
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
    let inside = |x: f64, y: f64| (0.0..=MAP_W).contains(&x) && (0.0..=MAP_H).contains(&y);
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
    for (g, style) in &overlay.areas {
        let _ = write!(
            s,
            "<path class=\"hazard-area\" d=\"{}\" {}/>",
            view.polygons(g),
            area_attrs(*style)
        );
    }
    if let Some(track) = &overlay.track {
        let _ = write!(
            s,
            "<path d=\"{}\" fill=\"none\" stroke=\"#000\" stroke-width=\"2\"/>",
            view.path(track)
        );
    }
    for (lon, lat) in &overlay.stations {
        let (x, y) = view.xy(Coord { x: *lon, y: *lat });
        if inside(x, y) {
            s.push_str(&triangle(x, y));
        }
    }
    for c in plan.centres.iter().filter(|c| !c.safe) {
        let (x, y) = view.xy(Coord { x: c.lon, y: c.lat });
        if inside(x, y) {
            let _ = write!(
                s,
                "<path class=\"unsafe-centre\" d=\"M{:.1},{:.1}l6,6m0,-6l-6,6\" stroke=\"#b2182b\" \
                 stroke-width=\"1.5\"/>",
                x - 3.0,
                y - 3.0
            );
        }
    }
    for c in plan.centres.iter().filter(|c| c.allocated > 0.5) {
        let (x, y) = view.xy(Coord { x: c.lon, y: c.lat });
        let _ = write!(
            s,
            "<circle class=\"open-centre\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4\" fill=\"#1a9850\" \
             stroke=\"#fff\"/>"
        );
    }
    // The legend: the hazard's lines, then the centres' two marks on one line.
    let lines = overlay.legend.len() + 1;
    let _ = write!(
        s,
        "<g font-size=\"11\" font-family=\"sans-serif\"><rect x=\"6\" y=\"6\" width=\"260\" \
         height=\"{}\" fill=\"#fff\" opacity=\"0.85\"/>",
        lines * 16 + 14
    );
    for (i, (mark, label)) in overlay.legend.iter().enumerate() {
        let y = 18 + 16 * i;
        match mark {
            Mark::Track => {
                let _ = write!(
                    s,
                    "<path d=\"M12,{y}h22\" stroke=\"#000\" stroke-width=\"2\"/>"
                );
            }
            Mark::Area(style) => {
                let _ = write!(
                    s,
                    "<rect x=\"12\" y=\"{}\" width=\"22\" height=\"10\" {}/>",
                    y - 5,
                    area_attrs(*style)
                );
            }
            Mark::Station => s.push_str(&triangle(23.0, y as f64)),
        }
        let _ = write!(
            s,
            "<text x=\"40\" y=\"{}\">{}</text>",
            y + 4,
            html_escape::encode_text(label)
        );
    }
    let y = 18 + 16 * overlay.legend.len();
    let _ = write!(
        s,
        "<circle cx=\"23\" cy=\"{y}\" r=\"4\" fill=\"#1a9850\"/><text x=\"40\" y=\"{}\">{}</text>\
         <path d=\"M126,{}l6,6m0,-6l-6,6\" stroke=\"#b2182b\" stroke-width=\"1.5\"/>\
         <text x=\"140\" y=\"{}\">{}</text></g></svg>",
        y + 4,
        lang.pick("centro a abrir", "centre to open"),
        y - 3,
        y + 4,
        lang.pick("centro inseguro", "unsafe centre"),
    );
    s
}
