//! Domain types: forecasts (single and ensemble), track points, wind radii, layers, hazard footprints, alerts and the accommodation-centre register.
//!
//! Pure data. Must not depend on tokio, HTTP, files, GDAL or any other I/O; every module
//! of the core (hazard, exposure, alerts) speaks in these types.
//!
//! Conventions (see ../shared/ARCHITECTURE.md): all geometry is EPSG:4326 with
//! x = longitude, y = latitude; units live in type or field names (`_kt`, `_nm`, `_km`,
//! `_hpa`, `_h`).

pub mod ensemble;
pub mod flood;
pub mod forecast;
pub mod hazard;
pub mod layers;
pub mod register;
pub mod text;
pub mod units;

pub use ensemble::*;
pub use flood::*;
pub use forecast::*;
pub use hazard::*;
pub use layers::*;
pub use register::*;
pub use text::{Lang, MAPUTO_OFFSET_S};
pub use units::*;
