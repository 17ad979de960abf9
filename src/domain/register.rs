//! The register of accommodation centres and sites that CCCM/DTM and INGD keep (issue 14):
//! what each place is, where, how many people it holds and how many are there, with dates.
//!
//! Pure data, no I/O: the HXL CSV and XLSX readers live in `crate::layers::register`, the
//! validation and the capacity maths in `crate::plan`. Coordinates are EPSG:4326 lon/lat;
//! people are persons (individuals), areas m².

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// The columns a register has, each with the HXL hashtag it is written under. The tags are
/// those of IOM DTM site lists (`#loc+name`, `#loc+code`, `#adm2+pcode`, `#geo+lat`,
/// `#geo+lon`, `#capacity`, `#affected+idps+hh`, `#affected+idps+ind`; issue 14) plus
/// HXL 1.1 core tags for the type (`#loc+type`) and the date (`#date`), and two of
/// aviso's own for what HXL has no tag for: covered floor area and the demonstration flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegisterField {
    Code,
    Name,
    SiteType,
    DistrictPcode,
    Lat,
    Lon,
    Capacity,
    FloorArea,
    Households,
    Individuals,
    Date,
    Demonstration,
}

impl RegisterField {
    pub const ALL: [RegisterField; 12] = [
        RegisterField::Code,
        RegisterField::Name,
        RegisterField::SiteType,
        RegisterField::DistrictPcode,
        RegisterField::Lat,
        RegisterField::Lon,
        RegisterField::Capacity,
        RegisterField::FloorArea,
        RegisterField::Households,
        RegisterField::Individuals,
        RegisterField::Date,
        RegisterField::Demonstration,
    ];

    /// The hashtag written on export (and the canonical one read on import).
    pub fn hxl_tag(self) -> &'static str {
        match self {
            RegisterField::Code => "#loc+code",
            RegisterField::Name => "#loc+name",
            RegisterField::SiteType => "#loc+type",
            RegisterField::DistrictPcode => "#adm2+pcode",
            RegisterField::Lat => "#geo+lat",
            RegisterField::Lon => "#geo+lon",
            RegisterField::Capacity => "#capacity",
            RegisterField::FloorArea => "#capacity+area_m2",
            RegisterField::Households => "#affected+idps+hh",
            RegisterField::Individuals => "#affected+idps+ind",
            RegisterField::Date => "#date+reported",
            RegisterField::Demonstration => "#meta+demonstration",
        }
    }

    /// The human header written above the hashtag row on export.
    pub fn header(self) -> &'static str {
        match self {
            RegisterField::Code => "Site code",
            RegisterField::Name => "Site name",
            RegisterField::SiteType => "Site type",
            RegisterField::DistrictPcode => "District P-code",
            RegisterField::Lat => "Latitude",
            RegisterField::Lon => "Longitude",
            RegisterField::Capacity => "Capacity (persons)",
            RegisterField::FloorArea => "Covered floor area (m2)",
            RegisterField::Households => "Households present",
            RegisterField::Individuals => "Individuals present",
            RegisterField::Date => "Occupancy date",
            RegisterField::Demonstration => "Demonstration (not a real site)",
        }
    }
}

/// What a register entry is for the plan: somewhere people can go, or somewhere people
/// live who may have to leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SiteRole {
    /// An accommodation centre (centro de acomodação: a school, church, public building).
    Centre,
    /// A resettlement or IDP site: its residents are demand when a footprint reaches it.
    Site,
}

impl SiteRole {
    /// The role a free-text site type implies: resettlement and displacement sites are
    /// sites, every other type (schools, churches, "centro de acomodação") a centre.
    pub fn of_type(site_type: &str) -> SiteRole {
        let t = site_type.to_lowercase();
        let site_words = [
            "reassentamento",
            "resettlement",
            "idp",
            "deslocad",
            "displacement",
            "camp",
        ];
        if site_words.iter().any(|w| t.contains(w)) {
            SiteRole::Site
        } else {
            SiteRole::Centre
        }
    }
}

/// People present at a place on a date (a DTM round or an occupancy update).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Occupancy {
    pub date: NaiveDate,
    pub individuals: Option<f64>,
    pub households: Option<f64>,
    /// Where the figure came from ("file.csv row 7").
    pub source: String,
}

impl Occupancy {
    /// Whole days between the figure's date and `at` (negative for a future date).
    pub fn age_days(&self, at: DateTime<Utc>) -> i64 {
        (at.date_naive() - self.date).num_days()
    }
}

/// Where an entry was read: the spreadsheet row (1-based, as a spreadsheet shows it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowOrigin {
    pub row: u64,
}

/// One accommodation centre or site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterEntry {
    pub code: String,
    pub name: String,
    /// Free text from the source ("Escola Primária", "Centro de reassentamento").
    pub site_type: String,
    pub role: SiteRole,
    /// The district P-code the source claims (COD-AB ADM2), or the one found by location.
    pub district_pcode: Option<String>,
    /// EPSG:4326 longitude and latitude, degrees.
    pub lon: f64,
    pub lat: f64,
    /// Persons the place holds, as the register says.
    pub capacity_persons: Option<f64>,
    /// Covered floor area, m² (the capacity's basis when no capacity is given).
    pub floor_area_m2: Option<f64>,
    /// Occupancy history, oldest first, one figure per date.
    pub occupancy: Vec<Occupancy>,
    /// True for the demonstration centres aviso builds from proxy points: never a real
    /// DTM/CCCM site.
    pub demonstration: bool,
    pub origin: RowOrigin,
}

impl RegisterEntry {
    /// The newest occupancy figure.
    pub fn latest_occupancy(&self) -> Option<&Occupancy> {
        self.occupancy.last()
    }

    /// Adds a figure to the history, keeping it in date order; a second figure for the
    /// same date replaces the first (a correction).
    pub fn record_occupancy(&mut self, o: Occupancy) {
        match self.occupancy.binary_search_by(|x| x.date.cmp(&o.date)) {
            Ok(i) => {
                if let Some(slot) = self.occupancy.get_mut(i) {
                    *slot = o;
                }
            }
            Err(i) => self.occupancy.insert(i, o),
        }
    }
}

/// A register as read from one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Register {
    /// The file (or other origin) it was read from.
    pub source: String,
    pub entries: Vec<RegisterEntry>,
    /// How each field's column is named in the source, for messages ("D (#geo+lat)").
    pub columns: BTreeMap<RegisterField, String>,
}

impl Register {
    /// The column label of a field in the source, or its canonical hashtag.
    pub fn column(&self, field: RegisterField) -> String {
        self.columns
            .get(&field)
            .cloned()
            .unwrap_or_else(|| field.hxl_tag().to_string())
    }
}

/// How bad a register problem is: errors reject the register, warnings are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueSeverity {
    Error,
    Warning,
}

/// One problem found in a register or an occupancy update, with its place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterIssue {
    pub severity: IssueSeverity,
    pub source: String,
    /// Spreadsheet row, 1-based; 0 for the file as a whole.
    pub row: u64,
    /// Column letter and hashtag ("D (#geo+lat)"), or empty for a whole row.
    pub column: String,
    pub message: String,
}

impl fmt::Display for RegisterIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.severity {
            IssueSeverity::Error => "error",
            IssueSeverity::Warning => "warning",
        };
        write!(f, "{what}: {}", self.source)?;
        if self.row > 0 {
            write!(f, ", row {}", self.row)?;
        }
        if !self.column.is_empty() {
            write!(f, ", column {}", self.column)?;
        }
        write!(f, ": {}", self.message)
    }
}
