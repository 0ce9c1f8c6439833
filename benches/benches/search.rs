//! The catalog search index (`agora_storage::search::SearchIndex`, tantivy in memory) on
//! its own, without HTTP or storage.
//!
//! Run: `cargo bench -p agora-benches --bench search` (group settings keep it short; add
//! `-- --warm-up-time 1 --measurement-time 5` to override).
//!
//! The index holds [`SERVICES`] generated service documents (built once, deterministic:
//! titles and bodies from a small trade vocabulary, 12 categories under 4 parents, 8 cities,
//! prices from 10.00 to 500.00, distinct creation times), indexed in batches of 500 like a
//! start-up rebuild.
//!
//! - `search/q_ranked`: a one- or two-word full-text query (rotating over [`QUERIES`]),
//!   ranked by relevance, first page of 20; the query is stemmed and matches title (boost 2)
//!   and body.
//! - `search/filtered_sorted`: no text; a parent category filter (so its subcategories too),
//!   a city filter and a price range, sorted by price ascending, first page of 20: the
//!   shape of `GET /api/services?category=..&price_min=..&price_max=..&ordering=price`, with
//!   one more exact filter.
//! - `search/upsert_one`: replaces one existing document (rotating over all of them) and
//!   makes it visible: delete term, add, commit, reader reload. This is the cost of every
//!   catalog write on the index.
//!
//! Each iteration is one operation, so criterion's time is the latency of one call and
//! its throughput (elements) is calls per second on one thread.

use std::hint::black_box;
use std::time::Duration;

use agora_storage::search::{Doc, Hits, Kind, SearchIndex, SearchRequest, Sort};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Service documents in the index.
const SERVICES: usize = 5_000;
/// Documents per `upsert` call while building the index.
const BUILD_BATCH: usize = 500;
/// Page size, as the catalog endpoints' usual `limit=20`.
const PAGE: usize = 20;

const TRADES: [&str; 24] = [
    "plumbing",
    "cleaning",
    "garden",
    "painting",
    "electrical",
    "moving",
    "tutoring",
    "photography",
    "carpentry",
    "roofing",
    "tiling",
    "catering",
    "babysitting",
    "translation",
    "accounting",
    "design",
    "massage",
    "hairdressing",
    "locksmith",
    "welding",
    "upholstery",
    "landscaping",
    "bookkeeping",
    "yoga",
];
const ADJECTIVES: [&str; 10] =
    ["fast", "affordable", "professional", "weekend", "emergency", "eco", "certified", "friendly", "local", "premium"];
const NOUNS: [&str; 10] =
    ["repair", "installation", "service", "lessons", "help", "cleanup", "maintenance", "work", "session", "advice"];
const CITIES: [&str; 8] = ["Berlin", "Paris", "Madrid", "Lisbon", "Vienna", "Prague", "Warsaw", "Rome"];
const PARENTS: [&str; 4] = ["home", "events", "learning", "business"];
/// Full-text queries for `q_ranked`, used in turn (stemmed words, some two-word conjunctions).
const QUERIES: [&str; 8] = [
    "plumbing",
    "repairs",
    "garden cleanup",
    "painting",
    "emergency electrical",
    "lessons",
    "certified",
    "moving help",
];

/// A small deterministic generator (SplitMix64), so every run indexes the same documents.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// Service document `i`: the category is `<parent>/<sub>`, with the parent listed too (as
/// the catalog indexes a category and all its ancestors).
fn service_doc(rng: &mut Rng, i: usize) -> Doc {
    let trade = rng.pick(&TRADES);
    let title = format!("{} {trade} {}", rng.pick(&ADJECTIVES), rng.pick(&NOUNS));
    let body = format!(
        "{title} in {city}. {} {} and {} {}, booked by the hour; {} {} on request.",
        rng.pick(&ADJECTIVES),
        rng.pick(&TRADES),
        rng.pick(&ADJECTIVES),
        rng.pick(&NOUNS),
        rng.pick(&TRADES),
        rng.pick(&NOUNS),
        city = CITIES[i % CITIES.len()],
    );
    let parent = PARENTS[i % PARENTS.len()];
    let sub = format!("{parent}/sub{}", (i / PARENTS.len()) % 3);
    Doc {
        id: format!("svc-{i:05}"),
        title,
        body,
        owner: format!("provider-{:02}", i % 50),
        categories: vec![parent.to_string(), sub],
        city: CITIES[i % CITIES.len()].to_string(),
        country: "EU".to_string(),
        price: 1_000 + (rng.next() % 49_001) as i64,
        created: 1_700_000_000 + i as i64 * 60,
        rating: (rng.next() % 50) as f64 / 10.0,
        popularity: rng.next() % 1_000,
        ..Doc::default()
    }
}

fn build_index() -> (SearchIndex, Vec<Doc>) {
    let index = SearchIndex::new().expect("create the search index");
    let mut rng = Rng(42);
    let docs: Vec<Doc> = (0..SERVICES).map(|i| service_doc(&mut rng, i)).collect();
    for batch in docs.chunks(BUILD_BATCH) {
        index.upsert(Kind::Service, batch).expect("index a batch of services");
    }
    (index, docs)
}

fn request(q: Option<&str>) -> SearchRequest {
    SearchRequest {
        kind: Kind::Service,
        q: q.and_then(|q| agora_storage::search::SearchText::parse(q).expect("valid query")),
        filters: Vec::new(),
        price_min: None,
        price_max: None,
        sort: Sort::Relevance,
        offset: 0,
        limit: PAGE,
    }
}

fn filtered_request() -> SearchRequest {
    SearchRequest {
        filters: vec![("category", "home".to_string()), ("city", "berlin".to_string())],
        price_min: Some(5_000),
        price_max: Some(40_000),
        sort: Sort::PriceAsc,
        ..request(None)
    }
}

fn search_index(c: &mut Criterion) {
    let (index, docs) = build_index();
    // The workload must find something, or the figures measure empty result sets.
    for q in QUERIES {
        let hits = index.search(&request(Some(q))).expect("search");
        assert!(!hits.ids.is_empty(), "query {q:?} finds nothing in the generated documents");
    }
    let filtered = index.search(&filtered_request()).expect("filtered search");
    assert!(filtered.total >= PAGE, "the filtered search finds only {} documents", filtered.total);
    eprintln!("search bench: {SERVICES} services indexed; the filtered search matches {} of them", filtered.total);

    let mut group = c.benchmark_group("search");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(1));

    let requests: Vec<SearchRequest> = QUERIES.iter().map(|q| request(Some(q))).collect();
    let mut turn = 0usize;
    group.bench_function("q_ranked", |b| {
        b.iter(|| {
            let r = &requests[turn % requests.len()];
            turn += 1;
            let hits: Hits = index.search(r).expect("ranked search");
            black_box(hits)
        })
    });

    let filtered = filtered_request();
    group
        .bench_function("filtered_sorted", |b| b.iter(|| black_box(index.search(&filtered).expect("filtered search"))));

    let mut next = 0usize;
    group.bench_function("upsert_one", |b| {
        b.iter(|| {
            let mut doc = docs[next % docs.len()].clone();
            next += 1;
            doc.popularity += 1;
            index.upsert(Kind::Service, std::slice::from_ref(&doc)).expect("upsert one service");
        })
    });
    group.finish();
}

criterion_group!(benches, search_index);
criterion_main!(benches);
