//! aviso: tropical-cyclone and flood early warning for Mozambique.
//!
//! Three rings: a pure core (`domain`, `hazard`, `exposure`, `alerts`, with the assessment in `alerts::assess`), adapters
//! at the edge (`feeds` parse bytes, `layers` read files and GDAL), and thin wiring (`app`,
//! the binary). Data flows one way: feeds -> hazard -> exposure -> alerts -> output.

pub mod alerts;
pub mod api;
pub mod app;
pub mod config;
pub mod domain;
pub mod exposure;
pub mod feeds;
pub mod geodata;
pub mod hazard;
pub mod layers;
pub mod metrics;
pub mod notify;
pub mod pipeline;
pub mod plan;
pub mod raster;
pub mod replay;
pub mod spatial;
pub mod store;
