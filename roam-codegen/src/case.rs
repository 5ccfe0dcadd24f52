//! The case conversions of facet 0.46's `#[facet(rename_all = "...")]`, so that the syn side
//! names fields and variants exactly as facet's derive does.
//!
//! Owns: splitting a name into words and joining them in one of the eight styles facet accepts.
//! The rules, as facet 0.46 applies them to the identifier (without `r#`, or the position
//! `"0"`, `"1"`, ... of a tuple field):
//!
//! * **Words.** `_`, `-` and whitespace separate words and are dropped. An uppercase letter
//!   starts a new word when the previous character of the word is lowercase or an ASCII digit,
//!   or when it is uppercase and the next character is lowercase (`HTTPServer` is `HTTP`,
//!   `Server`). Every other character joins the current word. Empty words are dropped.
//! * **Styles.** `snake_case`, `kebab-case` and `lowercase` lowercase each word and join with
//!   `_`, `-` and nothing; `SCREAMING_SNAKE_CASE`, `SCREAMING-KEBAB-CASE` and `UPPERCASE` do the
//!   same in uppercase. `PascalCase` uppercases the first character of each word, lowercases
//!   the rest and joins with nothing; `camelCase` is `PascalCase` with its first character
//!   lowercased (only the first character of that lowercase mapping is kept).
//!
//! Lowercasing and uppercasing a word are Rust's `str::to_lowercase` / `str::to_uppercase`, as
//! in facet. `roam-codegen/tests/schema_agreement.rs` compares these names with what facet's
//! derive produced for the same identifiers.

/// One of the `rename_all` styles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenameRule {
    /// `PascalCase`: `foo_bar` → `FooBar`.
    Pascal,
    /// `camelCase`: `foo_bar` → `fooBar`.
    Camel,
    /// `snake_case`: `FooBar` → `foo_bar`.
    Snake,
    /// `SCREAMING_SNAKE_CASE`: `FooBar` → `FOO_BAR`.
    ScreamingSnake,
    /// `kebab-case`: `FooBar` → `foo-bar`.
    Kebab,
    /// `SCREAMING-KEBAB-CASE`: `FooBar` → `FOO-BAR`.
    ScreamingKebab,
    /// `lowercase`: `FooBar` → `foobar`.
    Lower,
    /// `UPPERCASE`: `FooBar` → `FOOBAR`.
    Upper,
}

impl RenameRule {
    /// Every style with the spelling `rename_all` takes, in facet's order.
    pub const ALL: [(&'static str, RenameRule); 8] = [
        ("camelCase", RenameRule::Camel),
        ("snake_case", RenameRule::Snake),
        ("kebab-case", RenameRule::Kebab),
        ("PascalCase", RenameRule::Pascal),
        ("SCREAMING_SNAKE_CASE", RenameRule::ScreamingSnake),
        ("SCREAMING-KEBAB-CASE", RenameRule::ScreamingKebab),
        ("lowercase", RenameRule::Lower),
        ("UPPERCASE", RenameRule::Upper),
    ];

    /// The style spelled `name` (exactly, case-sensitively), if any.
    pub fn from_name(name: &str) -> Option<RenameRule> {
        RenameRule::ALL
            .iter()
            .find(|(spelling, _)| *spelling == name)
            .map(|(_, rule)| *rule)
    }

    /// `name` in this style.
    pub fn apply(self, name: &str) -> String {
        let words = words(name);
        let joined = |sep: &str, upper: bool| {
            words
                .iter()
                .map(|w| {
                    if upper {
                        w.to_uppercase()
                    } else {
                        w.to_lowercase()
                    }
                })
                .collect::<Vec<_>>()
                .join(sep)
        };
        match self {
            RenameRule::Snake => joined("_", false),
            RenameRule::Kebab => joined("-", false),
            RenameRule::Lower => joined("", false),
            RenameRule::ScreamingSnake => joined("_", true),
            RenameRule::ScreamingKebab => joined("-", true),
            RenameRule::Upper => joined("", true),
            RenameRule::Pascal => pascal(&words),
            RenameRule::Camel => {
                let pascal = pascal(&words);
                let mut chars = pascal.chars();
                match chars.next() {
                    Some(first) => {
                        let mut out: String = first.to_lowercase().take(1).collect();
                        out.extend(chars);
                        out
                    }
                    None => String::new(),
                }
            }
        }
    }
}

fn pascal(words: &[String]) -> String {
    let mut out = String::new();
    for word in words {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(&chars.as_str().to_lowercase());
        }
    }
    out
}

/// The words of `name` (see the [module docs](self)).
fn words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c == '_' || c == '-' || c.is_whitespace() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            continue;
        }
        if c.is_uppercase()
            && let Some(prev) = word.chars().next_back()
        {
            let next_is_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_uppercase() && next_is_lower)
            {
                words.push(std::mem::take(&mut word));
            }
        }
        word.push(c);
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(name: &str) -> Vec<String> {
        RenameRule::ALL
            .iter()
            .map(|(_, rule)| rule.apply(name))
            .collect()
    }

    #[test]
    fn words_split_at_separators_and_case_changes() {
        assert_eq!(words("foo_bar-baz qux"), ["foo", "bar", "baz", "qux"]);
        assert_eq!(words("__x__"), ["x"]);
        assert_eq!(words("fooBarBaz"), ["foo", "Bar", "Baz"]);
        assert_eq!(words("HTTPServer"), ["HTTP", "Server"]);
        assert_eq!(words("theHTTPServer"), ["the", "HTTP", "Server"]);
        assert_eq!(words("FooBAR"), ["Foo", "BAR"]);
        assert_eq!(words("foo1Bar"), ["foo1", "Bar"]);
        assert_eq!(words("a1b"), ["a1b"]);
        assert_eq!(words("0"), ["0"]);
        assert!(words("").is_empty());
        assert!(words("_").is_empty());
    }

    #[test]
    fn every_style() {
        assert_eq!(
            all("full_name"),
            [
                "fullName",
                "full_name",
                "full-name",
                "FullName",
                "FULL_NAME",
                "FULL-NAME",
                "fullname",
                "FULLNAME"
            ]
        );
        assert_eq!(
            all("OnHold"),
            [
                "onHold", "on_hold", "on-hold", "OnHold", "ON_HOLD", "ON-HOLD", "onhold", "ONHOLD"
            ]
        );
        assert_eq!(RenameRule::Pascal.apply("HTTPServer"), "HttpServer");
        assert_eq!(RenameRule::Camel.apply("HTTPServer"), "httpServer");
        assert_eq!(RenameRule::Snake.apply("theHTTPServer"), "the_http_server");
        assert_eq!(RenameRule::Kebab.apply("type"), "type");
        // Tuple fields are named by position, which no style changes.
        assert_eq!(all("1"), vec!["1"; 8]);
        assert_eq!(all(""), vec![""; 8]);
    }

    #[test]
    fn styles_are_found_by_their_exact_spelling() {
        for (name, rule) in RenameRule::ALL {
            assert_eq!(RenameRule::from_name(name), Some(rule));
        }
        assert_eq!(RenameRule::from_name("camelcase"), None);
        assert_eq!(RenameRule::from_name("Title Case"), None);
    }
}
