//! Code patterns: `#` is one random character from the charset, everything else is
//! literal (`\#` and `\\` escape). Codes come from the thread CSPRNG (ChaCha seeded by
//! the operating system), so seeing some codes says nothing about the next.

use rand::Rng;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::coupon::{MAX_CODE_LEN, MIN_CODE_LEN};
use super::error::{Error, ErrorCode, Result};

pub const MAX_GENERATE_COUNT: u64 = 10_000_000;
pub const DEFAULT_LENGTH: u32 = 8;

const UNAMBIGUOUS: &str = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
const ALPHANUMERIC: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ALPHABETIC: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const NUMERIC: &str = "0123456789";

/// Body of `POST /v1/books/{book_id}/codes/generate` (fields a book's `code_pattern`
/// may also hold as defaults).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GenerateSpec {
    /// How many codes: 1..10,000,000.
    #[serde(default)]
    pub count: Option<u64>,
    /// `#` = one random character; other characters literal; `\#` a literal `#`.
    #[serde(default)]
    pub pattern: Option<String>,
    /// `unambiguous` (default), `alphanumeric`, `alphabetic`, `numeric`, or a literal set.
    #[serde(default)]
    pub charset: Option<String>,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub suffix: Option<String>,
    /// Random characters when there is no pattern (default 8).
    #[serde(default)]
    pub length: Option<u32>,
    /// Append a Luhn mod N check character computed over the random characters.
    #[serde(default)]
    pub check_character: Option<bool>,
}

impl GenerateSpec {
    /// Checks the fields the request gives, before any book is looked up (the book
    /// fills in the others).
    pub fn check_fields(&self) -> Result<()> {
        if self.count.is_some() {
            self.count()?;
        }
        if self.pattern.is_some() || self.length.is_some() || self.charset.is_some() {
            CodePattern::parse(self)?;
        }
        Ok(())
    }

    /// This spec, with the book's defaults for the fields it leaves out.
    pub fn with_defaults(self, defaults: Option<&GenerateSpec>) -> GenerateSpec {
        let Some(d) = defaults else { return self };
        GenerateSpec {
            count: self.count.or(d.count),
            pattern: self.pattern.or_else(|| d.pattern.clone()),
            charset: self.charset.or_else(|| d.charset.clone()),
            prefix: self.prefix.or_else(|| d.prefix.clone()),
            suffix: self.suffix.or_else(|| d.suffix.clone()),
            length: self.length.or(d.length),
            check_character: self.check_character.or(d.check_character),
        }
    }

    pub fn count(&self) -> Result<u64> {
        match self.count {
            Some(n) if (1..=MAX_GENERATE_COUNT).contains(&n) => Ok(n),
            Some(_) => Err(Error::invalid("count", "count must be 1..10,000,000")),
            None => Err(Error::invalid("count", "count is required")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Slot {
    Literal(u8),
    Random,
}

/// A parsed, validated pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodePattern {
    slots: Vec<Slot>,
    charset: Vec<u8>,
    check_character: bool,
}

fn is_code_char(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
}

fn literals(field: &str, text: &str, slots: &mut Vec<Slot>) -> Result<()> {
    for b in text.bytes() {
        let b = b.to_ascii_uppercase();
        if !is_code_char(b) {
            return Err(Error::invalid(
                field,
                format!("{field} may contain only A-Z 0-9 - _"),
            ));
        }
        slots.push(Slot::Literal(b));
    }
    Ok(())
}

fn charset(name: Option<&str>) -> Result<Vec<u8>> {
    let set = match name.unwrap_or("unambiguous") {
        "unambiguous" => UNAMBIGUOUS.to_string(),
        "alphanumeric" => ALPHANUMERIC.to_string(),
        "alphabetic" => ALPHABETIC.to_string(),
        "numeric" => NUMERIC.to_string(),
        word if word.bytes().all(|b| b.is_ascii_lowercase()) => {
            return Err(Error::invalid(
                "charset",
                format!(
                    "unknown charset {word:?}: use unambiguous, alphanumeric, alphabetic, numeric, or a literal set in upper case such as \"ABC123\""
                ),
            ));
        }
        literal => literal.to_ascii_uppercase(),
    };
    let mut chars: Vec<u8> = Vec::new();
    for b in set.bytes() {
        if !is_code_char(b) {
            return Err(Error::invalid(
                "charset",
                "charset is unambiguous, alphanumeric, alphabetic, numeric, or a set of A-Z 0-9 - _",
            ));
        }
        if !chars.contains(&b) {
            chars.push(b);
        }
    }
    if chars.len() < 2 {
        return Err(Error::invalid(
            "charset",
            "charset needs at least 2 different characters",
        ));
    }
    Ok(chars)
}

impl CodePattern {
    pub fn parse(spec: &GenerateSpec) -> Result<Self> {
        let charset = charset(spec.charset.as_deref())?;
        let mut slots = Vec::new();
        literals("prefix", spec.prefix.as_deref().unwrap_or(""), &mut slots)?;
        match spec.pattern.as_deref() {
            Some(pattern) => {
                let mut bytes = pattern.bytes();
                let mut randoms = 0;
                while let Some(b) = bytes.next() {
                    match b {
                        b'#' => {
                            slots.push(Slot::Random);
                            randoms += 1;
                        }
                        b'\\' => match bytes.next() {
                            Some(b'#') => {
                                return Err(Error::invalid(
                                    "pattern",
                                    "a literal # cannot appear in a code (A-Z 0-9 - _ only)",
                                ));
                            }
                            Some(other) => {
                                literals("pattern", &(other as char).to_string(), &mut slots)?
                            }
                            None => {
                                return Err(Error::invalid("pattern", "the pattern ends with \\"));
                            }
                        },
                        other => literals("pattern", &(other as char).to_string(), &mut slots)?,
                    }
                }
                if randoms == 0 {
                    return Err(Error::invalid(
                        "pattern",
                        "the pattern needs at least one # (a random character)",
                    ));
                }
            }
            None => {
                let length = spec.length.unwrap_or(DEFAULT_LENGTH);
                if !(1..=MAX_CODE_LEN as u32).contains(&length) {
                    return Err(Error::invalid("length", "length must be 1..64"));
                }
                slots.extend((0..length).map(|_| Slot::Random));
            }
        }
        literals("suffix", spec.suffix.as_deref().unwrap_or(""), &mut slots)?;
        let check_character = spec.check_character.unwrap_or(false);
        if check_character && charset.len() % 2 == 1 {
            return Err(Error::invalid(
                "check_character",
                "Luhn mod N check characters need a charset with an even number of characters",
            ));
        }
        let pattern = CodePattern {
            slots,
            charset,
            check_character,
        };
        let len = pattern.code_len();
        if !(MIN_CODE_LEN..=MAX_CODE_LEN).contains(&len) {
            let field = if spec.pattern.is_some() {
                "pattern"
            } else {
                "length"
            };
            return Err(Error::invalid(
                field,
                format!("codes would be {len} characters long; they must be 3..64"),
            ));
        }
        Ok(pattern)
    }

    pub fn code_len(&self) -> usize {
        self.slots.len() + usize::from(self.check_character)
    }

    fn random_slots(&self) -> u32 {
        self.slots.iter().filter(|s| **s == Slot::Random).count() as u32
    }

    /// How many different codes the pattern can make (saturating).
    pub fn space(&self) -> u128 {
        (self.charset.len() as u128)
            .checked_pow(self.random_slots())
            .unwrap_or(u128::MAX)
    }

    /// Refuses a count above half of the combinations not yet taken by `existing`
    /// codes of this shape: beyond that, finding free codes slows down sharply.
    pub fn check_capacity(&self, count: u64, existing: u64) -> Result<()> {
        let left = self.space().saturating_sub(u128::from(existing));
        if u128::from(count) > left / 2 {
            return Err(Error::new(
                ErrorCode::PatternSpaceTooSmall,
                format!(
                    "the pattern allows {} codes, {} of them already exist; at most {} can be generated (half of what is left)",
                    self.space(),
                    existing,
                    left / 2
                ),
            ));
        }
        Ok(())
    }

    /// One new random code.
    pub fn generate<R: Rng + ?Sized>(&self, rng: &mut R) -> String {
        let mut code = Vec::with_capacity(self.code_len());
        let mut randoms = Vec::new();
        for slot in &self.slots {
            match slot {
                Slot::Literal(b) => code.push(*b),
                Slot::Random => {
                    let index = rng.random_range(0..self.charset.len());
                    randoms.push(index);
                    code.push(self.charset[index]);
                }
            }
        }
        if self.check_character {
            code.push(self.charset[luhn_check(&randoms, self.charset.len())]);
        }
        code.into_iter().map(char::from).collect()
    }

    /// Whether `code` has this pattern's shape (length and literals) and characters.
    pub fn matches(&self, code: &str) -> bool {
        self.randoms_of(code).is_some()
    }

    /// The charset indexes of the random characters, if the code has this shape.
    fn randoms_of(&self, code: &str) -> Option<Vec<usize>> {
        let bytes = code.as_bytes();
        if bytes.len() != self.code_len() {
            return None;
        }
        let mut randoms = Vec::new();
        for (slot, b) in self.slots.iter().zip(bytes) {
            match slot {
                Slot::Literal(l) if l == b => {}
                Slot::Literal(_) => return None,
                Slot::Random => randoms.push(self.charset.iter().position(|c| c == b)?),
            }
        }
        if self.check_character {
            self.charset.iter().position(|c| Some(c) == bytes.last())?;
        }
        Some(randoms)
    }

    /// `Some(false)` when the code has this pattern's shape but a wrong check character
    /// (a typo); `None` when it is not of this pattern or carries no check character.
    pub fn check_fails(&self, code: &str) -> Option<bool> {
        if !self.check_character {
            return None;
        }
        let randoms = self.randoms_of(code)?;
        let expected = self.charset[luhn_check(&randoms, self.charset.len())];
        Some(code.as_bytes().last() != Some(&expected))
    }

    /// The charset's first and last characters: the one pair whose adjacent swap a
    /// Luhn mod N check character cannot see.
    pub fn charset_ends(&self) -> (u8, u8) {
        (
            self.charset.first().copied().unwrap_or(b'0'),
            self.charset.last().copied().unwrap_or(b'0'),
        )
    }

    /// The canonical key of this pattern's code space: its slots (`#` per random
    /// character, never a literal), whether a check character follows, and its charset
    /// in order (the check character depends on the order). Generation counts the codes
    /// it stored under this key, which the capacity check reads.
    pub fn shape(&self) -> String {
        let slots: String = self
            .slots
            .iter()
            .map(|slot| match slot {
                Slot::Literal(b) => *b as char,
                Slot::Random => '#',
            })
            .collect();
        let check = if self.check_character { "+check" } else { "" };
        let charset = String::from_utf8_lossy(&self.charset);
        format!("{slots}{check}/{charset}")
    }

    /// A SQL `LIKE` pattern matching codes of this shape (`_` per random character).
    pub fn like_pattern(&self) -> String {
        let mut like: String = self
            .slots
            .iter()
            .map(|slot| match slot {
                Slot::Literal(b'_') => "\\_".to_string(),
                Slot::Literal(b) => (*b as char).to_string(),
                Slot::Random => "_".to_string(),
            })
            .collect();
        if self.check_character {
            like.push('_');
        }
        like
    }
}

/// Luhn mod N check value over charset indexes (N even): catches every single-character
/// substitution and every adjacent transposition except of the charset's first and
/// last characters.
fn luhn_check(indexes: &[usize], n: usize) -> usize {
    let mut factor = 2;
    let mut sum = 0;
    for &index in indexes.iter().rev() {
        let addend = factor * index;
        factor = if factor == 2 { 1 } else { 2 };
        sum += addend / n + addend % n;
    }
    (n - sum % n) % n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(pattern: &str) -> GenerateSpec {
        GenerateSpec {
            count: Some(1),
            pattern: Some(pattern.into()),
            ..GenerateSpec::default()
        }
    }

    #[test]
    fn literals_and_randoms() {
        let pattern = CodePattern::parse(&spec("summer-####-####")).expect("valid");
        assert_eq!(pattern.code_len(), 16);
        assert_eq!(pattern.space(), 32u128.pow(8));
        let code = pattern.generate(&mut rand::rng());
        assert!(code.starts_with("SUMMER-"), "{code}");
        assert!(pattern.matches(&code));
        assert!(
            !pattern.matches("SUMMER-0000-0000"),
            "0 is not in the unambiguous set"
        );
        assert_eq!(pattern.like_pattern(), "SUMMER-____-____");
        assert_eq!(
            pattern.shape(),
            "SUMMER-####-####/23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
        );
    }

    #[test]
    fn refuses_bad_specs() {
        let field = |s: GenerateSpec| CodePattern::parse(&s).expect_err("invalid").field;
        assert_eq!(field(spec("NOHASH")), Some("pattern".into()));
        assert_eq!(field(spec("A#\\#")), Some("pattern".into()));
        assert_eq!(field(spec("ä##")), Some("pattern".into()));
        assert_eq!(field(spec("#")), Some("pattern".into()));
        assert_eq!(
            field(GenerateSpec {
                charset: Some("A".into()),
                ..spec("###")
            }),
            Some("charset".into())
        );
        assert_eq!(
            field(GenerateSpec {
                pattern: None,
                length: Some(65),
                ..spec("")
            }),
            Some("length".into())
        );
    }

    #[test]
    fn capacity_is_half_of_what_is_left() {
        let pattern = CodePattern::parse(&GenerateSpec {
            charset: Some("numeric".into()),
            ..spec("X-##")
        })
        .expect("valid");
        assert_eq!(pattern.space(), 100);
        assert!(pattern.check_capacity(50, 0).is_ok());
        let err = pattern.check_capacity(51, 0).expect_err("too many");
        assert_eq!(err.code, ErrorCode::PatternSpaceTooSmall);
        assert!(err.message.contains("100"));
        assert!(pattern.check_capacity(40, 20).is_ok());
        assert!(pattern.check_capacity(41, 20).is_err());
    }
}
