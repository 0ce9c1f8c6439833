//! The catalog search index (tantivy, in memory): services, jobs and provider profiles,
//! with ranked full-text search that tolerates word forms (English stemming), exact
//! filters, a price range and sort orders. It is a read model: fed by catalog changes
//! and rebuilt from storage at start-up ([`SearchIndex::rebuild`]). Blocking work
//! (commits) belongs on a blocking thread; callers use `spawn_blocking`.

use std::ops::Bound;
use std::sync::Mutex;

use base64::Engine as _;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, QueryParser, RangeQuery, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, Value as _, STORED, STRING,
};
use tantivy::{doc, Index, IndexReader, IndexWriter, Order as TOrder, ReloadPolicy, TantivyDocument, Term};

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
    pub q: Option<String>,
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

    /// Runs a search. Blocking (but cheap).
    pub fn search(&self, r: &SearchRequest) -> Result<Hits, StoreError> {
        let f = self.f;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(
            Occur::Must,
            Box::new(TermQuery::new(Term::from_field_text(f.kind, r.kind.as_str()), IndexRecordOption::Basic)),
        )];
        let q = r.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
        if let Some(q) = q {
            let mut parser = QueryParser::for_index(&self.index, vec![f.title, f.body]);
            parser.set_field_boost(f.title, 2.0);
            parser.set_conjunction_by_default();
            let (parsed, _) = parser.parse_query_lenient(q);
            clauses.push((Occur::Must, parsed));
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
        let sort = match (r.sort, q) {
            (Sort::Relevance, None) => Sort::Newest,
            (s, _) => s,
        };
        let (addresses, total) = match sort {
            Sort::Relevance => {
                let (docs, n) = searcher.search(&query, &(top.order_by_score(), Count)).map_err(err)?;
                (docs.into_iter().map(|(_, a)| a).collect::<Vec<_>>(), n)
            }
            Sort::PriceAsc | Sort::PriceDesc | Sort::Newest | Sort::Oldest => {
                let (field, order) = match sort {
                    Sort::PriceAsc => ("price", TOrder::Asc),
                    Sort::PriceDesc => ("price", TOrder::Desc),
                    Sort::Newest => ("created", TOrder::Desc),
                    _ => ("created", TOrder::Asc),
                };
                let (docs, n) =
                    searcher.search(&query, &(top.order_by_fast_field::<i64>(field, order), Count)).map_err(err)?;
                (docs.into_iter().map(|(_, a)| a).collect(), n)
            }
            Sort::Rating => {
                let (docs, n) = searcher
                    .search(&query, &(top.order_by_fast_field::<f64>("rating", TOrder::Desc), Count))
                    .map_err(err)?;
                (docs.into_iter().map(|(_, a)| a).collect(), n)
            }
            Sort::Popularity | Sort::CompletedJobs => {
                let field = if sort == Sort::Popularity { "popularity" } else { "completed_jobs" };
                let (docs, n) = searcher
                    .search(&query, &(top.order_by_fast_field::<u64>(field, TOrder::Desc), Count))
                    .map_err(err)?;
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
            q: q.map(str::to_string),
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
}
