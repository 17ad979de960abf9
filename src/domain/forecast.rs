//! A cyclone forecast as every source format is parsed into: storm identity, issuance,
//! a time-ordered track of analysis and forecast points with quadrant wind radii, and the
//! product's own uncertainty cone when it has one.
//!
//! No I/O here; parsers live in `crate::feeds`.

use chrono::{DateTime, Utc};
use geo::Polygon;
use serde::{Deserialize, Serialize};

use super::units::{Hectopascals, Knots, NauticalMiles, SwioCategory, WindAveraging};

/// Which product a forecast came from (drives wind averaging and method notes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ForecastSource {
    /// Météo-France RSMC La Réunion "CMRSTRACK" GeoJSON (10-minute winds).
    RsmcReunion,
    /// JTWC/ATCF a-deck or b-deck text; `tech` is the aid (BEST, OFCL, JTWC, model id).
    Atcf { tech: String },
    /// IBTrACS best track; `agency` is the block the track was taken from (reunion, usa, wmo).
    Ibtracs { agency: String },
    /// A best track replayed as if it were a forecast issued at one of its fixes.
    Replay { agency: String },
    /// ECMWF tropical-cyclone track BUFR: one member of the ensemble (ENS) or the
    /// high-resolution deterministic run, numbered as the file numbers it
    /// (`ensembleMemberNumber`; see [`super::ensemble::MemberRole`]).
    EcmwfEnsemble {
        member: u32,
        role: super::ensemble::MemberRole,
    },
}

impl ForecastSource {
    pub fn label(&self) -> String {
        match self {
            ForecastSource::RsmcReunion => "Météo-France RSMC La Réunion".to_string(),
            ForecastSource::Atcf { tech } => format!("JTWC/ATCF ({tech})"),
            ForecastSource::Ibtracs { agency } => format!("IBTrACS best track ({agency})"),
            ForecastSource::Replay { agency } => {
                format!("IBTrACS best track replayed as forecast ({agency})")
            }
            ForecastSource::EcmwfEnsemble { member, role } => {
                format!(
                    "ECMWF tropical-cyclone tracks, member {member} ({})",
                    role.label()
                )
            }
        }
    }
}

/// Storm identity as the source gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StormId {
    /// Name in upper case ("FREDDY"); "UNNAMED" when the source has none.
    pub name: String,
    /// The source's id: "SWI$07/20222023" (RSMC), "SH112023" (ATCF), "2023036S12118" (IBTrACS SID).
    pub id: String,
    /// Basin code as the source gives it ("SWI", "SH", "SI").
    pub basin: String,
    /// Season label as the source gives it ("2022-2023" or "2023").
    pub season: String,
}

/// Quadrant of a wind radius, relative to geographic north.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Quadrant {
    NE,
    SE,
    SW,
    NW,
}

impl Quadrant {
    pub const ALL: [Quadrant; 4] = [Quadrant::NE, Quadrant::SE, Quadrant::SW, Quadrant::NW];

    /// Bearing range (degrees clockwise from north) covered by the quadrant: [start, end).
    pub fn bearing_range_deg(self) -> (f64, f64) {
        match self {
            Quadrant::NE => (0.0, 90.0),
            Quadrant::SE => (90.0, 180.0),
            Quadrant::SW => (180.0, 270.0),
            Quadrant::NW => (270.0, 360.0),
        }
    }
}

/// Radii of one wind threshold in the four quadrants, in nautical miles.
/// A radius of 0 means the threshold is not reached in that quadrant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QuadrantRadii {
    pub ne_nm: f64,
    pub se_nm: f64,
    pub sw_nm: f64,
    pub nw_nm: f64,
}

impl QuadrantRadii {
    /// Radii in nautical miles, in the order sources list them: NE, SE, SW, NW.
    pub fn new(ne_nm: f64, se_nm: f64, sw_nm: f64, nw_nm: f64) -> Self {
        QuadrantRadii {
            ne_nm,
            se_nm,
            sw_nm,
            nw_nm,
        }
    }
    pub fn get(&self, q: Quadrant) -> NauticalMiles {
        NauticalMiles(match q {
            Quadrant::NE => self.ne_nm,
            Quadrant::SE => self.se_nm,
            Quadrant::SW => self.sw_nm,
            Quadrant::NW => self.nw_nm,
        })
    }
    pub fn max_nm(&self) -> f64 {
        self.ne_nm.max(self.se_nm).max(self.sw_nm).max(self.nw_nm)
    }
    pub fn is_zero(&self) -> bool {
        self.max_nm() <= 0.0
    }
    /// Linear interpolation, quadrant by quadrant (`t` in 0..=1).
    pub fn lerp(&self, other: &QuadrantRadii, t: f64) -> QuadrantRadii {
        let l = |a: f64, b: f64| a + (b - a) * t;
        QuadrantRadii {
            ne_nm: l(self.ne_nm, other.ne_nm),
            se_nm: l(self.se_nm, other.se_nm),
            sw_nm: l(self.sw_nm, other.sw_nm),
            nw_nm: l(self.nw_nm, other.nw_nm),
        }
    }
}

/// The extent of one wind threshold around a track point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WindRadii {
    /// The threshold in knots, in the source's averaging (28, 34, 48, 50, 64).
    pub threshold_kt: f64,
    pub radii: QuadrantRadii,
}

/// Whether a point is an observation/analysis (already happened) or a forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FixKind {
    Analysis,
    Forecast,
}

/// Storm motion: speed and the direction it moves *toward* (degrees from north).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Motion {
    pub speed_kt: f64,
    pub toward_deg: f64,
}

/// One fix of the track.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackPoint {
    pub time: DateTime<Utc>,
    /// Longitude, degrees east, EPSG:4326, in −180..180.
    pub lon: f64,
    /// Latitude, degrees north, EPSG:4326 (negative in the southern hemisphere).
    pub lat: f64,
    pub kind: FixKind,
    /// Maximum sustained wind, in the forecast's [`WindAveraging`].
    pub max_wind_kt: Option<Knots>,
    pub gust_kt: Option<Knots>,
    pub min_pressure_hpa: Option<Hectopascals>,
    /// Pressure of the last closed isobar (environmental pressure), when given.
    pub env_pressure_hpa: Option<Hectopascals>,
    /// Radius of maximum wind.
    pub rmw_nm: Option<NauticalMiles>,
    /// Radius of the last closed isobar.
    pub roci_nm: Option<NauticalMiles>,
    /// The source's development stage ("tropical cyclone", "inland", "TS", ...).
    pub development: Option<String>,
    /// Wind radii per threshold, ascending by threshold. Empty when the source has none.
    pub wind_radii: Vec<WindRadii>,
    pub motion: Option<Motion>,
    /// Position uncertainty radius the source attaches to the point (RSMC `position_accuracy`).
    pub position_accuracy_nm: Option<NauticalMiles>,
    /// Whether the source says the centre is over land (any country): IBTrACS `DIST2LAND`
    /// = 0, RSMC development "inland". `None` when the source does not say. Lets landfall
    /// detection tell an entry from the sea from a crossing of a land border.
    pub over_land: Option<bool>,
}

impl TrackPoint {
    /// A bare fix with position and time only.
    pub fn new(time: DateTime<Utc>, lon: f64, lat: f64, kind: FixKind) -> Self {
        TrackPoint {
            time,
            lon,
            lat,
            kind,
            max_wind_kt: None,
            gust_kt: None,
            min_pressure_hpa: None,
            env_pressure_hpa: None,
            rmw_nm: None,
            roci_nm: None,
            development: None,
            wind_radii: Vec::new(),
            motion: None,
            position_accuracy_nm: None,
            over_land: None,
        }
    }

    /// Radii of the given threshold, if the source gave them.
    pub fn radii_for(&self, threshold_kt: f64) -> Option<&QuadrantRadii> {
        self.wind_radii
            .iter()
            .find(|w| (w.threshold_kt - threshold_kt).abs() < 0.5)
            .map(|w| &w.radii)
    }
}

/// One forecast issuance (or a best track treated as one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    pub source: ForecastSource,
    /// Where it was read from: a file path or URL (without secrets), for messages.
    pub origin: String,
    pub storm: StormId,
    /// When the product was issued/updated.
    pub issued: DateTime<Utc>,
    /// The analysis time the forecast starts from (lead times count from here).
    pub reference_time: DateTime<Utc>,
    pub wind_averaging: WindAveraging,
    /// Time-ordered fixes, analysis first, then forecast.
    pub track: Vec<TrackPoint>,
    /// The product's own uncertainty cone (EPSG:4326), when it ships one.
    pub cone: Option<Polygon<f64>>,
}

impl Forecast {
    /// Points of the forecast period (what is coming), in time order.
    pub fn forecast_points(&self) -> Vec<&TrackPoint> {
        self.track
            .iter()
            .filter(|p| p.kind == FixKind::Forecast)
            .collect()
    }

    /// Points of the analysis period (what has already passed), in time order.
    pub fn analysis_points(&self) -> Vec<&TrackPoint> {
        self.track
            .iter()
            .filter(|p| p.kind == FixKind::Analysis)
            .collect()
    }

    /// Lead time of a point in hours from the reference time.
    pub fn lead_time_h(&self, p: &TrackPoint) -> f64 {
        (p.time - self.reference_time).num_seconds() as f64 / 3600.0
    }

    /// The highest 10-minute wind over the forecast period.
    pub fn peak_forecast_wind_10min(&self) -> Option<Knots> {
        self.forecast_points()
            .iter()
            .filter_map(|p| p.max_wind_kt)
            .map(|w| self.wind_averaging.to_ten_minute(w))
            .fold(None, |acc: Option<Knots>, w| match acc {
                Some(a) if a.0 >= w.0 => Some(a),
                _ => Some(w),
            })
    }

    /// SWIO class of a point's wind (converted to 10-minute first).
    pub fn category_of(&self, p: &TrackPoint) -> Option<SwioCategory> {
        p.max_wind_kt
            .map(|w| SwioCategory::from_ten_minute_wind(self.wind_averaging.to_ten_minute(w)))
    }
}
