//! District population table: read from records, joined to districts by ADM2 P-code, summed
//! to provinces.
//!
//! Pure: works on records and domain types, no file access. A P-code that does not join
//! is a warning, not an error: boundaries and population tables are published on
//! different cycles, and a missing figure must not stop warnings from going out.

use super::{Field, InvalidNumbers, LayerError, LayerSpec, Record, numeric_field};
use crate::domain::AdminArea;

/// One row of the table: a district P-code and its population, if the row gives one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PopulationRow {
    pub pcode: String,
    pub persons: Option<f64>,
}

/// The table's rows; duplicate P-codes are an error (which one would be right?).
pub(crate) fn table(
    spec: &LayerSpec,
    records: Vec<Record>,
    warnings: &mut Vec<String>,
) -> Result<Vec<PopulationRow>, LayerError> {
    let mut rows: Vec<(PopulationRow, String)> = Vec::with_capacity(records.len());
    let mut skipped = 0usize;
    for record in records {
        let Some(pcode) = record.get(Field::Id).map(str::to_string) else {
            return Err(LayerError::record(
                spec,
                record.describe(),
                format!(
                    "field id ('{}') is empty: every row needs a district P-code",
                    spec.fields.id.as_deref().unwrap_or("")
                ),
            ));
        };
        let persons = match numeric_field(spec, &record, Field::Population) {
            Ok(v) => v,
            Err(_) if spec.invalid_numbers == InvalidNumbers::Skip => {
                skipped += 1;
                None
            }
            Err(e) => return Err(e),
        };
        if let Some((_, first_at)) = rows.iter().find(|(r, _)| r.pcode == pcode) {
            return Err(LayerError::record(
                spec,
                record.describe(),
                format!("P-code {pcode} appears twice (first at {first_at}): keep one row"),
            ));
        }
        rows.push((PopulationRow { pcode, persons }, record.at.to_string()));
    }
    if skipped > 0 {
        warnings.push(format!(
            "layer '{}': {skipped} non-numeric population values treated as missing \
             (invalid_numbers = \"skip\")",
            spec.name
        ));
    }
    Ok(rows.into_iter().map(|(row, _)| row).collect())
}

/// Puts each row's population on its district and each province's sum on the province.
/// Returns warnings: P-codes in the table but not among the districts, districts without
/// a value, provinces whose sum misses some districts.
pub(crate) fn join(
    layer: &str,
    label: &str,
    rows: &[PopulationRow],
    districts: &mut [AdminArea],
    provinces: &mut [AdminArea],
) -> Vec<String> {
    let mut warnings = Vec::new();
    let unknown: Vec<&str> = rows
        .iter()
        .filter(|r| !districts.iter().any(|d| d.pcode == r.pcode))
        .map(|r| r.pcode.as_str())
        .collect();
    if !unknown.is_empty() {
        warnings.push(format!(
            "layer '{layer}': {} P-codes are not among the districts and were ignored: {}",
            unknown.len(),
            unknown.join(", ")
        ));
    }
    for district in districts.iter_mut() {
        let value = rows
            .iter()
            .find(|r| r.pcode == district.pcode)
            .and_then(|r| r.persons);
        district.population = value;
        district.population_source = value.map(|_| label.to_string());
    }
    let without: Vec<String> = districts
        .iter()
        .filter(|d| d.population.is_none())
        .map(|d| format!("{} {}", d.pcode, d.name))
        .collect();
    if !without.is_empty() {
        warnings.push(format!(
            "layer '{layer}': {} districts have no population value: {}",
            without.len(),
            without.join(", ")
        ));
    }
    for province in provinces.iter_mut() {
        let mine = || {
            districts
                .iter()
                .filter(|d| d.parent_pcode.as_deref() == Some(province.pcode.as_str()))
        };
        let values: Vec<f64> = mine().filter_map(|d| d.population).collect();
        if values.is_empty() {
            province.population = None;
            province.population_source = None;
            continue;
        }
        let missing = mine().filter(|d| d.population.is_none()).count();
        let sum: f64 = values.iter().sum();
        province.population = Some(sum);
        province.population_source = Some(if missing == 0 {
            format!("{label} (sum of districts)")
        } else {
            format!("{label} (sum of districts; {missing} without a value)")
        });
        if missing > 0 {
            warnings.push(format!(
                "layer '{layer}': province {} ({}) population sums {} districts; {missing} \
                 have no value",
                province.pcode,
                province.name,
                values.len()
            ));
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::MultiPolygon;

    fn area(pcode: &str, parent: Option<&str>) -> AdminArea {
        AdminArea {
            pcode: pcode.into(),
            name: format!("Area {pcode}"),
            parent_pcode: parent.map(str::to_string),
            parent_name: None,
            geometry: MultiPolygon(vec![]),
            area_km2: 0.0,
            population: None,
            population_source: None,
        }
    }

    fn row(pcode: &str, persons: Option<f64>) -> PopulationRow {
        PopulationRow {
            pcode: pcode.into(),
            persons,
        }
    }

    #[test]
    fn provinces_sum_their_districts_and_unjoined_codes_are_reported() {
        let mut districts = vec![
            area("XX0101", Some("XX01")),
            area("XX0102", Some("XX01")),
            area("XX0201", Some("XX02")),
        ];
        let mut provinces = vec![area("XX01", None), area("XX02", None)];
        let rows = [
            row("XX0101", Some(100.0)),
            row("XX0102", Some(50.0)),
            row("XX0201", None),
            row("XX9999", Some(7.0)),
        ];
        let warnings = join("pop", "test 2025", &rows, &mut districts, &mut provinces);
        assert_eq!(provinces[0].population, Some(150.0));
        assert_eq!(
            provinces[1].population, None,
            "no district of XX02 has a value"
        );
        assert_eq!(districts[2].population, None);
        assert!(warnings.iter().any(|w| w.contains("XX9999")));
        assert!(warnings.iter().any(|w| w.contains("XX0201")));
        assert_eq!(districts[0].population_source.as_deref(), Some("test 2025"));
    }
}
