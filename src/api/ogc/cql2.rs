//! A small CQL2 text filter (OGC 21-065r2) over feature properties: the Basic CQL2 class
//! (comparisons `= <> < <= > >=` of a property with a literal, `AND`, `OR`, `NOT`,
//! parentheses, `IS [NOT] NULL`) and the advanced comparison operators (`[NOT] LIKE` with
//! `%` and `_`, `[NOT] IN (...)`, `[NOT] BETWEEN ... AND ...`). Keywords are
//! case-insensitive; strings are single-quoted (`''` is a quote); a property is a bare
//! name or a double-quoted one. Logic is three-valued, as in SQL: a comparison with a
//! missing or null property is unknown, and only a filter that is true keeps a feature.
//!
//! Written here rather than taken from the `cql2` crate (developmentseed/cql2-rs, which
//! parses and evaluates the whole language): its 0.6 release pulls ~200 crates into the
//! build (jsonschema, sqlparser, geozero, pest, jiff, fancy-regex), for the dozen operators
//! a GIS client of a few hundred district features sends. Spatial and temporal operators
//! are not offered, and `/conformance` does not claim them.
//!
//! Pure: no I/O. Errors name the position in the filter text (0-based character).
//!
//! `parse` reads the text (tokens, then a recursive-descent parser with its depth limit) and
//! `eval` gives a filter's three-valued answer on a feature (comparison, LIKE); this file is
//! the filter's shape and its type check against the queryables.

use serde_json::Value;

mod eval;
mod parse;

pub(crate) use eval::compare;

/// Longest filter accepted, in characters: a generous hand-written filter is a few
/// hundred; a longer one is a mistake or an attempt to make the server work.
pub(crate) const MAX_FILTER_CHARS: usize = 4096;

/// The type a queryable property has (JSON Schema `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PropType {
    String,
    Number,
    Integer,
    Boolean,
}

impl PropType {
    pub(crate) fn json_schema_type(self) -> &'static str {
        match self {
            PropType::String => "string",
            PropType::Number => "number",
            PropType::Integer => "integer",
            PropType::Boolean => "boolean",
        }
    }
    fn is_numeric(self) -> bool {
        matches!(self, PropType::Number | PropType::Integer)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    Property(String),
    Literal(Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Compare(Operand, CmpOp, Operand),
    Like {
        operand: Operand,
        pattern: String,
        negated: bool,
        /// `ILIKE` (GDAL's OAPIF driver sends it for OGR SQL's case-insensitive LIKE).
        caseless: bool,
    },
    In {
        operand: Operand,
        list: Vec<Value>,
        negated: bool,
    },
    Between {
        operand: Operand,
        low: Value,
        high: Value,
        negated: bool,
    },
    IsNull {
        operand: Operand,
        negated: bool,
    },
    Literal(bool),
}

impl Filter {
    /// Checks every property against the collection's queryables and that each is
    /// compared with a value of its type. `lookup` gives a queryable's type.
    pub(crate) fn check(&self, lookup: &dyn Fn(&str) -> Option<PropType>) -> Result<(), String> {
        let prop = |o: &Operand| -> Result<Option<(String, PropType)>, String> {
            match o {
                Operand::Property(p) => match lookup(p) {
                    Some(t) => Ok(Some((p.clone(), t))),
                    None => Err(format!(
                        "property {p} is not a queryable of this collection (see its /queryables)"
                    )),
                },
                Operand::Literal(_) => Ok(None),
            }
        };
        let fits = |(p, t): &(String, PropType), v: &Value| -> Result<(), String> {
            let ok = match v {
                Value::Number(_) => t.is_numeric(),
                Value::String(_) => *t == PropType::String,
                Value::Bool(_) => *t == PropType::Boolean,
                _ => true,
            };
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "property {p} is a {} and is compared with {v}",
                    t.json_schema_type()
                ))
            }
        };
        match self {
            Filter::And(a, b) | Filter::Or(a, b) => {
                a.check(lookup)?;
                b.check(lookup)
            }
            Filter::Not(a) => a.check(lookup),
            Filter::Compare(l, _, r) => match (prop(l)?, prop(r)?, l, r) {
                (Some(p), None, _, Operand::Literal(v))
                | (None, Some(p), Operand::Literal(v), _) => fits(&p, v),
                (Some(a), Some(b), _, _)
                    if a.1.is_numeric() != b.1.is_numeric()
                        || (!a.1.is_numeric() && a.1 != b.1) =>
                {
                    Err(format!(
                        "properties {} ({}) and {} ({}) are of different types",
                        a.0,
                        a.1.json_schema_type(),
                        b.0,
                        b.1.json_schema_type()
                    ))
                }
                _ => Ok(()),
            },
            Filter::Like { operand, .. } => match prop(operand)? {
                Some(p) => fits(&p, &Value::String(String::new())),
                None => Ok(()),
            },
            Filter::In { operand, list, .. } => match prop(operand)? {
                Some(p) => list.iter().try_for_each(|v| fits(&p, v)),
                None => Ok(()),
            },
            Filter::Between {
                operand, low, high, ..
            } => match prop(operand)? {
                Some(p) => {
                    fits(&p, low)?;
                    fits(&p, high)
                }
                None => Ok(()),
            },
            Filter::IsNull { operand, .. } => prop(operand).map(|_| ()),
            Filter::Literal(_) => Ok(()),
        }
    }
}
