//! Alert rules and documents: one assessment (forecast -> hazard -> exposure -> levels
//! and trigger, cyclone and flood), the level ladders, the anticipatory-action trigger, the
//! GeoJSON alert document, the duty officer's table, alert versions and the CAP 1.2 document.
//!
//! Pure: builds values and strings; writing them is the caller's business.

pub mod approval;
pub mod assess;
pub mod assess_flood;
pub mod cap;
pub mod document;
pub mod flood;
pub mod flood_cap;
pub mod levels;
pub mod probabilistic;
pub mod reminder;
pub mod table;
pub mod trigger;
pub mod versioning;

use thiserror::Error;

pub use flood::{flood_document, flood_table};

#[derive(Debug, Error)]
pub enum AlertsError {
    #[error("{0}")]
    Config(String),
}
