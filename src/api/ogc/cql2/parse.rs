//! CQL2 text into a [`Filter`]: tokens, then a recursive-descent parser whose errors name
//! the character where the text went wrong.

use serde_json::Value;

use super::{CmpOp, Filter, MAX_FILTER_CHARS, Operand};

/// Deepest nesting of parentheses and NOTs accepted (the parser recurses).
const MAX_DEPTH: usize = 64;

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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ogc::cql2::PropType;

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
}
