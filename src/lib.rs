//! aviso: tropical-cyclone and flood early warning for Mozambique.
//!
//! Three rings: a pure core (`domain`, `hazard`, `exposure`, `alerts`), adapters at the
//! edge (`feeds` parse bytes, `layers` read files and GDAL), and thin wiring (`app`, the
//! binary). Data flows one way: feeds -> hazard -> exposure -> alerts -> output.

pub mod domain;
pub mod layers;
pub mod spatial;
