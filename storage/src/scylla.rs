//! The ScyllaDB backend.
//!
//! Every table of [`Table::ALL`] has the same CQL shape (deploy/scylla/schema.cql):
//! `pk text, ck text, version bigint, value blob, PRIMARY KEY ((pk), ck)`, clustered by `ck`
//! in ascending byte order, with expiry as the row TTL. The semantics follow
//! [`crate::sqlite::SqliteBackend`] exactly:
//!
//! - unconditional `put` and `batch` writes store version 0;
//! - compare-and-set is a lightweight transaction (Paxos): `Expect::Absent` is
//!   `INSERT .. IF NOT EXISTS` at version 1, `Expect::Version(v)` is `UPDATE .. IF version = v`
//!   writing `v + 1`;
//! - expired rows are invisible (ScyllaDB never returns them);
//! - scans read `ck > cursor` (ascending) or `ck < cursor` (descending) and fetch
//!   `limit + 1` live rows to know whether another page exists.
//!
//! Every statement is prepared once, at start-up, for every table: a schema that does not
//! match fails the boot rather than the first request.
//!
//! A row is live when both its `version` and `value` cells are. Both are always written
//! together, with one TTL, so they live and expire together. The row marker that an `INSERT`
//! writes is not rewritten by the `UPDATE` of a compare-and-set, though, so a row inserted
//! without a TTL and then compare-and-set with one keeps an empty marker once its cells
//! expire. Reads treat such a row as absent, and an insert-if-absent that meets one takes it
//! over with `UPDATE .. IF version = null`.

use std::collections::HashMap;
use std::fmt::Display;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use ::scylla::client::session::Session;
use ::scylla::client::session_builder::SessionBuilder;
use ::scylla::response::query_result::QueryResult;
use ::scylla::response::PagingState;
use ::scylla::serialize::row::{RowSerializationContext, SerializeRow};
use ::scylla::serialize::writers::RowWriter;
use ::scylla::serialize::SerializationError;
use ::scylla::statement::batch::{Batch, BatchType};
use ::scylla::statement::prepared::PreparedStatement;
use ::scylla::statement::{Consistency, SerialConsistency, Statement};
use ::scylla::value::CqlValue;
use ::scylla::DeserializeRow;

use crate::backend::{
    check_cas_batch, clamp_limit, decode_cursor, into_page, ttl_secs, Backend, BatchOp, CasOutcome, Expect, Order,
    Page, Row,
};
use crate::error::StoreError;
use crate::tables::{Table, SCHEMA_VERSION};

/// The schema, with keyspace `agora` and replication factor 3; rewritten by [`schema_plan`].
const SCHEMA_CQL: &str = include_str!("../../deploy/scylla/schema.cql");
/// The keyspace name used in schema.cql.
const SCHEMA_KEYSPACE: &str = "agora";
/// The table holding `schema_version`.
const META_TABLE: &str = "agora_meta";
/// The longest TTL ScyllaDB accepts (20 years); longer ones are clamped to it.
const MAX_TTL_SECS: i32 = 630_720_000;

/// Plain reads and writes. With replication factor 1 a quorum is the one replica, so this
/// also suits single-node development clusters.
const CONSISTENCY: Consistency = Consistency::LocalQuorum;
/// The Paxos phase of lightweight transactions, and reads that must see their outcome.
const SERIAL: SerialConsistency = SerialConsistency::LocalSerial;

/// The ScyllaDB backend: a cheap-clone handle over one driver session and the prepared
/// statements of every table.
#[derive(Clone)]
pub struct ScyllaBackend {
    inner: Arc<Inner>,
}

struct Inner {
    session: Session,
    tables: HashMap<Table, TableStatements>,
    ping: PreparedStatement,
}

/// Every statement of one table, prepared once at start-up.
struct TableStatements {
    /// `(pk, ck) -> (version, value)` at [`CONSISTENCY`].
    get: PreparedStatement,
    /// The same read at serial consistency: sees every committed (and in-flight) LWT.
    get_serial: PreparedStatement,
    /// `(pk) -> (ck, version, value)*`, clustering order.
    scan_asc_first: PreparedStatement,
    /// `(pk, cursor) -> rows with ck > cursor`, clustering order.
    scan_asc_after: PreparedStatement,
    /// `(pk) -> rows`, reverse clustering order.
    scan_desc_first: PreparedStatement,
    /// `(pk, cursor) -> rows with ck < cursor`, reverse clustering order.
    scan_desc_after: PreparedStatement,
    /// `(pk, ck, version, value, ttl)`: unconditional upsert.
    put: PreparedStatement,
    /// `(pk, ck, version, value, ttl)`: LWT insert-if-absent.
    insert_if_absent: PreparedStatement,
    /// `(ttl, version, value, pk, ck)`: LWT write over a row without live cells.
    insert_over_stale: PreparedStatement,
    /// `(ttl, value, version, pk, ck, expected version)`: LWT compare-and-set.
    cas: PreparedStatement,
    /// `(pk, ck)`.
    delete: PreparedStatement,
}

/// `version` and `value` of one row; null when the row has no live cells.
#[derive(DeserializeRow)]
struct CellsRow {
    version: Option<i64>,
    value: Option<Vec<u8>>,
}

/// One row of a partition scan.
#[derive(DeserializeRow)]
struct ScanRow {
    ck: String,
    version: Option<i64>,
    value: Option<Vec<u8>>,
}

/// The bound values of one statement of a batch: puts and deletes bind different columns.
enum BatchValues<'a> {
    Put((&'a str, &'a str, i64, &'a [u8], i32)),
    Delete((&'a str, &'a str)),
    /// `(ttl, value, version, pk, ck, expected version)` of the compare-and-set statement.
    Cas((i32, &'a [u8], i64, &'a str, &'a str, i64)),
}

impl SerializeRow for BatchValues<'_> {
    fn serialize(&self, ctx: &RowSerializationContext<'_>, writer: &mut RowWriter) -> Result<(), SerializationError> {
        match self {
            BatchValues::Put(values) => values.serialize(ctx, writer),
            BatchValues::Delete(values) => values.serialize(ctx, writer),
            BatchValues::Cas(values) => values.serialize(ctx, writer),
        }
    }

    fn is_empty(&self) -> bool {
        false
    }
}

/// What a lightweight transaction answered. ScyllaDB answers `[applied]` plus the old values
/// of the row (all columns for `IF NOT EXISTS`, the conditioned ones for `IF version = ..`);
/// Cassandra only adds them when the condition failed. Columns are found by name.
struct LwtAnswer {
    applied: bool,
    /// `None`: the column is not in the answer; `Some(None)`: it is, and null.
    version: Option<Option<i64>>,
    value: Option<Option<Vec<u8>>>,
}

/// What an LWT answer says about the live row.
enum Current {
    /// The answer carries the live row, or shows there is none.
    Known(Option<Row>),
    /// The answer lacks columns: read the row at serial consistency.
    Unknown,
}

impl LwtAnswer {
    fn current(self, pk: &str, ck: &str) -> Current {
        match (self.version, self.value) {
            (Some(None), _) | (_, Some(None)) => Current::Known(None),
            (Some(Some(version)), Some(Some(value))) => {
                Current::Known(Some(Row { pk: pk.to_string(), ck: ck.to_string(), version, value }))
            }
            _ => Current::Unknown,
        }
    }
}

/// Maps a driver error to `StoreError::Unavailable`, with what was being done.
fn unavailable<E: Display>(what: &'static str) -> impl Fn(E) -> StoreError {
    move |e| StoreError::Unavailable(format!("scylla {what}: {e}"))
}

/// The CQL TTL of a write: 0 means none.
fn ttl_arg(ttl: Option<Duration>) -> i32 {
    ttl.map_or(0, |t| i32::try_from(ttl_secs(t)).unwrap_or(MAX_TTL_SECS).min(MAX_TTL_SECS))
}

/// A live row from its cells, or `None` when they are null (absent or expired).
fn live_row(pk: &str, ck: &str, version: Option<i64>, value: Option<Vec<u8>>) -> Option<Row> {
    match (version, value) {
        (Some(version), Some(value)) => Some(Row { pk: pk.to_string(), ck: ck.to_string(), version, value }),
        _ => None,
    }
}

/// Appends the unconditional writes of a batch (puts at version 0, deletes).
fn append_ops<'a>(
    batch: &mut Batch,
    values: &mut Vec<BatchValues<'a>>,
    st: &TableStatements,
    pk: &'a str,
    ops: &'a [BatchOp],
) {
    for op in ops {
        match op {
            BatchOp::Put { ck, value, ttl } => {
                batch.append_statement(st.put.clone());
                values.push(BatchValues::Put((pk, ck.as_str(), 0, value.as_slice(), ttl_arg(*ttl))));
            }
            BatchOp::Delete { ck } => {
                batch.append_statement(st.delete.clone());
                values.push(BatchValues::Delete((pk, ck.as_str())));
            }
        }
    }
}

/// Keeps only the last operation on each clustering key. All writes of one batch share one
/// timestamp, and on a tie ScyllaDB lets a delete win over a put (and the larger value win
/// between two puts), whereas SQLite applies the operations in order: the last one wins.
fn last_op_per_key(ops: Vec<BatchOp>) -> Vec<BatchOp> {
    fn key(op: &BatchOp) -> &str {
        match op {
            BatchOp::Put { ck, .. } | BatchOp::Delete { ck } => ck,
        }
    }
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        last.insert(key(op), i);
    }
    let keep: Vec<bool> = ops.iter().enumerate().map(|(i, op)| last.get(key(op)) == Some(&i)).collect();
    ops.into_iter().zip(keep).filter_map(|(op, keep)| keep.then_some(op)).collect()
}

// ---------------------------------------------------------------------------------------
// Schema text handling
// ---------------------------------------------------------------------------------------

/// Checks a keyspace name: `[a-z_][a-z0-9_]{0,47}` (ScyllaDB allows 48 characters).
fn validate_keyspace(keyspace: &str) -> Result<(), StoreError> {
    let mut chars = keyspace.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok && keyspace.len() <= 48 {
        Ok(())
    } else {
        Err(StoreError::Config(format!(
            "invalid ScyllaDB keyspace name {keyspace:?}: expected [a-z_][a-z0-9_]{{0,47}}"
        )))
    }
}

/// The keyspace as a CQL identifier. Always quoted: a valid name is all lower case, so the
/// quoted form names the same keyspace, and quoting also admits a leading underscore.
fn quoted_keyspace(keyspace: &str) -> String {
    format!("\"{keyspace}\"")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lex {
    Code,
    /// Inside '...' (a doubled '' just leaves and re-enters).
    Str,
    /// Inside "..." (a quoted identifier).
    Ident,
    LineComment,
    BlockComment,
}

/// Removes `--`, `//` and `/* */` comments, leaving string literals and quoted identifiers
/// alone. A removed comment leaves its line break (or a space) behind.
fn strip_comments(cql: &str) -> String {
    let mut out = String::with_capacity(cql.len());
    let mut state = Lex::Code;
    let mut chars = cql.chars().peekable();
    while let Some(c) = chars.next() {
        match state {
            Lex::Code => match c {
                '-' if chars.peek() == Some(&'-') => state = Lex::LineComment,
                '/' if chars.peek() == Some(&'/') => state = Lex::LineComment,
                '/' if chars.peek() == Some(&'*') => {
                    chars.next();
                    state = Lex::BlockComment;
                    out.push(' ');
                }
                '\'' => {
                    state = Lex::Str;
                    out.push(c);
                }
                '"' => {
                    state = Lex::Ident;
                    out.push(c);
                }
                _ => out.push(c),
            },
            Lex::Str => {
                if c == '\'' {
                    state = Lex::Code;
                }
                out.push(c);
            }
            Lex::Ident => {
                if c == '"' {
                    state = Lex::Code;
                }
                out.push(c);
            }
            Lex::LineComment => {
                if c == '\n' {
                    state = Lex::Code;
                    out.push(c);
                }
            }
            Lex::BlockComment => {
                if c == '*' && chars.peek() == Some(&'/') {
                    chars.next();
                    state = Lex::Code;
                }
            }
        }
    }
    out
}

/// Splits comment-free CQL on the semicolons outside strings; drops empty statements and
/// trims each one.
fn split_statements(cql: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut state = Lex::Code;
    for c in cql.chars() {
        match (state, c) {
            (Lex::Code, ';') => {
                statements.push(std::mem::take(&mut current));
                continue;
            }
            (Lex::Code, '\'') => state = Lex::Str,
            (Lex::Code, '"') => state = Lex::Ident,
            (Lex::Str, '\'') | (Lex::Ident, '"') => state = Lex::Code,
            _ => {}
        }
        current.push(c);
    }
    statements.push(current);
    statements.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Rebuilds `statement`, passing every unquoted identifier through `map` (`None` keeps it).
/// Text in strings and quoted identifiers, and numbers, are copied unchanged.
fn map_idents(statement: &str, mut map: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(statement.len());
    let mut state = Lex::Code;
    let mut chars = statement.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if state == Lex::Code && (c.is_ascii_alphanumeric() || c == '_') {
            // An identifier, or a number (possibly with letters, as in `1e5`): read it whole.
            let mut end = start + c.len_utf8();
            while let Some(&(i, next)) = chars.peek() {
                if !is_ident_char(next) {
                    break;
                }
                end = i + next.len_utf8();
                chars.next();
            }
            let word = &statement[start..end];
            match (c.is_ascii_digit(), map(word)) {
                (false, Some(replacement)) => out.push_str(&replacement),
                _ => out.push_str(word),
            }
            continue;
        }
        match (state, c) {
            (Lex::Code, '\'') => state = Lex::Str,
            (Lex::Code, '"') => state = Lex::Ident,
            (Lex::Str, '\'') | (Lex::Ident, '"') => state = Lex::Code,
            _ => {}
        }
        out.push(c);
    }
    out
}

/// Replaces every unquoted identifier equal to `from` (case-insensitively, as CQL reads
/// unquoted names) by `to`. Identifiers that merely contain `from` (`agora_meta`) and text in
/// strings or quoted identifiers are left alone.
fn replace_ident(statement: &str, from: &str, to: &str) -> String {
    map_idents(statement, |word| word.eq_ignore_ascii_case(from).then(|| to.to_string()))
}

/// Whether `statement` names the unquoted identifier `name`.
fn has_ident(statement: &str, name: &str) -> bool {
    let mut found = false;
    map_idents(statement, |word| {
        found |= word.eq_ignore_ascii_case(name);
        None
    });
    found
}

/// Sets the number after `'replication_factor':` (quoted or not) to `rf`.
fn set_replication_factor(statement: &str, rf: u32) -> Result<String, StoreError> {
    const KEY: &str = "'replication_factor'";
    let missing = || StoreError::Config("schema.cql: the keyspace statement has no 'replication_factor': N".into());
    let key_at = statement.find(KEY).ok_or_else(missing)?;
    let after_key = key_at + KEY.len();
    let rest = &statement[after_key..];
    let colon = rest.find(|c: char| !c.is_whitespace()).filter(|&i| rest[i..].starts_with(':')).ok_or_else(missing)?;
    let after_colon = after_key + colon + 1;
    let rest = &statement[after_colon..];
    let value_at = after_colon + rest.find(|c: char| !c.is_whitespace()).ok_or_else(missing)?;
    let quoted = statement[value_at..].starts_with('\'');
    let digits_at = if quoted { value_at + 1 } else { value_at };
    let digits_len = statement[digits_at..].find(|c: char| !c.is_ascii_digit()).unwrap_or(statement.len() - digits_at);
    if digits_len == 0 {
        return Err(missing());
    }
    Ok(format!("{}{rf}{}", &statement[..digits_at], &statement[digits_at + digits_len..]))
}

/// What one schema statement does; decides the order in which [`ScyllaBackend::connect`]
/// runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SchemaPart {
    Keyspace,
    Meta,
    Tables,
}

/// The schema statements for `keyspace` and `replication_factor`, in file order.
fn schema_plan(keyspace: &str, replication_factor: u32) -> Result<Vec<(SchemaPart, String)>, StoreError> {
    validate_keyspace(keyspace)?;
    if replication_factor == 0 {
        return Err(StoreError::Config("ScyllaDB replication factor must be at least 1".into()));
    }
    let quoted = quoted_keyspace(keyspace);
    let mut plan = Vec::new();
    for statement in split_statements(&strip_comments(SCHEMA_CQL)) {
        let words: Vec<String> = statement.split_whitespace().take(2).map(|w| w.to_ascii_uppercase()).collect();
        let part = if words == ["CREATE", "KEYSPACE"] {
            SchemaPart::Keyspace
        } else if has_ident(&statement, META_TABLE) {
            SchemaPart::Meta
        } else {
            SchemaPart::Tables
        };
        let mut rewritten = replace_ident(&statement, SCHEMA_KEYSPACE, &quoted);
        if part == SchemaPart::Keyspace {
            rewritten = set_replication_factor(&rewritten, replication_factor)?;
        }
        plan.push((part, rewritten));
    }
    if !plan.iter().any(|(part, _)| *part == SchemaPart::Keyspace) {
        return Err(StoreError::Config("schema.cql has no CREATE KEYSPACE statement".into()));
    }
    if !plan.iter().any(|(part, _)| *part == SchemaPart::Meta) {
        return Err(StoreError::Config(format!("schema.cql does not define {META_TABLE}")));
    }
    Ok(plan)
}

// ---------------------------------------------------------------------------------------
// Connecting
// ---------------------------------------------------------------------------------------

fn with_consistency(mut statement: PreparedStatement, consistency: Consistency) -> PreparedStatement {
    statement.set_consistency(consistency);
    statement
}

/// Marks a prepared statement as a lightweight transaction: Paxos at [`SERIAL`], commit at
/// [`CONSISTENCY`].
fn as_lwt(mut statement: PreparedStatement) -> PreparedStatement {
    statement.set_consistency(CONSISTENCY);
    statement.set_serial_consistency(Some(SERIAL));
    statement
}

/// Marks a read as safe to retry (or to speculate on).
fn idempotent(mut statement: PreparedStatement) -> PreparedStatement {
    statement.set_is_idempotent(true);
    statement
}

async fn prepare(session: &Session, cql: String) -> Result<PreparedStatement, StoreError> {
    session.prepare(cql.as_str()).await.map_err(|e| StoreError::Unavailable(format!("scylla prepare `{cql}`: {e}")))
}

async fn prepare_table(session: &Session, keyspace: &str, table: Table) -> Result<TableStatements, StoreError> {
    let t = format!("{}.{}", quoted_keyspace(keyspace), table.name());
    let select = format!("SELECT ck, version, value FROM {t} WHERE pk = ?");
    let get = format!("SELECT version, value FROM {t} WHERE pk = ? AND ck = ?");
    Ok(TableStatements {
        get: idempotent(with_consistency(prepare(session, get.clone()).await?, CONSISTENCY)),
        get_serial: idempotent(with_consistency(prepare(session, get).await?, Consistency::LocalSerial)),
        scan_asc_first: idempotent(with_consistency(
            prepare(session, format!("{select} ORDER BY ck ASC")).await?,
            CONSISTENCY,
        )),
        scan_asc_after: idempotent(with_consistency(
            prepare(session, format!("{select} AND ck > ? ORDER BY ck ASC")).await?,
            CONSISTENCY,
        )),
        scan_desc_first: idempotent(with_consistency(
            prepare(session, format!("{select} ORDER BY ck DESC")).await?,
            CONSISTENCY,
        )),
        scan_desc_after: idempotent(with_consistency(
            prepare(session, format!("{select} AND ck < ? ORDER BY ck DESC")).await?,
            CONSISTENCY,
        )),
        put: with_consistency(
            prepare(session, format!("INSERT INTO {t} (pk, ck, version, value) VALUES (?, ?, ?, ?) USING TTL ?"))
                .await?,
            CONSISTENCY,
        ),
        insert_if_absent: as_lwt(
            prepare(
                session,
                format!("INSERT INTO {t} (pk, ck, version, value) VALUES (?, ?, ?, ?) IF NOT EXISTS USING TTL ?"),
            )
            .await?,
        ),
        insert_over_stale: as_lwt(
            prepare(
                session,
                format!("UPDATE {t} USING TTL ? SET version = ?, value = ? WHERE pk = ? AND ck = ? IF version = null"),
            )
            .await?,
        ),
        cas: as_lwt(
            prepare(
                session,
                format!("UPDATE {t} USING TTL ? SET value = ?, version = ? WHERE pk = ? AND ck = ? IF version = ?"),
            )
            .await?,
        ),
        delete: with_consistency(
            prepare(session, format!("DELETE FROM {t} WHERE pk = ? AND ck = ?")).await?,
            CONSISTENCY,
        ),
    })
}

/// Runs one statement without bound values (DDL and the schema-version bookkeeping).
async fn run(session: &Session, cql: &str) -> Result<QueryResult, StoreError> {
    let mut statement = Statement::new(cql);
    statement.set_consistency(CONSISTENCY);
    session.query_unpaged(statement, ()).await.map_err(|e| StoreError::Unavailable(format!("scylla `{cql}`: {e}")))
}

/// Creates the keyspace and its tables as needed and brings `schema_version` to
/// [`SCHEMA_VERSION`], refusing a newer one.
async fn migrate(session: &Session, keyspace: &str, plan: &[(SchemaPart, String)]) -> Result<(), StoreError> {
    for part in [SchemaPart::Keyspace, SchemaPart::Meta] {
        for (_, cql) in plan.iter().filter(|(p, _)| *p == part) {
            run(session, cql).await?;
        }
    }
    let meta = format!("{}.{META_TABLE}", quoted_keyspace(keyspace));
    let answer = run(session, &format!("SELECT value FROM {meta} WHERE key = 'schema_version'")).await?;
    let found: Option<u32> = answer
        .into_rows_result()
        .map_err(unavailable("schema_version read"))?
        .maybe_first_row::<(Option<String>,)>()
        .map_err(unavailable("schema_version read"))?
        .and_then(|(value,)| value)
        .map(|v| v.trim().parse::<u32>().map_err(|_| StoreError::Config(format!("bad schema_version {v:?}"))))
        .transpose()?;
    let from = found.unwrap_or(0);
    if from > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew { found: from, supported: SCHEMA_VERSION });
    }
    if from < SCHEMA_VERSION {
        // Every table statement is CREATE TABLE IF NOT EXISTS: tables that exist are kept,
        // those introduced after `from` are created.
        for (_, cql) in plan.iter().filter(|(p, _)| *p == SchemaPart::Tables) {
            run(session, cql).await?;
        }
        run(session, &format!("INSERT INTO {meta} (key, value) VALUES ('schema_version', '{SCHEMA_VERSION}')")).await?;
        tracing::info!(keyspace, from, to = SCHEMA_VERSION, "scylla schema migrated");
    }
    Ok(())
}

impl ScyllaBackend {
    /// Connects to the cluster through `nodes` (`host:port`), creates or migrates the schema
    /// of `keyspace` (created with `replication_factor` replicas if it does not exist), and
    /// prepares every statement of every table.
    ///
    /// Fails with `StoreError::Config` for a bad keyspace name or replication factor,
    /// `StoreError::SchemaTooNew` if the keyspace was written by a newer build, and
    /// `StoreError::Unavailable` if the cluster cannot be reached or refuses the schema.
    pub async fn connect(nodes: &[String], keyspace: &str, replication_factor: u32) -> Result<Self, StoreError> {
        if nodes.is_empty() {
            return Err(StoreError::Config("no ScyllaDB nodes configured".into()));
        }
        let plan = schema_plan(keyspace, replication_factor)?;
        let session = SessionBuilder::new().known_nodes(nodes).build().await.map_err(unavailable("connect"))?;
        migrate(&session, keyspace, &plan).await?;
        session.use_keyspace(keyspace, true).await.map_err(unavailable("use keyspace"))?;

        let mut tables = HashMap::with_capacity(Table::ALL.len());
        for &table in Table::ALL {
            tables.insert(table, prepare_table(&session, keyspace, table).await?);
        }
        let ping = idempotent(with_consistency(
            prepare(&session, "SELECT key FROM system.local WHERE key = 'local'".into()).await?,
            Consistency::One,
        ));
        tracing::info!(keyspace, nodes = ?nodes, "scylla backend ready");
        Ok(ScyllaBackend { inner: Arc::new(Inner { session, tables, ping }) })
    }

    /// The statements [`ScyllaBackend::connect`] runs to create the schema of `keyspace`
    /// with `replication_factor` replicas: deploy/scylla/schema.cql without comments, split
    /// on `;`, keyspace and replication factor replaced (checked by the schema test).
    #[cfg(test)]
    pub(crate) fn schema_statements(keyspace: &str, replication_factor: u32) -> Result<Vec<String>, StoreError> {
        Ok(schema_plan(keyspace, replication_factor)?.into_iter().map(|(_, cql)| cql).collect())
    }

    fn statements(&self, table: Table) -> Result<&TableStatements, StoreError> {
        self.inner
            .tables
            .get(&table)
            .ok_or_else(|| StoreError::Config(format!("no prepared statements for table {}", table.name())))
    }

    async fn execute(
        &self,
        statement: &PreparedStatement,
        values: impl SerializeRow,
        what: &'static str,
    ) -> Result<QueryResult, StoreError> {
        self.inner.session.execute_unpaged(statement, values).await.map_err(unavailable(what))
    }

    /// Reads one live row with `statement` (`get` or `get_serial`).
    async fn read_row(&self, statement: &PreparedStatement, pk: &str, ck: &str) -> Result<Option<Row>, StoreError> {
        let result = self.execute(statement, (pk, ck), "get").await?;
        let rows = result.into_rows_result().map_err(unavailable("get"))?;
        let cells = rows.maybe_first_row::<CellsRow>().map_err(unavailable("get"))?;
        Ok(cells.and_then(|c| live_row(pk, ck, c.version, c.value)))
    }

    /// Runs a lightweight transaction and reads its answer.
    async fn lwt(&self, statement: &PreparedStatement, values: impl SerializeRow) -> Result<LwtAnswer, StoreError> {
        let result = self.execute(statement, values, "cas").await?;
        lwt_answer(result)
    }
}

/// Reads `[applied]` and the old `version` and `value` from an LWT answer (a statement's
/// or a conditional batch's: both answer in this shape, the batch with the conditioned row).
fn lwt_answer(result: QueryResult) -> Result<LwtAnswer, StoreError> {
    let rows = result.into_rows_result().map_err(unavailable("cas answer"))?;
    let specs = rows.column_specs();
    let applied_at = specs
        .get_by_name("[applied]")
        .map(|(i, _)| i)
        .ok_or_else(|| StoreError::Unavailable("scylla cas answer: no [applied] column".into()))?;
    let version_at = specs.get_by_name("version").map(|(i, _)| i);
    let value_at = specs.get_by_name("value").map(|(i, _)| i);
    let row = rows
        .maybe_first_row::<::scylla::value::Row>()
        .map_err(unavailable("cas answer"))?
        .ok_or_else(|| StoreError::Unavailable("scylla cas answer: no row".into()))?;
    let cell = |i: usize| row.columns.get(i).cloned().flatten();
    let applied = match cell(applied_at) {
        Some(CqlValue::Boolean(applied)) => applied,
        other => return Err(StoreError::Unavailable(format!("scylla cas answer: [applied] is {other:?}"))),
    };
    let version = version_at
        .map(|i| match cell(i) {
            None => Ok(None),
            Some(CqlValue::BigInt(v)) => Ok(Some(v)),
            Some(other) => Err(StoreError::Unavailable(format!("scylla cas answer: version is {other:?}"))),
        })
        .transpose()?;
    let value = value_at
        .map(|i| match cell(i) {
            None => Ok(None),
            Some(CqlValue::Blob(v)) => Ok(Some(v)),
            Some(other) => Err(StoreError::Unavailable(format!("scylla cas answer: value is {other:?}"))),
        })
        .transpose()?;
    Ok(LwtAnswer { applied, version, value })
}

#[async_trait::async_trait]
impl Backend for ScyllaBackend {
    fn name(&self) -> &'static str {
        "scylla"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.execute(&self.inner.ping, (), "ping").await.map(|_| ())
    }

    async fn get(&self, table: Table, pk: &str, ck: &str) -> Result<Option<Row>, StoreError> {
        let st = self.statements(table)?;
        self.read_row(&st.get, pk, ck).await
    }

    async fn scan(
        &self,
        table: Table,
        pk: &str,
        order: Order,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page, StoreError> {
        let limit = clamp_limit(limit);
        let after = cursor.map(decode_cursor).transpose()?;
        let st = self.statements(table)?;
        let mut statement = match (order, after.is_some()) {
            (Order::Asc, false) => st.scan_asc_first.clone(),
            (Order::Asc, true) => st.scan_asc_after.clone(),
            (Order::Desc, false) => st.scan_desc_first.clone(),
            (Order::Desc, true) => st.scan_desc_after.clone(),
        };
        // One page normally holds the `limit + 1` rows; more pages are read only when the
        // server cuts a page short or rows without live cells are skipped.
        statement.set_page_size(i32::try_from(limit + 1).unwrap_or(i32::MAX));
        let mut rows = Vec::with_capacity(limit + 1);
        let mut paging = PagingState::start();
        loop {
            let (result, next) = match &after {
                Some(after) => self.inner.session.execute_single_page(&statement, (pk, after.as_str()), paging).await,
                None => self.inner.session.execute_single_page(&statement, (pk,), paging).await,
            }
            .map_err(unavailable("scan"))?;
            let result = result.into_rows_result().map_err(unavailable("scan"))?;
            for scanned in result.rows::<ScanRow>().map_err(unavailable("scan"))? {
                let scanned = scanned.map_err(unavailable("scan"))?;
                if let Some(row) = live_row(pk, &scanned.ck, scanned.version, scanned.value) {
                    rows.push(row);
                }
                if rows.len() > limit {
                    return Ok(into_page(rows, limit));
                }
            }
            match next.into_paging_control_flow() {
                ControlFlow::Break(()) => return Ok(into_page(rows, limit)),
                ControlFlow::Continue(state) => paging = state,
            }
        }
    }

    async fn put(
        &self,
        table: Table,
        pk: &str,
        ck: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let st = self.statements(table)?;
        self.execute(&st.put, (pk, ck, 0_i64, value.as_slice(), ttl_arg(ttl)), "put").await.map(|_| ())
    }

    async fn cas(
        &self,
        table: Table,
        pk: &str,
        ck: &str,
        expect: Expect,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<CasOutcome, StoreError> {
        let st = self.statements(table)?;
        let ttl = ttl_arg(ttl);
        let known = match expect {
            Expect::Absent => {
                let answer = self.lwt(&st.insert_if_absent, (pk, ck, 1_i64, value.as_slice(), ttl)).await?;
                if answer.applied {
                    return Ok(CasOutcome::Applied { version: 1 });
                }
                match answer.current(pk, ck) {
                    Current::Known(Some(row)) => return Ok(CasOutcome::Conflict { current: Some(row) }),
                    Current::Known(None) => {
                        // A row marker without live cells: absent to us, present to
                        // IF NOT EXISTS. Take it over while its cells are still null.
                        let answer = self.lwt(&st.insert_over_stale, (ttl, 1_i64, value.as_slice(), pk, ck)).await?;
                        if answer.applied {
                            return Ok(CasOutcome::Applied { version: 1 });
                        }
                        Current::Unknown
                    }
                    Current::Unknown => Current::Unknown,
                }
            }
            Expect::Version(expected) => {
                let next = expected.checked_add(1).ok_or_else(|| StoreError::Corrupt {
                    table: table.name(),
                    detail: format!("version {expected} cannot grow"),
                })?;
                let answer = self.lwt(&st.cas, (ttl, value.as_slice(), next, pk, ck, expected)).await?;
                if answer.applied {
                    return Ok(CasOutcome::Applied { version: next });
                }
                answer.current(pk, ck)
            }
        };
        let current = match known {
            Current::Known(current) => current,
            // The answer lacks the value: read the row at serial consistency, which sees
            // the outcome of every LWT so far.
            Current::Unknown => self.read_row(&st.get_serial, pk, ck).await?,
        };
        Ok(CasOutcome::Conflict { current })
    }

    async fn delete(&self, table: Table, pk: &str, ck: &str) -> Result<(), StoreError> {
        let st = self.statements(table)?;
        self.execute(&st.delete, (pk, ck), "delete").await.map(|_| ())
    }

    async fn cas_batch(
        &self,
        table: Table,
        pk: &str,
        ck: &str,
        expect: Expect,
        value: Vec<u8>,
        others: Vec<BatchOp>,
    ) -> Result<CasOutcome, StoreError> {
        check_cas_batch(table, ck, &others)?;
        let st = self.statements(table)?;
        let others = last_op_per_key(others);
        // A conditional batch of one partition: ScyllaDB runs it as one Paxos round, so the
        // condition on the guarded row and every write apply together or not at all.
        let mut batch = Batch::new(BatchType::Unlogged);
        batch.set_consistency(CONSISTENCY);
        batch.set_serial_consistency(Some(SERIAL));
        let mut values = Vec::with_capacity(others.len() + 1);
        let next = match expect {
            Expect::Absent => {
                batch.append_statement(st.insert_if_absent.clone());
                values.push(BatchValues::Put((pk, ck, 1, value.as_slice(), 0)));
                1
            }
            Expect::Version(expected) => {
                let next = expected.checked_add(1).ok_or_else(|| StoreError::Corrupt {
                    table: table.name(),
                    detail: format!("version {expected} cannot grow"),
                })?;
                batch.append_statement(st.cas.clone());
                values.push(BatchValues::Cas((0, value.as_slice(), next, pk, ck, expected)));
                next
            }
        };
        append_ops(&mut batch, &mut values, st, pk, &others);
        let result = self.inner.session.batch(&batch, values).await.map_err(unavailable("cas_batch"))?;
        if lwt_answer(result)?.applied {
            return Ok(CasOutcome::Applied { version: next });
        }
        // The answer's columns differ between servers for batches: read the guarded row at
        // serial consistency. (Guarded rows carry no TTL, so no stale row marker can stand
        // in the way of an insert.)
        let current = self.read_row(&st.get_serial, pk, ck).await?;
        Ok(CasOutcome::Conflict { current })
    }

    async fn batch(&self, table: Table, pk: &str, ops: Vec<BatchOp>) -> Result<(), StoreError> {
        let st = self.statements(table)?;
        let ops = last_op_per_key(ops);
        if ops.is_empty() {
            return Ok(());
        }
        // One partition: ScyllaDB applies the batch atomically and in isolation without the
        // batch log, so it is unlogged.
        let mut batch = Batch::new(BatchType::Unlogged);
        batch.set_consistency(CONSISTENCY);
        let mut values = Vec::with_capacity(ops.len());
        append_ops(&mut batch, &mut values, st, pk, &ops);
        self.inner.session.batch(&batch, values).await.map(|_| ()).map_err(unavailable("batch"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyspace_names_are_validated() {
        for ok in ["agora", "a", "_x", "agora_test_01", &"k".repeat(48)] {
            assert!(validate_keyspace(ok).is_ok(), "{ok} should be accepted");
        }
        for bad in ["", "Agora", "1abc", "a-b", "a.b", "a b", "ks\"", "é", &"k".repeat(49)] {
            assert!(matches!(validate_keyspace(bad), Err(StoreError::Config(_))), "{bad:?} should be refused");
        }
    }

    #[test]
    fn comments_are_stripped_outside_strings() {
        let cql = "-- head; with semicolon\nSELECT '--not a comment' /* block; */ FROM t; // tail\n";
        assert_eq!(strip_comments(cql), "\nSELECT '--not a comment'   FROM t; \n");
    }

    #[test]
    fn statements_split_on_semicolons_outside_strings() {
        let parts = split_statements(" A 'x;y' ;\n\n B \"q;\" ; ;");
        assert_eq!(parts, vec!["A 'x;y'".to_string(), "B \"q;\"".to_string()]);
    }

    #[test]
    fn only_whole_identifiers_are_replaced() {
        let s = "CREATE TABLE IF NOT EXISTS agora.agora_meta (x text) 'agora' \"agora\" AGORA 3agora agora";
        assert_eq!(
            replace_ident(s, "agora", "\"ks\""),
            "CREATE TABLE IF NOT EXISTS \"ks\".agora_meta (x text) 'agora' \"agora\" \"ks\" 3agora \"ks\""
        );
        assert!(has_ident(s, "agora_meta"));
        assert!(!has_ident("SELECT 'agora_meta' FROM \"agora_meta\" x_agora_meta", "agora_meta"));
    }

    #[test]
    fn replication_factor_is_replaced() {
        let s = "CREATE KEYSPACE k WITH replication = {'class': 'X', 'replication_factor' :  3} AND tablets = {'enabled': false}";
        assert_eq!(
            set_replication_factor(s, 1).expect("rf"),
            "CREATE KEYSPACE k WITH replication = {'class': 'X', 'replication_factor' :  1} AND tablets = {'enabled': false}"
        );
        assert_eq!(
            set_replication_factor("{'replication_factor': '3'}", 5).expect("quoted rf"),
            "{'replication_factor': '5'}"
        );
        assert!(set_replication_factor("{'class': 'X'}", 1).is_err());
    }

    #[test]
    fn the_schema_plan_rewrites_keyspace_and_replication() {
        let plan = schema_plan("test_ks", 1).expect("plan");
        assert_eq!(plan.iter().filter(|(p, _)| *p == SchemaPart::Keyspace).count(), 1);
        assert_eq!(plan.iter().filter(|(p, _)| *p == SchemaPart::Meta).count(), 1);
        assert_eq!(plan.iter().filter(|(p, _)| *p == SchemaPart::Tables).count(), Table::ALL.len());
        for (part, cql) in &plan {
            assert!(!cql.contains("agora."), "keyspace not replaced in {cql}");
            assert!(!cql.contains("--"), "comment left in {cql}");
            match part {
                SchemaPart::Keyspace => {
                    assert!(cql.starts_with("CREATE KEYSPACE IF NOT EXISTS \"test_ks\""), "{cql}");
                    assert!(cql.contains("'replication_factor': 1"), "{cql}");
                }
                SchemaPart::Meta => assert!(cql.contains("\"test_ks\".agora_meta"), "{cql}"),
                SchemaPart::Tables => assert!(cql.contains("\"test_ks\"."), "{cql}"),
            }
        }
        assert!(matches!(schema_plan("Bad", 1), Err(StoreError::Config(_))));
        assert!(matches!(schema_plan("ok", 0), Err(StoreError::Config(_))));
    }

    #[test]
    fn ttls_are_clamped_to_what_scylla_accepts() {
        assert_eq!(ttl_arg(None), 0);
        assert_eq!(ttl_arg(Some(Duration::from_millis(10))), 1);
        assert_eq!(ttl_arg(Some(Duration::from_secs(90))), 90);
        assert_eq!(ttl_arg(Some(Duration::from_secs(u64::MAX))), MAX_TTL_SECS);
    }

    #[test]
    fn a_batch_keeps_the_last_operation_per_key() {
        let put = |ck: &str, v: u8| BatchOp::Put { ck: ck.into(), value: vec![v], ttl: None };
        let del = |ck: &str| BatchOp::Delete { ck: ck.into() };
        let ops = vec![put("a", 1), del("b"), del("a"), put("b", 2), put("c", 3), put("c", 4)];
        assert_eq!(last_op_per_key(ops), vec![del("a"), put("b", 2), put("c", 4)]);
    }

    #[test]
    fn lwt_answers_give_the_current_row_when_they_can() {
        let answer = |version, value| LwtAnswer { applied: false, version, value };
        assert!(matches!(
            answer(Some(Some(3)), Some(Some(b"v".to_vec()))).current("p", "c"),
            Current::Known(Some(Row { version: 3, .. }))
        ));
        assert!(matches!(answer(Some(None), None).current("p", "c"), Current::Known(None)));
        assert!(matches!(answer(Some(Some(3)), Some(None)).current("p", "c"), Current::Known(None)));
        assert!(matches!(answer(Some(Some(3)), None).current("p", "c"), Current::Unknown));
        assert!(matches!(answer(None, None).current("p", "c"), Current::Unknown));
    }
}
