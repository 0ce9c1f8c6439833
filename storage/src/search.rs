//! The catalog search index (tantivy, in memory): services, jobs and provider profiles,
//! with ranked full-text search that tolerates word forms (English stemming), exact
//! filters, a price range and sort orders. It is a read model: fed by catalog changes
//! and rebuilt from storage at start-up ([`SearchIndex::rebuild`]). Blocking work
//! (commits) belongs on a blocking thread; callers use `spawn_blocking`.
//!
//! Queries from users never reach tantivy's query parser: the text is parsed into words and
//! slop-free phrases by [`SearchText`] (bounded length and word count), and the tantivy
//! query is built here from the analyzer's tokens. Each search runs under a [`Budget`]: a
//! deadline and a cancellation flag checked while documents are collected, so an expensive
//! search stops on time and a search whose client went away stops early.

use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use agora_engine::{SearchClause, SearchText};
use base64::Engine as _;
use tantivy::collector::{Collector, Count, SegmentCollector, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, BoostQuery, Occur, PhraseQuery, Query, RangeQuery, TermQuery, Weight};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, Value as _, STORED, STRING,
};
use tantivy::COLLECT_BLOCK_BUFFER_LEN;
use tantivy::{
    doc, DocSet as _, Index, IndexReader, IndexWriter, Order as TOrder, ReloadPolicy, Score, SegmentOrdinal,
    SegmentReader, TantivyDocument, TantivyError, Term, TERMINATED,
};

use crate::error::StoreError;

/// What a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Service,
    Job,
    Provider,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Service => "service",
            Kind::Job => "job",
            Kind::Provider => "provider",
        }
    }
}

/// One searchable record. Filters are exact terms; `categories` holds the category and
/// all its ancestors, so filtering by a category also finds its subcategories.
#[derive(Debug, Clone, Default)]
pub struct Doc {
    pub id: String,
    pub title: String,
    pub body: String,
    /// services: provider id; jobs: client id; providers: user id.
    pub owner: String,
    pub categories: Vec<String>,
    /// jobs: status; services and providers: empty.
    pub status: String,
    pub city: String,
    pub country: String,
    pub verified: bool,
    pub availability: String,
    /// Minor units (services: price; jobs: budget max or min; providers: hourly rate).
    pub price: i64,
    pub created: i64,
    pub rating: f64,
    pub popularity: u64,
    pub completed_jobs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Relevance,
    PriceAsc,
    PriceDesc,
    Newest,
    Oldest,
    Rating,
    Popularity,
    CompletedJobs,
}

/// A search over one kind.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub kind: Kind,
    /// Parsed user text: words and phrases only (see [`SearchText`]).
    pub q: Option<SearchText>,
    /// (filter name, exact value): owner, category, status, city, country, verified, availability.
    pub filters: Vec<(&'static str, String)>,
    pub price_min: Option<i64>,
    pub price_max: Option<i64>,
    pub sort: Sort,
    pub offset: usize,
    pub limit: usize,
}

/// A page of ids, best first, with the total number of matches.
#[derive(Debug, Clone, PartialEq)]
pub struct Hits {
    pub ids: Vec<String>,
    pub total: usize,
    pub next_offset: Option<usize>,
}

/// The deepest page a search may reach.
pub const MAX_OFFSET: usize = 10_000;

/// Title matches weigh this much more than body matches.
const TITLE_BOOST: Score = 2.0;
/// Documents collected between two budget checks.
const CHECK_EVERY: u32 = 256;

/// How long one search may run, and whether its caller still wants the answer. Cheap to
/// clone; clones share the cancellation flag.
#[derive(Debug, Clone)]
pub struct Budget {
    deadline: Option<Instant>,
    cancelled: Arc<AtomicBool>,
}

/// Cancels its [`Budget`] when dropped: hold it in the request's future, so that a client
/// who hangs up (the future is dropped) stops the search on the blocking thread.
#[derive(Debug)]
pub struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl Budget {
    /// A budget of `limit` from now (time spent waiting for a blocking thread counts).
    pub fn new(limit: Duration) -> Self {
        Budget { deadline: Some(Instant::now() + limit), cancelled: Arc::new(AtomicBool::new(false)) }
    }

    /// No deadline (benchmarks, rebuilds); still cancellable.
    pub fn unlimited() -> Self {
        Budget { deadline: None, cancelled: Arc::new(AtomicBool::new(false)) }
    }

    pub fn cancel_on_drop(&self) -> CancelOnDrop {
        CancelOnDrop(Arc::clone(&self.cancelled))
    }

    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Why the search must stop now, if it must.
    fn stop(&self) -> Option<&'static str> {
        if self.cancelled.load(Ordering::Relaxed) {
            Some("the caller went away")
        } else if self.deadline.is_some_and(|d| Instant::now() >= d) {
            Some("over its time budget")
        } else {
            None
        }
    }

    fn check(&self) -> tantivy::Result<()> {
        match self.stop() {
            Some(why) => Err(TantivyError::InvalidArgument(format!("search stopped: {why}"))),
            None => Ok(()),
        }
    }
}

/// Wraps a collector so that collection checks the budget every [`CHECK_EVERY`] documents
/// (tantivy's own collection loop cannot be interrupted).
struct Budgeted<'b, C> {
    inner: C,
    budget: &'b Budget,
}

fn budgeted<C>(budget: &Budget, inner: C) -> Budgeted<'_, C> {
    Budgeted { inner, budget }
}

impl<C: Collector> Collector for Budgeted<'_, C> {
    type Fruit = C::Fruit;
    type Child = C::Child;

    fn check_schema(&self, schema: &Schema) -> tantivy::Result<()> {
        self.inner.check_schema(schema)
    }

    fn for_segment(&self, ord: SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<C::Child> {
        self.inner.for_segment(ord, reader)
    }

    fn requires_scoring(&self) -> bool {
        self.inner.requires_scoring()
    }

    fn merge_fruits(&self, fruits: Vec<<C::Child as SegmentCollector>::Fruit>) -> tantivy::Result<C::Fruit> {
        self.inner.merge_fruits(fruits)
    }

    fn collect_segment(
        &self,
        weight: &dyn Weight,
        ord: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<<C::Child as SegmentCollector>::Fruit> {
        self.budget.check()?;
        let mut child = self.inner.for_segment(ord, reader)?;
        let scoring = self.inner.requires_scoring();
        let alive = reader.alive_bitset();
        let mut scorer = weight.scorer(reader, 1.0)?;
        if !scoring {
            // Listings (filters and sorts, no text): tantivy's block path, 64 documents a
            // call, with the budget checked every CHECK_EVERY documents as below.
            let mut buffer = [0u32; COLLECT_BLOCK_BUFFER_LEN];
            let mut since_check = 0usize;
            loop {
                let n = scorer.fill_buffer(&mut buffer);
                match alive {
                    Some(a) => buffer[..n].iter().filter(|d| a.is_alive(**d)).for_each(|d| child.collect(*d, 0.0)),
                    None => child.collect_block(&buffer[..n]),
                }
                if n < buffer.len() {
                    return Ok(child.harvest());
                }
                since_check += n;
                if since_check >= CHECK_EVERY as usize {
                    since_check = 0;
                    self.budget.check()?;
                }
            }
        }
        let mut seen = 0u32;
        let mut doc = scorer.doc();
        while doc != TERMINATED {
            if alive.is_none_or(|a| a.is_alive(doc)) {
                let score = if scoring { scorer.score() } else { 0.0 };
                child.collect(doc, score);
            }
            seen = seen.wrapping_add(1);
            if seen.is_multiple_of(CHECK_EVERY) {
                self.budget.check()?;
            }
            doc = scorer.advance();
        }
        Ok(child.harvest())
    }
}

#[derive(Clone, Copy)]
struct Fields {
    kind: Field,
    id: Field,
    title: Field,
    body: Field,
    owner: Field,
    category: Field,
    status: Field,
    city: Field,
    country: Field,
    verified: Field,
    availability: Field,
    price: Field,
    created: Field,
    rating: Field,
    popularity: Field,
    completed_jobs: Field,
}

pub struct SearchIndex {
    index: Index,
    writer: Mutex<IndexWriter>,
    reader: IndexReader,
    f: Fields,
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("search index: {e}"))
}

impl SearchIndex {
    /// An empty in-memory index.
    pub fn new() -> Result<Self, StoreError> {
        let mut b = Schema::builder();
        let stemmed = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("en_stem")
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        let num = NumericOptions::default().set_indexed().set_fast();
        let f = Fields {
            kind: b.add_text_field("kind", STRING),
            id: b.add_text_field("id", STRING | STORED),
            title: b.add_text_field("title", stemmed.clone()),
            body: b.add_text_field("body", stemmed),
            owner: b.add_text_field("owner", STRING),
            category: b.add_text_field("category", STRING),
            status: b.add_text_field("status", STRING),
            city: b.add_text_field("city", STRING),
            country: b.add_text_field("country", STRING),
            verified: b.add_text_field("verified", STRING),
            availability: b.add_text_field("availability", STRING),
            price: b.add_i64_field("price", num.clone()),
            created: b.add_i64_field("created", num.clone()),
            rating: b.add_f64_field("rating", num.clone()),
            popularity: b.add_u64_field("popularity", num.clone()),
            completed_jobs: b.add_u64_field("completed_jobs", num),
        };
        let index = Index::create_in_ram(b.build());
        let writer = index.writer_with_num_threads(1, 32_000_000).map_err(err)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(err)?;
        Ok(SearchIndex { index, writer: Mutex::new(writer), reader, f })
    }

    fn key(kind: Kind, id: &str) -> String {
        format!("{}:{id}", kind.as_str())
    }

    /// Adds or replaces documents, then makes them visible. Blocking.
    pub fn upsert(&self, kind: Kind, docs: &[Doc]) -> Result<(), StoreError> {
        let f = self.f;
        let mut w = self.writer.lock().map_err(err)?;
        for d in docs {
            w.delete_term(Term::from_field_text(f.id, &Self::key(kind, &d.id)));
            let mut td = doc!(
                f.kind => kind.as_str(),
                f.id => Self::key(kind, &d.id),
                f.title => d.title.as_str(),
                f.body => d.body.as_str(),
                f.owner => d.owner.as_str(),
                f.status => d.status.as_str(),
                f.city => d.city.to_lowercase(),
                f.country => d.country.to_lowercase(),
                f.verified => if d.verified { "true" } else { "false" },
                f.availability => d.availability.as_str(),
                f.price => d.price,
                f.created => d.created,
                f.rating => d.rating,
                f.popularity => d.popularity,
                f.completed_jobs => d.completed_jobs,
            );
            for c in &d.categories {
                td.add_text(f.category, c);
            }
            w.add_document(td).map_err(err)?;
        }
        w.commit().map_err(err)?;
        drop(w);
        self.reader.reload().map_err(err)
    }

    /// Removes a document. Blocking.
    pub fn remove(&self, kind: Kind, id: &str) -> Result<(), StoreError> {
        let mut w = self.writer.lock().map_err(err)?;
        w.delete_term(Term::from_field_text(self.f.id, &Self::key(kind, id)));
        w.commit().map_err(err)?;
        drop(w);
        self.reader.reload().map_err(err)
    }

    /// Drops every document of `kind` and indexes `docs` instead. Blocking.
    pub fn replace_all(&self, kind: Kind, docs: &[Doc]) -> Result<(), StoreError> {
        {
            let w = self.writer.lock().map_err(err)?;
            w.delete_term(Term::from_field_text(self.f.kind, kind.as_str()));
        }
        self.upsert(kind, docs)
    }

    fn filter_field(&self, name: &str) -> Option<Field> {
        let f = self.f;
        Some(match name {
            "owner" => f.owner,
            "category" => f.category,
            "status" => f.status,
            "city" => f.city,
            "country" => f.country,
            "verified" => f.verified,
            "availability" => f.availability,
            _ => return None,
        })
    }

    /// The tantivy query for parsed user text: every clause must match; a word matches
    /// title (boosted) or body; a phrase matches its words adjacent and in order.
    fn text_query(&self, text: &SearchText) -> Result<Option<Box<dyn Query>>, StoreError> {
        let f = self.f;
        // Title and body share the analyzer (en_stem), so one tokenization serves both.
        let mut analyzer = self.index.tokenizer_for_field(f.title).map_err(err)?;
        let mut tokens = |s: &str| {
            let mut out = Vec::new();
            let mut stream = analyzer.token_stream(s);
            while stream.advance() {
                out.push(stream.token().text.clone());
            }
            out
        };
        let per_field = |field: Field, toks: &[String]| -> Box<dyn Query> {
            let terms: Vec<Term> = toks.iter().map(|t| Term::from_field_text(field, t)).collect();
            match <[Term; 1]>::try_from(terms) {
                Ok([term]) => Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)),
                Err(terms) => Box::new(PhraseQuery::new(terms)),
            }
        };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for clause in text.clauses() {
            let toks = match clause {
                SearchClause::Word(w) => tokens(w),
                SearchClause::Phrase(ws) => tokens(&ws.join(" ")),
            };
            if toks.is_empty() {
                continue; // e.g. a word longer than the analyzer keeps
            }
            let either: Box<dyn Query> = Box::new(BooleanQuery::new(vec![
                (Occur::Should, Box::new(BoostQuery::new(per_field(f.title, &toks), TITLE_BOOST)) as Box<dyn Query>),
                (Occur::Should, per_field(f.body, &toks)),
            ]));
            clauses.push((Occur::Must, either));
        }
        Ok((!clauses.is_empty()).then(|| Box::new(BooleanQuery::new(clauses)) as Box<dyn Query>))
    }

    /// Runs a search without a deadline. Blocking.
    pub fn search(&self, r: &SearchRequest) -> Result<Hits, StoreError> {
        self.search_within(r, &Budget::unlimited())
    }

    /// Runs a search that stops (with [`StoreError::Aborted`]) once `budget` runs out or is
    /// cancelled. Blocking.
    pub fn search_within(&self, r: &SearchRequest, budget: &Budget) -> Result<Hits, StoreError> {
        let stopped = |e: TantivyError| match budget.stop() {
            Some(why) => StoreError::Aborted(why),
            None => err(e),
        };
        let f = self.f;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(
            Occur::Must,
            Box::new(TermQuery::new(Term::from_field_text(f.kind, r.kind.as_str()), IndexRecordOption::Basic)),
        )];
        let q = match &r.q {
            Some(text) => self.text_query(text)?,
            None => None,
        };
        let ranked = q.is_some();
        if let Some(q) = q {
            clauses.push((Occur::Must, q));
        }
        for (name, value) in &r.filters {
            let field = self.filter_field(name).ok_or_else(|| StoreError::Config(format!("unknown filter {name}")))?;
            let value = if matches!(*name, "city" | "country") { value.to_lowercase() } else { value.clone() };
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(Term::from_field_text(field, &value), IndexRecordOption::Basic)),
            ));
        }
        if r.price_min.is_some() || r.price_max.is_some() {
            let lo = r.price_min.map_or(Bound::Unbounded, |v| Bound::Included(Term::from_field_i64(f.price, v)));
            let hi = r.price_max.map_or(Bound::Unbounded, |v| Bound::Included(Term::from_field_i64(f.price, v)));
            clauses.push((Occur::Must, Box::new(RangeQuery::new(lo, hi))));
        }
        let query: Box<dyn Query> =
            if clauses.is_empty() { Box::new(AllQuery) } else { Box::new(BooleanQuery::new(clauses)) };
        let searcher = self.reader.searcher();
        let offset = r.offset.min(MAX_OFFSET);
        let limit = r.limit.max(1);
        let top = TopDocs::with_limit(limit).and_offset(offset);
        let sort = match (r.sort, ranked) {
            (Sort::Relevance, false) => Sort::Newest,
            (s, _) => s,
        };
        let (addresses, total) = match sort {
            Sort::Relevance => {
                let (docs, n) =
                    searcher.search(&query, &budgeted(budget, (top.order_by_score(), Count))).map_err(stopped)?;
                (docs.into_iter().map(|(_, a)| a).collect::<Vec<_>>(), n)
            }
            Sort::PriceAsc | Sort::PriceDesc | Sort::Newest | Sort::Oldest => {
                let (field, order) = match sort {
                    Sort::PriceAsc => ("price", TOrder::Asc),
                    Sort::PriceDesc => ("price", TOrder::Desc),
                    Sort::Newest => ("created", TOrder::Desc),
                    _ => ("created", TOrder::Asc),
                };
                let (docs, n) = searcher
                    .search(&query, &budgeted(budget, (top.order_by_fast_field::<i64>(field, order), Count)))
                    .map_err(stopped)?;
                (docs.into_iter().map(|(_, a)| a).collect(), n)
            }
            Sort::Rating => {
                let (docs, n) = searcher
                    .search(&query, &budgeted(budget, (top.order_by_fast_field::<f64>("rating", TOrder::Desc), Count)))
                    .map_err(stopped)?;
                (docs.into_iter().map(|(_, a)| a).collect(), n)
            }
            Sort::Popularity | Sort::CompletedJobs => {
                let field = if sort == Sort::Popularity { "popularity" } else { "completed_jobs" };
                let (docs, n) = searcher
                    .search(&query, &budgeted(budget, (top.order_by_fast_field::<u64>(field, TOrder::Desc), Count)))
                    .map_err(stopped)?;
                (docs.into_iter().map(|(_, a)| a).collect(), n)
            }
        };
        let prefix = format!("{}:", r.kind.as_str());
        let mut ids = Vec::with_capacity(addresses.len());
        for a in addresses {
            let d: TantivyDocument = searcher.doc(a).map_err(err)?;
            if let Some(key) = d.get_first(f.id).and_then(|v| v.as_str()) {
                ids.push(key.strip_prefix(&prefix).unwrap_or(key).to_string());
            }
        }
        let next = offset + ids.len();
        let next_offset = (next < total && next < MAX_OFFSET && !ids.is_empty()).then_some(next);
        Ok(Hits { ids, total, next_offset })
    }
}

/// Search cursors are opaque: the URL-safe base64 of the next offset.
pub fn encode_offset(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("o:{offset}"))
}

pub fn decode_offset(cursor: &str) -> Result<usize, StoreError> {
    let bytes =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| StoreError::InvalidCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| StoreError::InvalidCursor)?;
    text.strip_prefix("o:").and_then(|n| n.parse().ok()).filter(|n| *n <= MAX_OFFSET).ok_or(StoreError::InvalidCursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(id: &str, title: &str, price: i64, cat: &[&str], created: i64) -> Doc {
        Doc {
            id: id.into(),
            title: title.into(),
            body: format!("{title} for your home"),
            owner: "p1".into(),
            categories: cat.iter().map(|c| c.to_string()).collect(),
            price,
            created,
            ..Doc::default()
        }
    }

    fn req(q: Option<&str>) -> SearchRequest {
        SearchRequest {
            kind: Kind::Service,
            q: q.and_then(|q| SearchText::parse(q).expect("valid query")),
            filters: vec![],
            price_min: None,
            price_max: None,
            sort: Sort::Relevance,
            offset: 0,
            limit: 10,
        }
    }

    #[test]
    fn stems_filters_ranges_sorts_and_pages() {
        let idx = SearchIndex::new().expect("index");
        idx.upsert(
            Kind::Service,
            &[
                svc("a", "Plumbing repairs", 5000, &["home", "home/plumbing"], 1),
                svc("b", "Garden cleaning", 3000, &["home", "home/garden"], 2),
                svc("c", "Pipe plumber on call", 9000, &["home", "home/plumbing"], 3),
            ],
        )
        .expect("upsert");
        idx.upsert(Kind::Job, &[Doc { id: "j".into(), title: "Plumbing job".into(), ..Doc::default() }]).expect("job");
        // "plumbing" finds "plumbing"; "repair" matches "repairs" (stemmed).
        let hits = idx.search(&req(Some("repair"))).expect("search");
        assert_eq!(hits.ids, vec!["a"]);
        let hits = idx.search(&req(Some("plumbing"))).expect("search");
        assert_eq!(hits.ids, vec!["a"], "kinds never mix");
        let mut r = req(None);
        r.filters = vec![("category", "home/plumbing".into())];
        r.sort = Sort::PriceDesc;
        assert_eq!(idx.search(&r).expect("search").ids, vec!["c", "a"]);
        let mut r = req(None);
        r.filters = vec![("category", "home".into())];
        r.price_min = Some(4000);
        r.sort = Sort::PriceAsc;
        assert_eq!(idx.search(&r).expect("search").ids, vec!["a", "c"], "subcategories included, range applied");
        let mut r = req(None);
        r.limit = 2;
        let p1 = idx.search(&r).expect("page 1");
        assert_eq!((p1.ids.clone(), p1.total, p1.next_offset), (vec!["c".to_string(), "b".to_string()], 3, Some(2)));
        r.offset = 2;
        let p2 = idx.search(&r).expect("page 2");
        assert_eq!((p2.ids, p2.next_offset), (vec!["a".to_string()], None));
        // Replace and remove.
        idx.upsert(Kind::Service, &[svc("a", "Roof work", 5000, &["home"], 1)]).expect("replace");
        assert!(idx.search(&req(Some("plumbing"))).expect("search").ids.is_empty());
        idx.remove(Kind::Service, "b").expect("remove");
        assert_eq!(idx.search(&req(None)).expect("search").total, 2);
        assert_eq!(decode_offset(&encode_offset(40)).expect("cursor"), 40);
        assert!(decode_offset("garbage").is_err());
    }

    #[test]
    fn user_text_is_words_and_exact_phrases_with_title_boost() {
        let idx = SearchIndex::new().expect("index");
        idx.upsert(
            Kind::Service,
            &[
                svc("a", "Pipe plumber", 5000, &[], 1),
                Doc { id: "b".into(), title: "Roofing".into(), body: "plumber with a pipe".into(), ..Doc::default() },
                Doc { id: "c".into(), title: "Title".into(), body: "nothing else".into(), ..Doc::default() },
            ],
        )
        .expect("upsert");
        let ids = |q: &str| idx.search(&req(Some(q))).expect("search").ids;
        // A word matches title or body; the title match ranks first.
        assert_eq!(ids("plumbers"), vec!["a", "b"]);
        // A phrase needs its words adjacent and in order: no slop, whatever the text says.
        assert_eq!(ids("\"pipe plumber\""), vec!["a"]);
        assert_eq!(ids("\"plumber pipe\"~100"), Vec::<String>::new());
        // Field syntax and wildcards are words, never field queries (no `title:*` match-all).
        assert_eq!(ids("title:*"), vec!["c"]);
        assert_eq!(ids("body:nothing"), Vec::<String>::new(), "conjunction: 'body' and 'nothing'");
        // Operators are ignored, not applied.
        assert_eq!(ids("pipe OR roofing"), vec!["b"]);
        assert_eq!(ids("pipe -plumber"), vec!["a", "b"]);
    }

    #[test]
    fn a_search_stops_when_its_budget_is_spent_or_cancelled() {
        let idx = SearchIndex::new().expect("index");
        let docs: Vec<Doc> = (0..2000).map(|i| svc(&i.to_string(), "garden work", 100, &[], i)).collect();
        idx.upsert(Kind::Service, &docs).expect("upsert");
        let r = req(Some("garden"));
        assert_eq!(idx.search_within(&r, &Budget::new(Duration::from_secs(60))).expect("in budget").total, 2000);
        let spent = Budget::new(Duration::ZERO);
        assert!(matches!(idx.search_within(&r, &spent), Err(StoreError::Aborted("over its time budget"))));
        let budget = Budget::new(Duration::from_secs(60));
        drop(budget.cancel_on_drop());
        assert!(matches!(idx.search_within(&r, &budget), Err(StoreError::Aborted("the caller went away"))));
        let mut sorted = req(None);
        sorted.sort = Sort::PriceAsc;
        assert!(matches!(idx.search_within(&sorted, &spent), Err(StoreError::Aborted(_))), "every sort is budgeted");
    }
}
