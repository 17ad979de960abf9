//! A filter's answer on one feature: three-valued logic over its properties, the ordering
//! of two values and SQL LIKE.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::{CmpOp, Filter, Operand};

impl Filter {
    /// True when the feature with `props` passes (unknown counts as not passing).
    pub(crate) fn matches(&self, props: &Map<String, Value>) -> bool {
        self.eval(props) == Some(true)
    }

    fn eval(&self, props: &Map<String, Value>) -> Option<bool> {
        let value = |o: &Operand| -> Value {
            match o {
                Operand::Property(p) => props.get(p).cloned().unwrap_or(Value::Null),
                Operand::Literal(v) => v.clone(),
            }
        };
        let negate = |b: Option<bool>, n: bool| b.map(|b| b != n);
        match self {
            Filter::And(a, b) => match (a.eval(props), b.eval(props)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            Filter::Or(a, b) => match (a.eval(props), b.eval(props)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            Filter::Not(a) => a.eval(props).map(|b| !b),
            Filter::Literal(b) => Some(*b),
            Filter::Compare(l, op, r) => {
                let ord = compare(&value(l), &value(r))?;
                Some(match op {
                    CmpOp::Eq => ord == Ordering::Equal,
                    CmpOp::Ne => ord != Ordering::Equal,
                    CmpOp::Lt => ord == Ordering::Less,
                    CmpOp::Le => ord != Ordering::Greater,
                    CmpOp::Gt => ord == Ordering::Greater,
                    CmpOp::Ge => ord != Ordering::Less,
                })
            }
            Filter::IsNull { operand, negated } => Some(value(operand).is_null() != *negated),
            Filter::Like {
                operand,
                pattern,
                negated,
                caseless,
            } => match value(operand) {
                Value::String(s) if *caseless => negate(
                    Some(like(&s.to_lowercase(), &pattern.to_lowercase())),
                    *negated,
                ),
                Value::String(s) => negate(Some(like(&s, pattern)), *negated),
                _ => None,
            },
            Filter::In {
                operand,
                list,
                negated,
            } => {
                let v = value(operand);
                if v.is_null() {
                    return None;
                }
                let found = list.iter().any(|x| compare(&v, x) == Some(Ordering::Equal));
                negate(Some(found), *negated)
            }
            Filter::Between {
                operand,
                low,
                high,
                negated,
            } => {
                let v = value(operand);
                let inside =
                    compare(&v, low)? != Ordering::Less && compare(&v, high)? != Ordering::Greater;
                negate(Some(inside), *negated)
            }
        }
    }
}

/// Orders two values of one kind (numbers, strings, booleans); `None` when either is null
/// or the kinds differ (unknown).
pub(crate) fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// SQL LIKE: `%` any run of characters, `_` one character, `\` escapes the next one.
fn like(s: &str, pattern: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum P {
        Any,
        One,
        Char(char),
    }
    let mut pat = Vec::new();
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        pat.push(match c {
            '%' => P::Any,
            '_' => P::One,
            '\\' => P::Char(it.next().unwrap_or('\\')),
            c => P::Char(c),
        });
    }
    let s: Vec<char> = s.chars().collect();
    // Iterative matching with one backtrack point for the last `%` (linear in practice).
    let (mut i, mut j) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        match pat.get(j) {
            Some(P::Any) => {
                star = Some((j, i));
                j += 1;
            }
            Some(P::One) => {
                i += 1;
                j += 1;
            }
            Some(P::Char(c)) if s.get(i) == Some(c) => {
                i += 1;
                j += 1;
            }
            _ => match star {
                Some((sj, si)) => {
                    j = sj + 1;
                    i = si + 1;
                    star = Some((sj, si + 1));
                }
                None => return false,
            },
        }
    }
    pat.get(j..)
        .unwrap_or_default()
        .iter()
        .all(|p| *p == P::Any)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn basic_and_advanced_comparisons_follow_sql_three_valued_logic() {
        let red = props(
            json!({"level": "red", "people_at_risk": 120000, "name": "Quelimane", "p": 0.8, "in_cone": true}),
        );
        let green = props(json!({"level": "green", "people_at_risk": null, "name": "Mopeia"}));
        let cases: [(&str, bool, bool); 15] = [
            ("level = 'red'", true, false),
            ("NOT level = 'red'", false, true),
            ("people_at_risk >= 100000 AND level = 'red'", true, false),
            ("people_at_risk > 5", true, false),
            // Unknown (null) is not true, and neither is its negation.
            ("NOT (people_at_risk > 5)", false, false),
            ("people_at_risk IS NULL", false, true),
            ("name LIKE 'Quel%'", true, false),
            ("name NOT LIKE '_opeia'", true, false),
            ("name ILIKE 'quel%'", true, false),
            ("level IN ('red', 'orange')", true, false),
            ("level NOT IN ('red')", false, true),
            ("p BETWEEN 0.5 AND 0.9", true, false),
            ("in_cone = TRUE", true, false),
            ("\"level\" = 'green' or false", false, true),
            (
                "(level = 'red' OR level = 'green') AND NOT level = 'green'",
                true,
                false,
            ),
        ];
        for (text, on_red, on_green) in cases {
            let f = Filter::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(f.matches(&red), on_red, "{text} on red");
            assert_eq!(f.matches(&green), on_green, "{text} on green");
        }
    }

    #[test]
    fn like_wildcards_and_escapes() {
        assert!(like("MZ1101", "MZ11%"));
        assert!(like("MZ1101", "MZ11__"));
        assert!(!like("MZ1101", "MZ11_"));
        assert!(like("50%", "50\\%"));
        assert!(!like("500", "50\\%"));
        assert!(like("abcabc", "%bc%bc"));
        assert!(like("", "%"));
        assert!(!like("", "_"));
    }
}
