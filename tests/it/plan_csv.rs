//! The plan's CSV table (issue 14 item 5) for districts whose population is unknown, on
//! the real Météo-France forecast of Freddy (2023-03-10) and the shipped layers: some
//! districts of the COD-AB boundaries have no INE population row (Maquival, MZ1112, in
//! Freddy's path, is one), so exposure counts their people as `NoPopulation`. Their people
//! at risk, demand and gap must read "unknown" (0 would say "nobody"), their province and
//! the country count them, and the province's sums are those of its other districts.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::collections::{BTreeSet, HashMap};

use aviso::exposure::PeopleMethod;
use aviso::plan::output::{UNKNOWN, plan_csv};
use aviso::plan::register::{RegisterBook, demonstration_from_layers};
use aviso::plan::{PlanInput, build_plan};

use crate::common;

const PEOPLE_COLUMNS: [&str; 9] = [
    "people_at_risk_low",
    "people_at_risk_central",
    "people_at_risk_high",
    "demand_low",
    "demand_central",
    "demand_high",
    "gap_low",
    "gap_central",
    "gap_high",
];

#[test]
fn districts_without_population_are_unknown_in_the_plan_csv_not_zero() {
    let Some((cfg, layers, assessment)) = common::freddy_on_shipped_layers() else {
        return;
    };
    // Which districts exposure could not count, read from the assessment.
    let unknown: BTreeSet<String> = assessment
        .exposure
        .districts
        .iter()
        .filter(|d| {
            d.wind
                .iter()
                .any(|w| w.method == PeopleMethod::NoPopulation)
        })
        .map(|d| d.pcode.clone())
        .collect();
    assert!(
        !unknown.is_empty(),
        "Freddy reaches a district without population"
    );
    let mut book = RegisterBook::default();
    book.offer(
        demonstration_from_layers(&layers.layers).unwrap(),
        Vec::new(),
        &layers.layers,
        &cfg.plan,
    )
    .unwrap();
    let plan = build_plan(
        &PlanInput {
            assessment: &assessment,
            layers: &layers,
            register: book.current().unwrap(),
            probabilistic: None,
            travel_times: None,
            extra_unsafe: &[],
        },
        &cfg.plan,
    );
    let csv = plan_csv(&plan).unwrap();
    let mut r = csv::Reader::from_reader(&csv[..]);
    let head: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows: Vec<HashMap<String, String>> = r
        .records()
        .map(|x| {
            head.iter()
                .cloned()
                .zip(x.unwrap().iter().map(str::to_string))
                .collect()
        })
        .collect();
    let districts: Vec<&HashMap<String, String>> =
        rows.iter().filter(|r| r["scope"] == "district").collect();
    let mut per_province: HashMap<&str, (usize, f64, usize)> = HashMap::new();
    for d in &districts {
        let province = per_province
            .entry(d["province_pcode"].as_str())
            .or_default();
        if unknown.contains(&d["pcode"]) {
            for col in PEOPLE_COLUMNS {
                assert_eq!(d[col], UNKNOWN, "{} {col}", d["pcode"]);
            }
            assert_eq!(d["districts_population_unknown"], "1");
            province.0 += 1;
        } else {
            for col in PEOPLE_COLUMNS {
                assert!(
                    d[col].parse::<f64>().is_ok(),
                    "{} {col}: {}",
                    d["pcode"],
                    d[col]
                );
            }
            assert_eq!(d["districts_population_unknown"], "0");
            province.1 += d["people_at_risk_central"].parse::<f64>().unwrap();
            province.2 += 1;
        }
    }
    assert!(
        districts.iter().any(|d| unknown.contains(&d["pcode"])),
        "the unknown districts are in the table"
    );
    for p in rows.iter().filter(|r| r["scope"] == "province") {
        let (n_unknown, sum, n) = per_province[p["pcode"].as_str()];
        assert_eq!(p["districts_population_unknown"], n_unknown.to_string());
        let people: f64 = p["people_at_risk_central"].parse().unwrap();
        // Each district cell is rounded to whole persons.
        assert!(
            (people - sum).abs() <= n as f64 * 0.5 + 0.5,
            "{}: {people} vs {sum}",
            p["pcode"]
        );
    }
    let national = rows.iter().find(|r| r["scope"] == "national").unwrap();
    let in_table = districts
        .iter()
        .filter(|d| unknown.contains(&d["pcode"]))
        .count();
    assert_eq!(
        national["districts_population_unknown"],
        in_table.to_string()
    );
}
