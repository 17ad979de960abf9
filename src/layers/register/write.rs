//! Registers out as HXL CSV: the register with each place's latest figure, and the whole
//! occupancy history as an update file.

use crate::domain::{Register, RegisterField};

fn fmt_number(v: Option<f64>, decimals: usize) -> String {
    match v {
        None => String::new(),
        Some(v) if decimals == 0 || v.fract() == 0.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.decimals$}"),
    }
}

/// The register as HXL CSV: a header row, the hashtag row, one row per entry with its
/// latest occupancy figure and date. Reading it back gives the same register (but the
/// older occupancy figures: see [`occupancy_history_to_hxl`]).
pub fn register_to_hxl(register: &Register) -> Result<Vec<u8>, csv::Error> {
    use RegisterField as F;
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(F::ALL.iter().map(|f| f.header()))?;
    w.write_record(F::ALL.iter().map(|f| f.hxl_tag()))?;
    for e in &register.entries {
        let latest = e.latest_occupancy();
        let cell = |f: F| -> String {
            match f {
                F::Code => e.code.clone(),
                F::Name => e.name.clone(),
                F::SiteType => e.site_type.clone(),
                F::DistrictPcode => e.district_pcode.clone().unwrap_or_default(),
                // 6 decimals ≈ 0.1 m.
                F::Lat => format!("{:.6}", e.lat),
                F::Lon => format!("{:.6}", e.lon),
                F::Capacity => fmt_number(e.capacity_persons, 1),
                F::FloorArea => fmt_number(e.floor_area_m2, 1),
                F::Households => fmt_number(latest.and_then(|o| o.households), 1),
                F::Individuals => fmt_number(latest.and_then(|o| o.individuals), 1),
                F::Date => latest.map(|o| o.date.to_string()).unwrap_or_default(),
                F::Demonstration => if e.demonstration { "true" } else { "false" }.to_string(),
            }
        };
        w.write_record(F::ALL.iter().map(|f| cell(*f)))?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// Every occupancy figure of the register, oldest first per place, as an HXL CSV update
/// file (`#loc+code`, `#date+reported`, `#affected+idps+ind`, `#affected+idps+hh`).
pub fn occupancy_history_to_hxl(register: &Register) -> Result<Vec<u8>, csv::Error> {
    use RegisterField as F;
    let fields = [F::Code, F::Date, F::Individuals, F::Households];
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(fields.iter().map(|f| f.header()))?;
    w.write_record(fields.iter().map(|f| f.hxl_tag()))?;
    for e in &register.entries {
        for o in &e.occupancy {
            w.write_record([
                e.code.clone(),
                o.date.to_string(),
                fmt_number(o.individuals, 1),
                fmt_number(o.households, 1),
            ])?;
        }
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}
