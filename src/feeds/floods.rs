//! River-station flood forecasts (GloFAS-based anticipatory-action CSVs, as published by
//! WFP PRISM for Mozambique), parsed into [`crate::domain::FloodForecast`]. River-basin
//! polygons, which layers read too, are parsed in [`crate::geodata::basins`].
//!
//! Pure: bytes in, domain out. Must not do file or network I/O; the caller reads the three
//! files (or fetches them) and hands over the bytes with their origin.
//!
//! Three CSVs make one issuance:
//! - stations: `station_id, station_name, river_name, longitude, latitude,
//!   threshold_bankfull, threshold_moderate, threshold_severe`;
//! - probabilities: per station and valid day, `total_members`, the three thresholds,
//!   `{bankfull,moderate,severe}_exceeding` (member counts) and `…_percentage`;
//! - discharge (optional): one row per station, valid day and `ensemble_member`.
//!
//! Despite its name, `…_percentage` holds a fraction 0..1 in the shared files (50 of 50
//! members exceeding is written `1.0`). Both readings are accepted when they agree with the
//! counts; anything else is an error.
//!
//! Consistency: when the discharge file is given, the parser counts the members exceeding
//! each threshold itself (strictly greater) and compares with the probabilities file. A
//! disagreement is an **error** naming both files: the two halves of one product disagree
//! and neither can be trusted to trigger an alert.
//!
//! Split along its jobs: `table` (the CSV table reader shared by the three files, with its
//! row-and-column errors and thresholds), `stations` (the stations file), `discharge` (the
//! member discharges), `forecast` (the probabilities file cross-checked into one issuance);
//! this file holds the inputs, the result and the error type.

use crate::domain::FloodForecast;

mod discharge;
mod forecast;
mod stations;
mod table;

pub use forecast::{PROBABILITIES_HEADER_START, looks_like_probabilities, parse_forecast};
pub use stations::{SkippedStations, parse_stations, parse_stations_lenient};

/// Everything that can go wrong reading a flood forecast. Every variant names the file; row
/// errors name the line and the column.
#[derive(Debug, thiserror::Error)]
pub enum FloodFeedError {
    #[error("{origin}: line {line}: CSV error ({message})")]
    Csv {
        origin: String,
        line: u64,
        message: String,
    },
    #[error(
        "{origin}: missing required column {column}; expected it in the header, found: {found}"
    )]
    MissingColumn {
        origin: String,
        column: String,
        found: String,
    },
    #[error("{origin}: line {line}, column {column}: expected {expected}, found {found:?}")]
    Invalid {
        origin: String,
        line: u64,
        column: String,
        expected: String,
        found: String,
    },
    #[error(
        "{origin}: line {line}, column station_id: unknown station {station_id:?}; it is not in the stations file {stations_origin}"
    )]
    UnknownStation {
        origin: String,
        line: u64,
        station_id: String,
        stations_origin: String,
    },
    #[error(
        "{origin}: line {line}, station {station_id}: thresholds must rise bankfull ≤ moderate ≤ severe, found bankfull {bankfull}, moderate {moderate}, severe {severe} m³/s"
    )]
    ThresholdOrder {
        origin: String,
        line: u64,
        station_id: String,
        bankfull: f64,
        moderate: f64,
        severe: f64,
    },
    /// The probabilities file disagrees with the member discharges; `detail` says what
    /// the file states and what the members give, and names the discharge file.
    #[error("{origin}: line {line}, column {column}: {detail}")]
    Inconsistent {
        origin: String,
        line: u64,
        column: String,
        detail: String,
    },
    #[error("{origin}: line {line}: {message}")]
    Duplicate {
        origin: String,
        line: u64,
        message: String,
    },
    #[error("{origin}: {message}")]
    Empty { origin: String, message: String },
    #[error(transparent)]
    Basins(#[from] crate::geodata::basins::BasinError),
}

/// One input: its bytes and where they came from (a path or URL, for messages).
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub bytes: &'a [u8],
    pub origin: &'a str,
}

/// The files of one issuance.
#[derive(Debug, Clone, Copy)]
pub struct FloodInputs<'a> {
    pub stations: Input<'a>,
    pub probabilities: Input<'a>,
    /// The member discharges; without them the probabilities file's counts are taken as
    /// they are (and a note says so).
    pub discharge: Option<Input<'a>>,
    /// A station whose thresholds are not bankfull ≤ moderate ≤ severe: `false` refuses the
    /// whole forecast; `true` leaves that station out (its rows in the other files too) and
    /// says so in the notes, so one bad row does not silence every other station.
    pub skip_misordered_stations: bool,
}

/// A parsed forecast with notes on what the parser checked or decided.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedFloodForecast {
    pub forecast: FloodForecast,
    pub notes: Vec<String>,
}
