//! Register validation, the register in force, occupancy updates and the demonstration
//! register (issue 14 part 1).
//!
//! Core: no I/O. The readers in `crate::layers::register` turn files into a
//! [`Register`] and the issues they met (unreadable numbers); [`validate`] adds what needs
//! the boundaries (inside Mozambique, inside the claimed district) and the rules on
//! codes and capacities. [`RegisterBook`] keeps the previous register when a new one has
//! any error, and applies occupancy updates all or nothing.

use std::collections::{BTreeMap, HashMap};

use geo::{BoundingRect, Closest, ClosestPoint, Contains, Distance, Geodesic, Point};

use super::PlanConfig;
use crate::domain::{
    IssueSeverity, Layers, Occupancy, PointLayer, Register, RegisterEntry, RegisterField,
    RegisterIssue, RowOrigin, SiteRole,
};
use crate::spatial::AreaIndex;

/// The issues of a register or update that was refused, errors first.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{origin}: {errors} error(s); the register in force is unchanged:\n{listing}", errors = self.errors().count(), listing = self.listing())]
pub struct RegisterRejected {
    pub origin: String,
    pub issues: Vec<RegisterIssue>,
}

impl RegisterRejected {
    pub fn errors(&self) -> impl Iterator<Item = &RegisterIssue> {
        self.issues
            .iter()
            .filter(|i| i.severity == IssueSeverity::Error)
    }
    fn listing(&self) -> String {
        self.errors()
            .map(|i| format!("  {i}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn issue(
    severity: IssueSeverity,
    register: &Register,
    row: u64,
    field: Option<RegisterField>,
    message: String,
) -> RegisterIssue {
    RegisterIssue {
        severity,
        source: register.source.clone(),
        row,
        column: field.map(|f| register.column(f)).unwrap_or_default(),
        message,
    }
}

/// Checks a register against the boundaries and the rules, and sets each entry's
/// district to the one its coordinates lie in (the claimed P-code is kept only when the
/// point lies in no district). Returns the issues found; any error means the register
/// must not be used.
pub fn validate(register: &mut Register, layers: &Layers, cfg: &PlanConfig) -> Vec<RegisterIssue> {
    let mut issues = Vec::new();
    let geoms: Vec<_> = layers
        .districts
        .iter()
        .map(|d| d.geometry.clone())
        .collect();
    let index = AreaIndex::new(&geoms);
    let country_box = layers.country.bounding_rect();
    let known: HashMap<&str, usize> = layers
        .districts
        .iter()
        .enumerate()
        .map(|(i, d)| (d.pcode.as_str(), i))
        .collect();
    let mut first_row_of: HashMap<String, u64> = HashMap::new();
    let mut found = Vec::with_capacity(register.entries.len());
    for e in &register.entries {
        let row = e.origin.row;
        let mut push = |sev, field, message| issues.push(issue(sev, register, row, field, message));
        use IssueSeverity::{Error, Warning};
        // Codes: present and unique.
        if e.code.trim().is_empty() {
            push(
                Error,
                Some(RegisterField::Code),
                "empty code: every site and centre needs a unique code".to_string(),
            );
        } else if let Some(first) = first_row_of.get(&e.code) {
            push(
                Error,
                Some(RegisterField::Code),
                format!("duplicate code {:?}: already used on row {first}", e.code),
            );
        } else {
            first_row_of.insert(e.code.clone(), row);
        }
        if e.name.trim().is_empty() {
            push(Warning, Some(RegisterField::Name), "empty name".to_string());
        }
        // Capacities and floor areas: not negative, not absurd.
        if let Some(c) = e.capacity_persons {
            if c < 0.0 {
                push(
                    Error,
                    Some(RegisterField::Capacity),
                    format!("negative capacity {c}: expected persons >= 0"),
                );
            } else if c > cfg.max_capacity_persons {
                push(
                    Error,
                    Some(RegisterField::Capacity),
                    format!(
                        "capacity {c} persons is absurd (over plan.max_capacity_persons = {}); \
                         check for a typing error or an area in the capacity column",
                        cfg.max_capacity_persons
                    ),
                );
            }
        }
        if let Some(a) = e.floor_area_m2 {
            if a < 0.0 {
                push(
                    Error,
                    Some(RegisterField::FloorArea),
                    format!("negative floor area {a} m²"),
                );
            } else if a > cfg.max_floor_area_m2 {
                push(
                    Error,
                    Some(RegisterField::FloorArea),
                    format!(
                        "floor area {a} m² is absurd (over plan.max_floor_area_m2 = {})",
                        cfg.max_floor_area_m2
                    ),
                );
            }
        }
        if e.role == SiteRole::Centre && e.capacity_persons.is_none() && e.floor_area_m2.is_none() {
            push(
                Warning,
                Some(RegisterField::Capacity),
                "no capacity and no floor area: the centre cannot be planned on".to_string(),
            );
        }
        for o in &e.occupancy {
            for (field, v) in [
                (RegisterField::Individuals, o.individuals),
                (RegisterField::Households, o.households),
            ] {
                if v.is_some_and(|v| v < 0.0) {
                    push(
                        Error,
                        Some(field),
                        format!("negative occupancy {} on {}", v.unwrap_or(0.0), o.date),
                    );
                }
            }
        }
        if let (Some(c), Some(p)) = (
            e.capacity_persons,
            e.latest_occupancy().and_then(|o| o.individuals),
        ) && p > c
            && c >= 0.0
        {
            push(
                Warning,
                Some(RegisterField::Individuals),
                format!("{p} people present, over the capacity of {c}: the centre is full"),
            );
        }
        // Coordinates: inside Mozambique and inside the claimed district.
        let p = Point::new(e.lon, e.lat);
        let mut located = None;
        let in_box = country_box.is_some_and(|b| {
            let m = 1.0; // degrees of slack around the outline's box (about 110 km)
            (b.min().x - m..=b.max().x + m).contains(&e.lon)
                && (b.min().y - m..=b.max().y + m).contains(&e.lat)
        });
        if !(e.lon.is_finite() && e.lat.is_finite()) {
            // The reader reported the unreadable value already.
        } else if !in_box {
            let hint = if e.lat > 0.0 {
                " (north of the equator: are latitude and longitude swapped, or the sign lost?)"
            } else {
                ""
            };
            push(
                Error,
                Some(RegisterField::Lat),
                format!(
                    "{:.5}, {:.5} (lat, lon) is not in Mozambique{hint}",
                    e.lat, e.lon
                ),
            );
        } else if let Some(di) = index.locate(p) {
            located = layers.districts.get(di).map(|d| d.pcode.clone());
        } else if !layers.country.contains(&p) {
            let km = match layers.country.closest_point(&p) {
                Closest::SinglePoint(q) | Closest::Intersection(q) => {
                    Geodesic.distance(p, q) / 1000.0
                }
                Closest::Indeterminate => f64::INFINITY,
            };
            if km > cfg.outside_country_tolerance_km {
                push(
                    Error,
                    Some(RegisterField::Lat),
                    format!(
                        "{:.5}, {:.5} (lat, lon) is {km:.1} km outside Mozambique's outline \
                         (over plan.outside_country_tolerance_km = {})",
                        e.lat, e.lon, cfg.outside_country_tolerance_km
                    ),
                );
            } else {
                push(
                    Warning,
                    Some(RegisterField::Lat),
                    format!(
                        "{:.5}, {:.5} (lat, lon) is {km:.1} km outside the (simplified) \
                         country outline: coast or island; kept",
                        e.lat, e.lon
                    ),
                );
            }
        }
        match (&e.district_pcode, &located) {
            (Some(claimed), Some(actual)) if claimed != actual => push(
                Warning,
                Some(RegisterField::DistrictPcode),
                format!(
                    "claims district {claimed} but its coordinates lie in {actual}; {actual} \
                     is used"
                ),
            ),
            (Some(claimed), None) if !known.contains_key(claimed.as_str()) => push(
                Warning,
                Some(RegisterField::DistrictPcode),
                format!("unknown district P-code {claimed:?} (not in the COD-AB boundaries)"),
            ),
            _ => {}
        }
        found.push(located);
    }
    for (e, located) in register.entries.iter_mut().zip(found) {
        if located.is_some() {
            e.district_pcode = located;
        }
    }
    issues
}

/// One occupancy figure read from an update file.
#[derive(Debug, Clone, PartialEq)]
pub struct OccupancyUpdate {
    pub code: String,
    pub occupancy: Occupancy,
    pub row: u64,
}

/// An occupancy update file as read: its figures, the issues met reading them, and how
/// its columns are named (for messages).
#[derive(Debug, Clone, PartialEq)]
pub struct OccupancyBatch {
    pub source: String,
    pub updates: Vec<OccupancyUpdate>,
    pub issues: Vec<RegisterIssue>,
    pub columns: BTreeMap<RegisterField, String>,
}

/// The register in force. A new register, or an occupancy update, replaces it only when it
/// has no error; otherwise the previous one stays and the errors are returned.
#[derive(Debug, Clone, Default)]
pub struct RegisterBook {
    current: Option<Register>,
}

impl RegisterBook {
    /// A book whose register in force is `register`, accepted before (a register read
    /// back from the store, validated when it was imported).
    pub fn in_force(register: Register) -> RegisterBook {
        RegisterBook {
            current: Some(register),
        }
    }

    pub fn current(&self) -> Option<&Register> {
        self.current.as_ref()
    }

    /// Validates `candidate` (with the issues its reader met) and puts it in force when
    /// there is no error. Returns the warnings.
    pub fn offer(
        &mut self,
        mut candidate: Register,
        mut issues: Vec<RegisterIssue>,
        layers: &Layers,
        cfg: &PlanConfig,
    ) -> Result<Vec<RegisterIssue>, RegisterRejected> {
        issues.extend(validate(&mut candidate, layers, cfg));
        if issues.iter().any(|i| i.severity == IssueSeverity::Error) {
            issues.sort_by_key(|i| (i.severity != IssueSeverity::Error, i.row));
            return Err(RegisterRejected {
                origin: candidate.source,
                issues,
            });
        }
        self.current = Some(candidate);
        Ok(issues)
    }

    /// Adds occupancy figures to the history of the register in force, all or nothing:
    /// an unknown code or a negative figure rejects the whole update.
    pub fn apply_occupancy(&mut self, batch: OccupancyBatch) -> Result<usize, RegisterRejected> {
        let OccupancyBatch {
            source,
            updates,
            mut issues,
            columns,
        } = batch;
        let source = source.as_str();
        let column = |f: RegisterField| {
            columns
                .get(&f)
                .cloned()
                .unwrap_or_else(|| f.hxl_tag().to_string())
        };
        let reject = |issues| RegisterRejected {
            origin: source.to_string(),
            issues,
        };
        let Some(current) = self.current.as_ref() else {
            issues.push(RegisterIssue {
                severity: IssueSeverity::Error,
                source: source.to_string(),
                row: 0,
                column: String::new(),
                message: "no register in force to update".to_string(),
            });
            return Err(reject(issues));
        };
        let at: HashMap<&str, usize> = current
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.code.as_str(), i))
            .collect();
        let mut targets = Vec::with_capacity(updates.len());
        for u in &updates {
            let mut err = |field: RegisterField, message: String| {
                issues.push(RegisterIssue {
                    severity: IssueSeverity::Error,
                    source: source.to_string(),
                    row: u.row,
                    column: column(field),
                    message,
                })
            };
            match at.get(u.code.as_str()) {
                Some(&i) => targets.push(i),
                None => err(
                    RegisterField::Code,
                    format!("code {:?} is not in the register in force", u.code),
                ),
            }
            for (field, v) in [
                (RegisterField::Individuals, u.occupancy.individuals),
                (RegisterField::Households, u.occupancy.households),
            ] {
                if let Some(v) = v.filter(|v| *v < 0.0) {
                    err(field, format!("negative occupancy {v}"));
                }
            }
        }
        if issues.iter().any(|i| i.severity == IssueSeverity::Error) {
            return Err(reject(issues));
        }
        let Some(current) = self.current.as_mut() else {
            return Err(reject(issues));
        };
        let n = updates.len();
        for (u, i) in updates.into_iter().zip(targets) {
            if let Some(e) = current.entries.get_mut(i) {
                e.record_occupancy(u.occupancy);
            }
        }
        Ok(n)
    }
}

/// Covered floor area assumed for a demonstration centre, m², by the MISAU class of the
/// health facility whose location it borrows. An aviso assumption, stated so it can be
/// replaced: INGD's centres are mostly schools and churches (issue 14), and a rural
/// primary-school block of four 7 × 8 m classrooms is about 220 m²; a Posto de Saúde is a
/// village site (one block), a Centro de Saúde a locality's (about two), district and rural
/// hospitals a town's (several schools and churches, ~1,500 m²), provincial and central
/// hospitals a city's (~3,000 m²). With Sphere's 3.5 m² per person that gives 62, 125, 428
/// and 857 persons; the Sofala floods of February 2020 averaged about 525 people per
/// centre (IOM DTM flash report), within that span.
pub fn demonstration_floor_area_m2(facility_type: &str) -> f64 {
    let t = facility_type.to_lowercase();
    if t.contains("posto") {
        220.0
    } else if t.contains("centro de sa") {
        440.0
    } else if t.contains("rural") || t.contains("distrital") {
        1_500.0
    } else if t.contains("hospital") {
        3_000.0
    } else {
        220.0
    }
}

/// A demonstration register built from a layer of real points (the health facilities of
/// the shared data): each point becomes a "demonstration centre" with the floor area of
/// [`demonstration_floor_area_m2`], no capacity (so capacity = area / 3.5 m²), no
/// occupancy, and `demonstration = true`. These are NOT IOM/CCCM sites nor INGD centres.
pub fn demonstration_register(layer: &PointLayer, source: &str) -> Register {
    let entries = layer
        .features
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let class = f.subtype.clone().unwrap_or_default();
            RegisterEntry {
                code: format!("DEMO-{}", f.id),
                name: format!("{} (demonstração)", f.name),
                site_type: format!("Centro de acomodação de demonstração ({class})"),
                role: SiteRole::Centre,
                district_pcode: f.district_pcode.clone(),
                lon: f.location.x(),
                lat: f.location.y(),
                capacity_persons: None,
                floor_area_m2: Some(demonstration_floor_area_m2(&class)),
                occupancy: Vec::new(),
                demonstration: true,
                // As exported: a header row, the hashtag row, then one row per centre.
                origin: RowOrigin { row: i as u64 + 3 },
            }
        })
        .collect();
    Register {
        source: source.to_string(),
        entries,
        columns: Default::default(),
    }
}

/// What every output made with the demonstration register says first.
pub const DEMONSTRATION_NOTE: &str = "DEMONSTRATION register: health-facility locations \
    standing in for accommodation centres, capacities from an assumed floor area per class / \
    3.5 m²; not IOM/CCCM sites, not INGD centres.";

/// [`demonstration_register`] of the layers' health-facility layer (the manifest's
/// `health_facility` kind), named after it; `None` when the manifest has none.
pub fn demonstration_from_layers(layers: &Layers) -> Option<Register> {
    let layer = layers
        .points
        .iter()
        .find(|l| l.kind == crate::domain::PointKind::HealthFacility)?;
    Some(demonstration_register(
        layer,
        &format!(
            "DEMONSTRATION register from layer '{}' ({})",
            layer.info.name, layer.info.path
        ),
    ))
}
