//! The user search syntax (`?q=` on the catalog lists), parsed into plain words and
//! quoted phrases. Nothing else is syntax: field prefixes (`title:`), boolean operators
//! (`AND`, `OR`, `NOT`, `+`, `-`), wildcards, boosts (`^2`), fuzzy and slop marks (`~`),
//! ranges and brackets are ignored, because every character that is not a letter or a
//! digit separates words. The caps bound the work one query can cause: at most
//! [`MAX_QUERY_CHARS`] characters and [`MAX_QUERY_TERMS`] words (phrase words included).

use crate::error::DomainError;

/// Longest accepted `q`, in characters (after trimming).
pub const MAX_QUERY_CHARS: usize = 200;
/// Most words a `q` may hold, counting the words inside phrases.
pub const MAX_QUERY_TERMS: usize = 16;

/// One part of a query: every part must match (conjunction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchClause {
    /// A word, as typed (the index's analyzer lowercases and stems it).
    Word(String),
    /// Words that must appear next to each other, in this order (no slop).
    Phrase(Vec<String>),
}

/// A parsed, bounded search text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText {
    text: String,
    clauses: Vec<SearchClause>,
}

/// Words are maximal runs of letters and digits (what the index's tokenizer keeps).
fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty())
}

impl SearchText {
    /// Parses `q`. `Ok(None)` when it holds no word at all (blank or punctuation only):
    /// such a query is treated as absent. Over a cap: a validation error.
    pub fn parse(raw: &str) -> Result<Option<SearchText>, DomainError> {
        let text = raw.trim();
        if text.chars().count() > MAX_QUERY_CHARS {
            return Err(DomainError::invalid(format!("must be at most {MAX_QUERY_CHARS} characters")));
        }
        let mut clauses = Vec::new();
        let mut terms = 0usize;
        // Even-numbered pieces are outside quotes, odd-numbered ones inside. An unbalanced
        // last quote opens no phrase: its words count as plain words.
        let pieces: Vec<&str> = text.split('"').collect();
        let balanced = pieces.len() % 2 == 1;
        for (i, piece) in pieces.iter().enumerate() {
            let quoted = i % 2 == 1 && (balanced || i + 1 < pieces.len());
            let ws: Vec<&str> = words(piece).collect();
            terms += ws.len();
            if quoted && ws.len() > 1 {
                clauses.push(SearchClause::Phrase(ws.into_iter().map(str::to_string).collect()));
            } else {
                // Outside quotes the syntax words of other engines are not operators here.
                let plain = ws.into_iter().filter(|w| quoted || !matches!(*w, "AND" | "OR" | "NOT"));
                clauses.extend(plain.map(|w| SearchClause::Word(w.to_string())));
            }
        }
        if terms > MAX_QUERY_TERMS {
            return Err(DomainError::invalid(format!("must have at most {MAX_QUERY_TERMS} words")));
        }
        Ok((!clauses.is_empty()).then(|| SearchText { text: text.to_string(), clauses }))
    }

    /// The query as typed (trimmed), e.g. for analytics.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn clauses(&self) -> &[SearchClause] {
        &self.clauses
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Vec<SearchClause> {
        SearchText::parse(q).expect("parses").map(|t| t.clauses().to_vec()).unwrap_or_default()
    }

    fn w(s: &str) -> SearchClause {
        SearchClause::Word(s.into())
    }

    #[test]
    fn words_and_phrases_only() {
        assert_eq!(parse("garden  cleanup"), vec![w("garden"), w("cleanup")]);
        assert_eq!(
            parse("\"pipe plumber\" fast"),
            vec![SearchClause::Phrase(vec!["pipe".into(), "plumber".into()]), w("fast")]
        );
        // Field syntax, wildcards, operators, boosts, fuzzy/slop and ranges are plain text.
        assert_eq!(parse("title:*"), vec![w("title")]);
        assert_eq!(parse("+plumbing -garden OR roof^5 AND paint~2 NOT x*"), parse("plumbing garden roof 5 paint 2 x"));
        assert_eq!(parse("\"a b\"~100000"), vec![SearchClause::Phrase(vec!["a".into(), "b".into()]), w("100000")]);
        assert_eq!(parse("price:[1 TO 5]"), vec![w("price"), w("1"), w("TO"), w("5")]);
        // A one-word phrase is a word; an unbalanced quote opens nothing.
        assert_eq!(parse("\"plumbing\""), vec![w("plumbing")]);
        assert_eq!(parse("\"pipe plumber"), vec![w("pipe"), w("plumber")]);
        assert_eq!(
            parse("a \"b c\" \"d e"),
            vec![w("a"), SearchClause::Phrase(vec!["b".into(), "c".into()]), w("d"), w("e")]
        );
        // Nothing searchable: treated as no query.
        assert_eq!(SearchText::parse("  ***  ").expect("ok"), None);
        assert_eq!(SearchText::parse("").expect("ok"), None);
        assert_eq!(SearchText::parse(" Plumbing ").expect("ok").expect("some").as_str(), "Plumbing");
        assert_eq!(parse("café Ünïcode"), vec![w("café"), w("Ünïcode")]);
    }

    #[test]
    fn caps_on_length_and_terms() {
        let sixteen = vec!["a"; MAX_QUERY_TERMS].join(" ");
        assert_eq!(parse(&sixteen).len(), MAX_QUERY_TERMS);
        assert!(SearchText::parse(&format!("{sixteen} b")).is_err(), "17 words");
        assert!(SearchText::parse(&format!("\"{sixteen} b\"")).is_err(), "phrase words count");
        let hostile = format!("\"{}\"~100000", vec!["a"; 600].join(" "));
        assert!(SearchText::parse(&hostile).is_err());
        assert!(SearchText::parse(&"x".repeat(MAX_QUERY_CHARS)).is_ok());
        assert!(SearchText::parse(&"x".repeat(MAX_QUERY_CHARS + 1)).is_err());
        assert!(SearchText::parse(&"é".repeat(MAX_QUERY_CHARS)).is_ok(), "characters, not bytes");
    }
}
