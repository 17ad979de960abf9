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
//! Over 600 lines: one job, one small language (tokens, parser, the type check against
//! queryables, three-valued evaluation, LIKE), each step with errors that say where; about
//! 670 lines before its unit tests. Splitting parser from evaluator would split one grammar.

use std::cmp::Ordering;

use serde_json::{Map, Value};

/// Longest filter accepted, in characters: a generous hand-written filter is a few
/// hundred; a longer one is a mistake or an attempt to make the server work.
pub(crate) const MAX_FILTER_CHARS: usize = 4096;
/// Deepest nesting of parentheses and NOTs accepted (the parser recurses).
const MAX_DEPTH: usize = 64;

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

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Comma,
    Op(CmpOp),
    Str(String),
    Num(f64),
    /// A bare word: a keyword or a property name.
    Word(String),
    /// A double-quoted property name.
    Quoted(String),
}

fn tokens(text: &str) -> Result<Vec<(usize, Tok)>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let at = i;
        match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => out.push((at, Tok::LParen)),
            ')' => out.push((at, Tok::RParen)),
            ',' => out.push((at, Tok::Comma)),
            '=' => out.push((at, Tok::Op(CmpOp::Eq))),
            '<' | '>' => {
                let next = chars.get(i + 1).copied();
                let (op, width) = match (c, next) {
                    ('<', Some('>')) => (CmpOp::Ne, 2),
                    ('<', Some('=')) => (CmpOp::Le, 2),
                    ('>', Some('=')) => (CmpOp::Ge, 2),
                    ('<', _) => (CmpOp::Lt, 1),
                    _ => (CmpOp::Gt, 1),
                };
                out.push((at, Tok::Op(op)));
                i += width;
                continue;
            }
            '\'' | '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(format!(
                                "at character {at}: the {} opened here is never closed",
                                if c == '\'' { "string" } else { "quoted name" }
                            ));
                        }
                        Some(&q) if q == c => {
                            if chars.get(i + 1) == Some(&c) {
                                s.push(c);
                                i += 2;
                            } else {
                                i += 1;
                                break;
                            }
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                out.push((
                    at,
                    if c == '\'' {
                        Tok::Str(s)
                    } else {
                        Tok::Quoted(s)
                    },
                ));
                continue;
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => {
                let mut j = i + 1;
                while chars.get(j).is_some_and(|d| {
                    d.is_ascii_digit()
                        || *d == '.'
                        || *d == 'e'
                        || *d == 'E'
                        || ((*d == '-' || *d == '+')
                            && matches!(chars.get(j - 1), Some('e') | Some('E')))
                }) {
                    j += 1;
                }
                let s: String = chars.get(i..j).unwrap_or_default().iter().collect();
                let n = s
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .ok_or_else(|| format!("at character {at}: '{s}' is not a number"))?;
                out.push((at, Tok::Num(n)));
                i = j;
                continue;
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut j = i + 1;
                while chars
                    .get(j)
                    .is_some_and(|d| d.is_alphanumeric() || matches!(d, '_' | ':' | '.'))
                {
                    j += 1;
                }
                out.push((
                    at,
                    Tok::Word(chars.get(i..j).unwrap_or_default().iter().collect()),
                ));
                i = j;
                continue;
            }
            other => return Err(format!("at character {at}: unexpected '{other}'")),
        }
        i += 1;
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    end: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }
    fn at(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end, |(a, _)| *a)
    }
    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k))
    }
    fn eat_keyword(&mut self, k: &str) -> bool {
        let yes = self.keyword(k);
        if yes {
            self.pos += 1;
        }
        yes
    }
    fn expect_keyword(&mut self, k: &str) -> Result<(), String> {
        if self.eat_keyword(k) {
            Ok(())
        } else {
            Err(format!("at character {}: expected {k}", self.at()))
        }
    }
    fn eat(&mut self, t: &Tok) -> bool {
        let yes = self.peek() == Some(t);
        if yes {
            self.pos += 1;
        }
        yes
    }
    fn deeper(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!(
                "at character {}: nested more than {MAX_DEPTH} deep",
                self.at()
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut left = self.and()?;
        while self.eat_keyword("OR") {
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }
    fn and(&mut self) -> Result<Filter, String> {
        let mut left = self.not()?;
        while self.eat_keyword("AND") {
            left = Filter::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }
    fn not(&mut self) -> Result<Filter, String> {
        if self.eat_keyword("NOT") {
            self.deeper()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        self.predicate()
    }
    fn predicate(&mut self) -> Result<Filter, String> {
        if self.eat(&Tok::LParen) {
            self.deeper()?;
            let inner = self.or()?;
            self.depth -= 1;
            if !self.eat(&Tok::RParen) {
                return Err(format!("at character {}: expected ')'", self.at()));
            }
            return Ok(inner);
        }
        if self.keyword("TRUE") || self.keyword("FALSE") {
            // A lone boolean literal is a predicate; `TRUE = x` is a comparison.
            let next = self.toks.get(self.pos + 1).map(|(_, t)| t);
            if !matches!(next, Some(Tok::Op(_))) {
                let v = self.keyword("TRUE");
                self.pos += 1;
                return Ok(Filter::Literal(v));
            }
        }
        let operand = self.operand()?;
        if let Some(Tok::Op(op)) = self.peek() {
            let op = *op;
            self.pos += 1;
            return Ok(Filter::Compare(operand, op, self.operand()?));
        }
        if self.eat_keyword("IS") {
            let negated = self.eat_keyword("NOT");
            self.expect_keyword("NULL")?;
            return Ok(Filter::IsNull { operand, negated });
        }
        let negated = self.eat_keyword("NOT");
        let caseless = self.keyword("ILIKE");
        if self.eat_keyword("LIKE") || self.eat_keyword("ILIKE") {
            let at = self.at();
            return match self.operand()? {
                Operand::Literal(Value::String(pattern)) => Ok(Filter::Like {
                    operand,
                    pattern,
                    negated,
                    caseless,
                }),
                _ => Err(format!(
                    "at character {at}: LIKE takes a string pattern ('%' any, '_' one)"
                )),
            };
        }
        if self.eat_keyword("IN") {
            if !self.eat(&Tok::LParen) {
                return Err(format!("at character {}: expected '(' after IN", self.at()));
            }
            let mut list = vec![self.literal()?];
            while self.eat(&Tok::Comma) {
                list.push(self.literal()?);
            }
            if !self.eat(&Tok::RParen) {
                return Err(format!(
                    "at character {}: expected ',' or ')' in the IN list",
                    self.at()
                ));
            }
            return Ok(Filter::In {
                operand,
                list,
                negated,
            });
        }
        if self.eat_keyword("BETWEEN") {
            let low = self.literal()?;
            self.expect_keyword("AND")?;
            let high = self.literal()?;
            return Ok(Filter::Between {
                operand,
                low,
                high,
                negated,
            });
        }
        Err(format!(
            "at character {}: expected a comparison (= <> < <= > >=), LIKE, IN, BETWEEN or IS NULL",
            self.at()
        ))
    }
    fn literal(&mut self) -> Result<Value, String> {
        let at = self.at();
        match self.operand()? {
            Operand::Literal(v) => Ok(v),
            Operand::Property(p) => Err(format!(
                "at character {at}: expected a literal value, found the property {p}"
            )),
        }
    }
    fn operand(&mut self) -> Result<Operand, String> {
        let at = self.at();
        let tok = self.toks.get(self.pos).map(|(_, t)| t.clone());
        self.pos += 1;
        match tok {
            Some(Tok::Str(s)) => Ok(Operand::Literal(Value::String(s))),
            Some(Tok::Num(n)) => Ok(Operand::Literal(
                serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number),
            )),
            Some(Tok::Quoted(p)) => Ok(Operand::Property(p)),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("TRUE") => {
                Ok(Operand::Literal(Value::Bool(true)))
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("FALSE") => {
                Ok(Operand::Literal(Value::Bool(false)))
            }
            Some(Tok::Word(w))
                if [
                    "AND", "OR", "NOT", "LIKE", "ILIKE", "IN", "IS", "NULL", "BETWEEN",
                ]
                .iter()
                .any(|k| w.eq_ignore_ascii_case(k)) =>
            {
                Err(format!(
                    "at character {at}: expected a property or a value, found the keyword {w}"
                ))
            }
            Some(Tok::Word(w)) => Ok(Operand::Property(w)),
            Some(other) => Err(format!(
                "at character {at}: expected a property or a value, found {}",
                describe(&other)
            )),
            None => Err(format!(
                "at character {at}: the filter ends where a property or a value was expected"
            )),
        }
    }
}

fn describe(t: &Tok) -> &'static str {
    match t {
        Tok::LParen => "'('",
        Tok::RParen => "')'",
        Tok::Comma => "','",
        Tok::Op(_) => "an operator",
        _ => "a value",
    }
}

impl Filter {
    /// Parses CQL2 text; the error names the character where it went wrong.
    pub(crate) fn parse(text: &str) -> Result<Filter, String> {
        let n = text.chars().count();
        if n > MAX_FILTER_CHARS {
            return Err(format!(
                "{n} characters, over the {MAX_FILTER_CHARS} accepted"
            ));
        }
        let toks = tokens(text)?;
        if toks.is_empty() {
            return Err("empty filter".into());
        }
        let mut p = Parser {
            toks,
            pos: 0,
            end: n,
            depth: 0,
        };
        let f = p.or()?;
        if p.pos < p.toks.len() {
            return Err(format!(
                "at character {}: unexpected text after the end of the filter",
                p.at()
            ));
        }
        Ok(f)
    }

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

    fn types(p: &str) -> Option<PropType> {
        match p {
            "level" | "province_pcode" | "name" => Some(PropType::String),
            "people_at_risk" => Some(PropType::Integer),
            "p" => Some(PropType::Number),
            "in_cone" => Some(PropType::Boolean),
            _ => None,
        }
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
    fn bad_filters_say_where_and_why() {
        let err = |t: &str| Filter::parse(t).err().unwrap_or_default();
        assert!(
            err("level = 'red").contains("character 8"),
            "{}",
            err("level = 'red")
        );
        assert!(
            err("level = ").contains("ends where"),
            "{}",
            err("level = ")
        );
        assert!(err("level 'red'").contains("character 6"));
        assert!(err("level = 'red' AND").contains("ends where"));
        assert!(err("level IN 'red'").contains("'(' after IN"));
        assert!(err("(level = 'red'").contains("expected ')'"));
        assert!(err("level = 'red' )").contains("after the end"));
        assert!(err("level # 2").contains("unexpected '#'"));
        assert!(err(&"(".repeat(100)).contains("nested more than"));
        assert!(err(&"x".repeat(5000)).contains("over the 4096"));
        let check = |t: &str| Filter::parse(t).and_then(|f| f.check(&types)).err();
        assert!(check("levl = 'red'").is_some_and(|e| e.contains("levl")));
        assert!(check("people_at_risk = 'many'").is_some_and(|e| e.contains("integer")));
        assert!(check("level > 3").is_some_and(|e| e.contains("string")));
        assert!(check("level = 'red' AND p < 0.5").is_none());
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
