//! Units of measure as newtypes, with the conversions the domain needs.
//!
//! No I/O. Conversion constants cite their source.

use serde::{Deserialize, Serialize};

/// Metres in one international nautical mile (exact, by definition; BIPM SI brochure).
pub const METRES_PER_NM: f64 = 1852.0;

/// Metres per second in one knot (1 kt = 1852 m / 3600 s).
pub const MS_PER_KT: f64 = METRES_PER_NM / 3600.0;

/// A wind speed in knots.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct Knots(pub f64);

impl Knots {
    pub fn to_ms(self) -> f64 {
        self.0 * MS_PER_KT
    }
    pub fn from_ms(ms: f64) -> Self {
        Knots(ms / MS_PER_KT)
    }
    /// km/h, as INGD bulletins state wind speeds.
    pub fn to_kmh(self) -> f64 {
        self.0 * METRES_PER_NM / 1000.0
    }
}

/// A distance in international nautical miles (wind radii, RMW, position accuracy).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct NauticalMiles(pub f64);

impl NauticalMiles {
    pub fn to_m(self) -> f64 {
        self.0 * METRES_PER_NM
    }
    pub fn to_km(self) -> f64 {
        self.to_m() / 1000.0
    }
    pub fn from_km(km: f64) -> Self {
        NauticalMiles(km * 1000.0 / METRES_PER_NM)
    }
}

/// Air pressure in hectopascals (= millibars).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct Hectopascals(pub f64);

/// The averaging period a source's maximum sustained wind refers to.
///
/// RSMC La Réunion (the WMO centre for the South-West Indian Ocean) uses 10-minute means;
/// JTWC (ATCF, IBTrACS `USA_WIND`) uses 1-minute means. WMO (Harper et al. 2010,
/// WMO/TD-1555, "Guidelines for converting between various wind averaging periods in
/// tropical cyclone conditions") gives 10-min ≈ 0.93 × 1-min "at sea"; the older and still
/// common operational factor is 0.88 (1-min ≈ 1.14 × 10-min, ../shared/DOMAIN.md).
/// aviso records the averaging per source and converts with [`ONE_MIN_TO_TEN_MIN`] only
/// where a 10-minute threshold (the SWIO classes, the trigger) is applied to 1-minute data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindAveraging {
    TenMinute,
    OneMinute,
}

/// Factor from a 1-minute to a 10-minute mean wind (1 / 1.14 ≈ 0.88; ../shared/DOMAIN.md,
/// WMO/TD-1555 operational practice).
pub const ONE_MIN_TO_TEN_MIN: f64 = 0.88;

impl WindAveraging {
    /// Converts a wind of this averaging to a 10-minute mean.
    pub fn to_ten_minute(self, wind: Knots) -> Knots {
        match self {
            WindAveraging::TenMinute => wind,
            WindAveraging::OneMinute => Knots(wind.0 * ONE_MIN_TO_TEN_MIN),
        }
    }
    /// Converts a 10-minute threshold to this averaging (for comparing against raw values).
    pub fn from_ten_minute(self, wind: Knots) -> Knots {
        match self {
            WindAveraging::TenMinute => wind,
            WindAveraging::OneMinute => Knots(wind.0 / ONE_MIN_TO_TEN_MIN),
        }
    }
}

/// South-West Indian Ocean intensity classes (RSMC La Réunion, 10-minute mean wind).
///
/// Source: WMO RA I Tropical Cyclone Operational Plan for the South-West Indian Ocean
/// (WMO-No. 1178): tropical depression 28–33 kt; moderate tropical storm 34–47; severe
/// tropical storm 48–63; tropical cyclone 64–89; intense tropical cyclone 90–115; very
/// intense tropical cyclone > 115 kt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SwioCategory {
    Disturbance,
    TropicalDepression,
    ModerateTropicalStorm,
    SevereTropicalStorm,
    TropicalCyclone,
    IntenseTropicalCyclone,
    VeryIntenseTropicalCyclone,
}

impl SwioCategory {
    /// Class of a 10-minute mean maximum wind.
    pub fn from_ten_minute_wind(wind: Knots) -> Self {
        let w = wind.0;
        if w > 115.0 {
            SwioCategory::VeryIntenseTropicalCyclone
        } else if w >= 90.0 {
            SwioCategory::IntenseTropicalCyclone
        } else if w >= 64.0 {
            SwioCategory::TropicalCyclone
        } else if w >= 48.0 {
            SwioCategory::SevereTropicalStorm
        } else if w >= 34.0 {
            SwioCategory::ModerateTropicalStorm
        } else if w >= 28.0 {
            SwioCategory::TropicalDepression
        } else {
            SwioCategory::Disturbance
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            SwioCategory::Disturbance => "tropical disturbance",
            SwioCategory::TropicalDepression => "tropical depression",
            SwioCategory::ModerateTropicalStorm => "moderate tropical storm",
            SwioCategory::SevereTropicalStorm => "severe tropical storm",
            SwioCategory::TropicalCyclone => "tropical cyclone",
            SwioCategory::IntenseTropicalCyclone => "intense tropical cyclone",
            SwioCategory::VeryIntenseTropicalCyclone => "very intense tropical cyclone",
        }
    }

    pub fn name_pt(self) -> &'static str {
        match self {
            SwioCategory::Disturbance => "perturbação tropical",
            SwioCategory::TropicalDepression => "depressão tropical",
            SwioCategory::ModerateTropicalStorm => "tempestade tropical moderada",
            SwioCategory::SevereTropicalStorm => "tempestade tropical severa",
            SwioCategory::TropicalCyclone => "ciclone tropical",
            SwioCategory::IntenseTropicalCyclone => "ciclone tropical intenso",
            SwioCategory::VeryIntenseTropicalCyclone => "ciclone tropical muito intenso",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixty_four_knots_is_about_119_kmh_as_the_trigger_says() {
        assert!((Knots(64.0).to_kmh() - 118.5).abs() < 0.1);
    }

    #[test]
    fn swio_classes_follow_the_wmo_plan_boundaries() {
        use SwioCategory::*;
        let cases = [
            (27.0, Disturbance),
            (28.0, TropicalDepression),
            (34.0, ModerateTropicalStorm),
            (47.0, ModerateTropicalStorm),
            (48.0, SevereTropicalStorm),
            (64.0, TropicalCyclone),
            (90.0, IntenseTropicalCyclone),
            (115.0, IntenseTropicalCyclone),
            (116.0, VeryIntenseTropicalCyclone),
        ];
        for (kt, class) in cases {
            assert_eq!(
                SwioCategory::from_ten_minute_wind(Knots(kt)),
                class,
                "{kt} kt"
            );
        }
    }

    #[test]
    fn one_minute_winds_are_reduced_before_ten_minute_thresholds_apply() {
        let ten = WindAveraging::OneMinute.to_ten_minute(Knots(100.0));
        assert!((ten.0 - 88.0).abs() < 1e-9);
        let back = WindAveraging::OneMinute.from_ten_minute(ten);
        assert!((back.0 - 100.0).abs() < 1e-9);
    }
}
