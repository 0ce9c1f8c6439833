//! deploy/scylla/schema.cql must define exactly the tables of `Table::ALL` (plus
//! `agora_meta`), each with the one row shape every backend shares, in a vnode keyspace.
//! Needs no ScyllaDB: it reads the file.

use std::collections::{BTreeMap, BTreeSet};

use crate::scylla::ScyllaBackend;
use crate::tables::Table;
use crate::StoreError;

const SCHEMA: &str = include_str!("../../../deploy/scylla/schema.cql");

/// The file without `--` / `//` line comments and `/* */` comments (quotes respected).
fn strip_comments(cql: &str) -> String {
    let mut out = String::new();
    let mut chars = cql.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                out.push(c);
            }
            '-' | '/' if chars.peek() == Some(&c) => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = ' ';
                for n in chars.by_ref() {
                    if prev == '*' && n == '/' {
                        break;
                    }
                    prev = n;
                }
                out.push(' ');
            }
            _ => out.push(c),
        }
    }
    out
}

/// Lower-cased, with runs of whitespace collapsed to one space and none around punctuation,
/// so that formatting does not matter: `PRIMARY KEY ( (pk), ck )` -> `primary key((pk),ck)`.
fn normalize(s: &str) -> String {
    let collapsed = s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    let mut out = String::new();
    let chars: Vec<char> = collapsed.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let prev = chars.get(i.wrapping_sub(1)).copied().unwrap_or(' ');
            let next = chars.get(i + 1).copied().unwrap_or(' ');
            let punct = |p: char| "(),{}:;=.".contains(p);
            if punct(prev) || punct(next) {
                continue;
            }
        }
        out.push(c);
    }
    out
}

fn statements() -> Vec<String> {
    strip_comments(SCHEMA).split(';').map(normalize).filter(|s| !s.is_empty()).collect()
}

/// Splits on the commas that are not inside parentheses.
fn split_top_level(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts.into_iter().map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect()
}

#[derive(Debug)]
struct TableDef {
    columns: BTreeMap<String, String>,
    primary_key: String,
    options: String,
}

/// Parses a normalized `create table if not exists agora.<name>(<defs>)<options>`.
fn parse_table(statement: &str) -> (String, TableDef) {
    let rest = statement
        .strip_prefix("create table if not exists agora.")
        .unwrap_or_else(|| panic!("tables must be created IF NOT EXISTS in keyspace agora: {statement}"));
    let open = rest.find('(').unwrap_or_else(|| panic!("no column list: {statement}"));
    let name = rest[..open].to_string();
    let body = &rest[open + 1..];
    let mut depth = 1usize;
    let mut close = None;
    for (i, c) in body.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(i);
                    break;
                }
            }
            _ => {}
        }
    }
    let close = close.unwrap_or_else(|| panic!("unbalanced parentheses: {statement}"));
    let mut columns = BTreeMap::new();
    let mut primary_key = String::new();
    for def in split_top_level(&body[..close]) {
        if let Some(key) = def.strip_prefix("primary key") {
            assert!(primary_key.is_empty(), "{name}: two primary keys");
            primary_key = key.trim().to_string();
            continue;
        }
        let mut words = def.split(' ');
        let column = words.next().unwrap_or_default().to_string();
        let typ = words.next().unwrap_or_else(|| panic!("{name}: column {column} has no type")).to_string();
        let tail: Vec<&str> = words.collect();
        if tail == ["primary", "key"] {
            assert!(primary_key.is_empty(), "{name}: two primary keys");
            primary_key = format!("({column})");
        } else {
            assert!(tail.is_empty(), "{name}: unexpected column definition {def:?}");
        }
        assert!(columns.insert(column.clone(), typ).is_none(), "{name}: column {column} defined twice");
    }
    (name, TableDef { columns, primary_key, options: body[close + 1..].trim().to_string() })
}

fn tables() -> BTreeMap<String, TableDef> {
    let mut tables = BTreeMap::new();
    for statement in statements().iter().filter(|s| s.starts_with("create table")) {
        let (name, def) = parse_table(statement);
        assert!(tables.insert(name.clone(), def).is_none(), "table {name} defined twice");
    }
    tables
}

#[test]
fn schema_defines_exactly_the_tables_of_table_all() {
    let defined: BTreeSet<String> = tables().into_keys().collect();
    let mut expected: BTreeSet<String> = Table::ALL.iter().map(|t| t.name().to_string()).collect();
    assert_eq!(expected.len(), Table::ALL.len(), "two tables share a name");
    expected.insert("agora_meta".to_string());
    let missing: Vec<_> = expected.difference(&defined).collect();
    let unknown: Vec<_> = defined.difference(&expected).collect();
    assert!(missing.is_empty(), "tables in Table::ALL without a CQL definition: {missing:?}");
    assert!(unknown.is_empty(), "CQL tables that Table::ALL does not list: {unknown:?}");
}

#[test]
fn every_data_table_has_the_shared_row_shape() {
    let tables = tables();
    let expected_columns: BTreeMap<String, String> =
        [("pk", "text"), ("ck", "text"), ("version", "bigint"), ("value", "blob")]
            .into_iter()
            .map(|(c, t)| (c.to_string(), t.to_string()))
            .collect();
    for table in Table::ALL {
        let def = tables.get(table.name()).unwrap_or_else(|| panic!("{} is not defined", table.name()));
        assert_eq!(def.columns, expected_columns, "{}: columns", table.name());
        assert_eq!(def.primary_key, "((pk),ck)", "{}: primary key", table.name());
        assert_eq!(def.options, "with clustering order by(ck asc)", "{}: options", table.name());
    }
}

#[test]
fn agora_meta_is_a_key_value_table() {
    let tables = tables();
    let meta = tables.get("agora_meta").expect("agora_meta is defined");
    let expected: BTreeMap<String, String> =
        [("key", "text"), ("value", "text")].into_iter().map(|(c, t)| (c.to_string(), t.to_string())).collect();
    assert_eq!(meta.columns, expected);
    assert_eq!(meta.primary_key, "(key)");
}

#[test]
fn the_keyspace_is_a_vnode_keyspace() {
    let statements = statements();
    let keyspaces: Vec<&String> = statements.iter().filter(|s| s.starts_with("create keyspace")).collect();
    assert_eq!(keyspaces.len(), 1, "exactly one keyspace statement");
    let ks = keyspaces[0];
    assert!(ks.starts_with("create keyspace if not exists agora with"), "{ks}");
    assert!(ks.contains("'class':'networktopologystrategy'"), "{ks}");
    assert!(ks.contains("'replication_factor':3"), "{ks}");
    // Lightweight transactions (compare-and-set) need vnodes.
    assert!(ks.contains("tablets={'enabled':false}"), "tablets must be disabled: {ks}");
    // Every statement is either the keyspace or a table.
    for s in &statements {
        assert!(s.starts_with("create keyspace") || s.starts_with("create table"), "unexpected statement {s}");
    }
}

#[test]
fn the_backend_rewrites_keyspace_and_replication_factor() {
    let statements = ScyllaBackend::schema_statements("agora_test_1", 1).expect("statements");
    assert_eq!(statements.len(), Table::ALL.len() + 2, "keyspace, agora_meta and every table");
    let keyspace = statements.iter().find(|s| s.starts_with("CREATE KEYSPACE")).expect("keyspace statement");
    assert!(keyspace.contains("\"agora_test_1\""), "{keyspace}");
    assert!(keyspace.contains("'replication_factor': 1"), "{keyspace}");
    for s in &statements {
        assert!(!s.contains("agora."), "keyspace left unreplaced in {s}");
    }
    assert!(statements.iter().any(|s| s.contains("\"agora_test_1\".agora_meta")));
    for table in Table::ALL {
        let name = format!("\"agora_test_1\".{} ", table.name());
        assert!(statements.iter().any(|s| s.contains(&name)), "no statement creates {name}");
    }
    for bad in ["", "Agora", "9lives", "a-b", "drop table x", &"k".repeat(49)] {
        assert!(matches!(ScyllaBackend::schema_statements(bad, 1), Err(StoreError::Config(_))), "{bad:?} accepted");
    }
}
