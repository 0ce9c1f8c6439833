//! `agora seed`: fills an empty data dir with a realistic demo marketplace.
//!
//! Everything is planned in memory first from a fixed-seed PRNG (names, texts, prices,
//! who proposes on what, which proposals become contracts, what people say in their
//! conversations), so the same counts always give the same demo. Then the plan is sent
//! through the marketplace commands the routes send (`CreateCategory`, `CreateProvider`,
//! `CreateService`, `PostJob`, `Propose`, `Accept`, `ChangeContractStatus`, `PostReview`,
//! `SetLike`, `FundMilestone`, ...) on the same actors `agora serve` starts, each with its planned
//! (back-dated) time, many at a time so the SQLite group commit batches them. The commands
//! mint the ids (fresh UUID v7 on every run) and publish their events, so notifications,
//! ratings and counters come from the subscribers, as they do for real traffic.
//! Accounts and conversations go through the store (they are not marketplace commands).
//! Clients who hire save the sandbox test card 4242 4242 4242 4242 and fund their contracts
//! with it (funding is what starts a contract), so the demo's wallets and ledger hold the
//! escrow, releases and fees of that story.
//! One argon2id hash of the demo password serves every account.
//!
//! Only the times (relative to now) and the ids differ between two runs. Notifications are
//! stamped when the broker stores them (the seed's run), not at the planned times.
//!
//! The search index the seed's actors keep is discarded: the server rebuilds it from
//! storage at start-up.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::time::Instant;

use actix::Addr;
use agora_actors::broker::Drained;
use agora_actors::gateway::PaymentGateway;
use agora_actors::mail::Mailer;
use agora_actors::market::catalog::providers::{CreateProvider, ProfileFields, UpdateProvider};
use agora_actors::market::catalog::services::{CreateService, ServiceFields, SetLike};
use agora_actors::market::catalog::{CreateCategory, CreateSkill};
use agora_actors::market::contracts::ChangeContractStatus;
use agora_actors::market::jobs::{Accept, EditJob, PostJob, Propose, Withdraw};
use agora_actors::market::milestones::FundMilestone;
use agora_actors::market::reviews::PostReview;
use agora_actors::market::{Caller, Command, Market};
use agora_actors::Hub;
use agora_engine::card::CardInput;
use agora_engine::job::{JobEdit, NewJob};
use agora_engine::market::{tags as normalize_tags, Availability, JobStatus, ProposalStatus, SkillLevel};
use agora_engine::{
    CategoryId, ContractActor, ContractId, ContractStatus, ConversationId, DomainError, Email, JobId, MessageId, Money,
    NewConversation, Password, PaymentMethodId, ProposalId, ProviderId, ReviewId, Role, ServiceId, SkillId, UserId,
    Username,
};
use agora_storage::chat::{Message, ReadCursor};
use agora_storage::market::{
    Category, Contract, Engagement, Job, Proposal, Provider, ProviderSkill, Review, Service, Skill,
};
use agora_storage::payments::PaymentMethod;
use agora_storage::{NewUser, Store};
use futures_util::{StreamExt as _, TryStreamExt as _};
use rand::rngs::StdRng;
use rand::seq::SliceRandom as _;
use rand::{Rng as _, SeedableRng as _};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::auth::PasswordHasher;
use crate::config::{Settings, StorageKind};
use crate::startup::open_store;

/// The password of every demo account.
pub const DEMO_PASSWORD: &str = "agora demo password 1";
/// Demo accounts are `provider<N>@demo.agora` and `client<N>@demo.agora`.
pub const DEMO_DOMAIN: &str = "demo.agora";

/// The PRNG seed: change it and the whole demo changes.
const SEED: u64 = 0x5eed_a60a;
/// Store calls in flight at once (the SQLite writer commits them in groups).
const CONCURRENCY: usize = 64;

/// `agora seed` options.
#[derive(Debug, Clone, clap::Args)]
pub struct SeedArgs {
    /// Provider accounts, each with a provider profile.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub providers: u32,
    /// Services offered by the providers.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(0..=200_000))]
    pub services: u32,
    /// Jobs posted by the clients (about one in ten gets a contract, at most 20).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub jobs: u32,
    /// Client accounts.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub clients: u32,
    /// Direct conversations between clients and providers, 3 to 10 messages each (at most
    /// one per client/provider pair).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub conversations: u32,
}

impl Default for SeedArgs {
    fn default() -> Self {
        SeedArgs { providers: 50, services: 500, jobs: 200, clients: 40, conversations: 60 }
    }
}

/// The long help of `agora seed`.
pub const ABOUT: &str = "Fill an empty data dir with a demo marketplace: providers with profiles and services, \
clients with jobs, proposals, contracts in every stage with their history, reviews, likes, conversations with \
messages, and notifications. Uses the same settings as `serve` (--config, AGORA_DATA_DIR, AGORA_STORAGE, ...). \
The same counts always give the same demo.\n\n\
Refuses (exit status 1) when the storage already has any account, so it never mixes demo data into real data: \
point AGORA_DATA_DIR at a new directory, or delete the old one, to seed again.\n\n\
Every demo account uses the password \"agora demo password 1\": provider1@demo.agora .. providerN@demo.agora \
and client1@demo.agora .. clientN@demo.agora (usernames provider1, client1, ...).";

// ---------------------------------------------------------------------------------------
// Catalog content

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Work {
    /// At the client's place.
    Onsite,
    /// Delivered remotely.
    Remote,
    /// Lessons.
    Lesson,
}

/// One leaf category and everything written about it.
struct Leaf {
    parent: &'static str,
    name: &'static str,
    profession: &'static str,
    work: Work,
    skills: &'static [&'static str],
    services: &'static [&'static str],
    jobs: &'static [&'static str],
    /// The first tag is always used.
    tags: &'static [&'static str],
    /// First-person sentences for bios and service descriptions.
    pitch: &'static [&'static str],
    /// Service prices, USD cents.
    price: (i64, i64),
    /// Hourly rates, USD cents.
    rate: (i64, i64),
    /// Service durations, minutes.
    durations: &'static [u32],
}

const PARENTS: [&str; 5] = ["Home", "Design", "Writing", "Tech", "Lessons"];

const DAY: u32 = 24 * 60;

const LEAVES: &[Leaf] = &[
    Leaf {
        parent: "Home",
        name: "Plumbing",
        profession: "plumber",
        work: Work::Onsite,
        skills: &["Pipe repair", "Boiler installation"],
        services: &[
            "Leaking tap and pipe repair",
            "Boiler installation and servicing",
            "Bathroom plumbing installation",
            "Blocked drain clearing",
            "Emergency plumbing call-out",
            "Water heater replacement",
        ],
        jobs: &[
            "Fix a leaking kitchen sink",
            "Replace an old water heater",
            "Install a new shower and mixer tap",
            "Unblock a slow bathroom drain",
            "Move radiator pipes during a renovation",
        ],
        tags: &["plumbing", "repair", "emergency", "bathroom", "kitchen", "boiler"],
        pitch: &[
            "I handle everything from dripping taps to full bathroom installations.",
            "Most repairs are done in one visit: I carry the common parts in my van.",
        ],
        price: (6_000, 45_000),
        rate: (4_500, 9_000),
        durations: &[60, 90, 120, 180, 240],
    },
    Leaf {
        parent: "Home",
        name: "Electrical",
        profession: "electrician",
        work: Work::Onsite,
        skills: &["Electrical wiring", "Lighting installation"],
        services: &[
            "Home rewiring and fuse box upgrades",
            "Light fixture installation",
            "EV charger installation",
            "Electrical safety inspection",
            "Smart home wiring",
            "Socket and switch replacement",
        ],
        jobs: &[
            "Install pendant lights in the living room",
            "Add outdoor sockets to the garden",
            "Electrical safety check before selling a flat",
            "Install a home EV charger",
            "Replace an old fuse box",
        ],
        tags: &["electrical", "wiring", "lighting", "safety", "ev charger", "smart home"],
        pitch: &[
            "Certified electrician for homes and small offices, from a single socket to a full rewire.",
            "Safety first: every job ends with a test and a written certificate.",
        ],
        price: (8_000, 120_000),
        rate: (5_000, 10_000),
        durations: &[60, 120, 180, 240, 480],
    },
    Leaf {
        parent: "Home",
        name: "Cleaning",
        profession: "cleaner",
        work: Work::Onsite,
        skills: &["Deep cleaning", "Carpet cleaning"],
        services: &[
            "Deep cleaning for apartments",
            "End of tenancy cleaning",
            "Weekly home cleaning",
            "Carpet and upholstery cleaning",
            "Window cleaning",
            "Post-renovation clean-up",
        ],
        jobs: &[
            "End of tenancy clean for a two-bedroom flat",
            "Weekly cleaning for a family home",
            "Deep clean after a renovation",
            "Carpet cleaning for three rooms",
        ],
        tags: &["cleaning", "home", "eco-friendly", "deep clean", "carpet", "weekly"],
        pitch: &[
            "I use eco-friendly products and bring all the equipment.",
            "Detail-oriented cleaning that landlords and tenants both sign off on.",
        ],
        price: (4_000, 30_000),
        rate: (2_000, 4_000),
        durations: &[120, 180, 240, 360],
    },
    Leaf {
        parent: "Home",
        name: "Gardening",
        profession: "gardener",
        work: Work::Onsite,
        skills: &["Garden design", "Lawn care"],
        services: &[
            "Lawn mowing and edging",
            "Hedge trimming and pruning",
            "Garden design consultation",
            "Seasonal garden clean-up",
            "Vegetable bed planting",
        ],
        jobs: &[
            "Tidy up an overgrown back garden",
            "Design a small courtyard garden",
            "Trim a long hedge",
            "Regular lawn care over the summer",
        ],
        tags: &["gardening", "lawn", "hedge", "outdoor", "landscaping"],
        pitch: &[
            "I turn overgrown gardens into spaces you want to spend time in.",
            "Regular maintenance or one-off makeovers, green waste removal included.",
        ],
        price: (3_500, 40_000),
        rate: (2_500, 5_000),
        durations: &[60, 120, 240, 480],
    },
    Leaf {
        parent: "Design",
        name: "Logo",
        profession: "logo designer",
        work: Work::Remote,
        skills: &["Logo design", "Brand identity"],
        services: &[
            "Custom logo design with three concepts",
            "Complete brand identity package",
            "Logo refresh for an existing brand",
            "Minimalist wordmark logo",
            "Business card and stationery design",
        ],
        jobs: &[
            "Logo for a new coffee shop",
            "Brand identity for a fintech startup",
            "Refresh the logo of a family bakery",
            "Logo and business cards for a consultancy",
        ],
        tags: &["logo", "branding", "identity", "vector", "minimalist"],
        pitch: &[
            "I design simple, memorable logos that work from favicon to billboard.",
            "Every logo comes with vector files and a short usage guide.",
        ],
        price: (15_000, 150_000),
        rate: (3_000, 9_000),
        durations: &[DAY, 2 * DAY, 3 * DAY, 7 * DAY],
    },
    Leaf {
        parent: "Design",
        name: "Web design",
        profession: "web designer",
        work: Work::Remote,
        skills: &["UI design", "Figma"],
        services: &[
            "Landing page design in Figma",
            "Website redesign",
            "UI kit and design system",
            "E-commerce store design",
            "Mobile-first UX audit",
        ],
        jobs: &[
            "Design a landing page for a product launch",
            "Redesign our company website",
            "UX review of a checkout flow",
            "Figma design system for a SaaS app",
        ],
        tags: &["web design", "ui", "ux", "figma", "landing page", "responsive"],
        pitch: &[
            "I design clean, accessible interfaces in Figma, ready for developers.",
            "Good design starts with your users: every project begins with a short UX review.",
        ],
        price: (25_000, 250_000),
        rate: (4_000, 12_000),
        durations: &[DAY, 3 * DAY, 7 * DAY],
    },
    Leaf {
        parent: "Design",
        name: "Illustration",
        profession: "illustrator",
        work: Work::Remote,
        skills: &["Digital illustration", "Adobe Illustrator"],
        services: &[
            "Children's book illustrations",
            "Custom portrait illustration",
            "Editorial illustration for articles",
            "Icon set design",
            "Hand-drawn map illustration",
        ],
        jobs: &[
            "Illustrations for a picture book",
            "Set of 20 custom icons for an app",
            "Editorial illustration for a magazine feature",
        ],
        tags: &["illustration", "drawing", "icons", "digital art", "portrait"],
        pitch: &[
            "Warm, hand-drawn style illustrations, delivered as print-ready files.",
            "From quick sketches to final colour, you see progress at every step.",
        ],
        price: (8_000, 200_000),
        rate: (3_000, 8_000),
        durations: &[DAY, 2 * DAY, 3 * DAY, 7 * DAY],
    },
    Leaf {
        parent: "Writing",
        name: "Copywriting",
        profession: "copywriter",
        work: Work::Remote,
        skills: &["Copywriting", "SEO writing"],
        services: &[
            "SEO blog articles",
            "Website copy that converts",
            "Product descriptions for online shops",
            "Email newsletter writing",
            "LinkedIn profile rewrite",
        ],
        jobs: &[
            "Write copy for a new SaaS homepage",
            "Ten SEO blog posts about home fitness",
            "Product descriptions for 50 items",
            "Monthly newsletter for a nonprofit",
        ],
        tags: &["copywriting", "seo", "blog", "content", "marketing"],
        pitch: &[
            "I write clear copy that sounds like you and ranks on search engines.",
            "Conversion-focused writing backed by research into your audience.",
        ],
        price: (5_000, 80_000),
        rate: (3_000, 8_000),
        durations: &[DAY, 2 * DAY, 3 * DAY],
    },
    Leaf {
        parent: "Writing",
        name: "Translation",
        profession: "translator",
        work: Work::Remote,
        skills: &["Spanish translation", "French translation", "German translation"],
        services: &[
            "English to Spanish translation",
            "French to English document translation",
            "Certified translation of official documents",
            "Website localization",
            "German technical translation",
        ],
        jobs: &[
            "Translate a website into Spanish",
            "Certified translation of a birth certificate",
            "Localize a mobile app into French and German",
            "Translate a 20-page user manual",
        ],
        tags: &["translation", "spanish", "french", "german", "localization", "certified"],
        pitch: &[
            "Native-level translations that read naturally, not word for word.",
            "Sworn translator for official documents, accepted by embassies and universities.",
        ],
        price: (3_000, 60_000),
        rate: (2_500, 7_000),
        durations: &[DAY, 2 * DAY, 3 * DAY],
    },
    Leaf {
        parent: "Writing",
        name: "Editing",
        profession: "editor",
        work: Work::Remote,
        skills: &["Proofreading"],
        services: &[
            "Proofreading and copy editing",
            "Academic thesis editing",
            "Manuscript developmental edit",
            "CV and cover letter polish",
        ],
        jobs: &["Proofread a 60,000-word novel", "Edit a master's thesis", "Polish a grant application"],
        tags: &["editing", "proofreading", "academic", "manuscript", "cv"],
        pitch: &[
            "Careful proofreading that catches what spell-checkers miss.",
            "I help authors and students make their writing clearer and tighter.",
        ],
        price: (4_000, 90_000),
        rate: (2_500, 6_000),
        durations: &[DAY, 3 * DAY, 7 * DAY],
    },
    Leaf {
        parent: "Tech",
        name: "Web development",
        profession: "web developer",
        work: Work::Remote,
        skills: &["React", "Rust", "Node.js", "WordPress"],
        services: &[
            "WordPress website build",
            "React single-page application",
            "Fast REST API in Rust",
            "Website speed optimisation",
            "Shopify store setup",
            "Bug fixing and maintenance",
        ],
        jobs: &[
            "Build a booking website for a yoga studio",
            "Fix bugs in a React dashboard",
            "Migrate a WordPress site to a new host",
            "Build a REST API for a mobile app",
            "Speed up a slow online shop",
        ],
        tags: &["web development", "react", "rust", "wordpress", "api", "javascript"],
        pitch: &[
            "Full-stack developer building fast, maintainable websites and APIs.",
            "I write tested code and hand over everything: repository, docs and deployment.",
        ],
        price: (20_000, 500_000),
        rate: (5_000, 15_000),
        durations: &[480, DAY, 3 * DAY, 7 * DAY],
    },
    Leaf {
        parent: "Tech",
        name: "Mobile",
        profession: "mobile developer",
        work: Work::Remote,
        skills: &["iOS development", "Android development", "Flutter"],
        services: &[
            "iOS app development",
            "Android app development",
            "Cross-platform app in Flutter",
            "App Store submission help",
            "Mobile app bug fixing",
        ],
        jobs: &[
            "Build an iOS app for a local gym",
            "Flutter app for restaurant ordering",
            "Fix crashes in an Android app",
            "Publish an app to the App Store",
        ],
        tags: &["mobile", "ios", "android", "flutter", "app"],
        pitch: &[
            "I build native and cross-platform apps that feel at home on every phone.",
            "From prototype to App Store release, with crash reporting set up from day one.",
        ],
        price: (30_000, 600_000),
        rate: (6_000, 15_000),
        durations: &[DAY, 3 * DAY, 7 * DAY],
    },
    Leaf {
        parent: "Tech",
        name: "Data",
        profession: "data analyst",
        work: Work::Remote,
        skills: &["Python", "SQL", "Data visualization"],
        services: &[
            "Data analysis in Python",
            "SQL reporting and dashboards",
            "Excel automation and cleanup",
            "Machine learning prototype",
            "Power BI dashboard",
        ],
        jobs: &[
            "Sales dashboard from our SQL database",
            "Clean and analyse survey results",
            "Forecast monthly demand with Python",
            "Automate a weekly Excel report",
        ],
        tags: &["data", "python", "sql", "dashboard", "analytics", "excel"],
        pitch: &[
            "I turn messy spreadsheets and databases into clear answers.",
            "Dashboards and analyses in Python and SQL, explained in plain language.",
        ],
        price: (15_000, 300_000),
        rate: (5_000, 14_000),
        durations: &[480, DAY, 3 * DAY, 7 * DAY],
    },
    Leaf {
        parent: "Lessons",
        name: "Music",
        profession: "music teacher",
        work: Work::Lesson,
        skills: &["Piano", "Guitar"],
        services: &[
            "Piano lessons for beginners",
            "Guitar lessons for all levels",
            "Music theory tutoring",
            "Singing lessons",
            "Drum lessons",
        ],
        jobs: &[
            "Weekly piano lessons for my daughter",
            "Guitar teacher for an adult beginner",
            "Singing coach before an audition",
        ],
        tags: &["music", "piano", "guitar", "lessons", "singing"],
        pitch: &[
            "Patient, encouraging lessons for complete beginners and returning players.",
            "Learn the songs you love while building solid technique and theory.",
        ],
        price: (2_500, 9_000),
        rate: (2_500, 8_000),
        durations: &[30, 45, 60, 90],
    },
    Leaf {
        parent: "Lessons",
        name: "Languages",
        profession: "language teacher",
        work: Work::Lesson,
        skills: &["English teaching", "Spanish teaching"],
        services: &[
            "Conversational English lessons",
            "Spanish for beginners",
            "IELTS exam preparation",
            "Business French coaching",
            "German grammar lessons",
        ],
        jobs: &[
            "Spanish conversation practice twice a week",
            "IELTS preparation in six weeks",
            "Business English for a sales team",
        ],
        tags: &["languages", "english", "spanish", "ielts", "conversation"],
        pitch: &[
            "Conversation-first lessons that get you speaking from the first day.",
            "Exam preparation with a clear plan and regular mock tests.",
        ],
        price: (2_000, 8_000),
        rate: (2_000, 6_000),
        durations: &[30, 45, 60, 90],
    },
    Leaf {
        parent: "Lessons",
        name: "Maths",
        profession: "maths tutor",
        work: Work::Lesson,
        skills: &["Maths tutoring", "Statistics"],
        services: &[
            "GCSE maths tutoring",
            "A-level maths and further maths",
            "University calculus help",
            "Statistics tutoring",
            "Maths homework support",
        ],
        jobs: &["Maths tutor for a Year 10 student", "Help with university statistics", "Calculus exam preparation"],
        tags: &["maths", "tutoring", "calculus", "statistics", "exam"],
        pitch: &[
            "I make maths make sense, one step at a time.",
            "Exam-focused tutoring with past papers and clear worked examples.",
        ],
        price: (2_500, 9_000),
        rate: (2_500, 7_000),
        durations: &[45, 60, 90, 120],
    },
];

const FIRST_NAMES: &[&str] = &[
    "Maria", "James", "Sofia", "Lucas", "Emma", "Noah", "Olivia", "Liam", "Ana", "Mateo", "Chloe", "Ethan", "Ines",
    "Hugo", "Mia", "Leon", "Zoe", "Daniel", "Clara", "Tomas", "Nora", "Samuel", "Elena", "Felix", "Lena", "Oscar",
    "Julia", "Adam", "Sara", "Marco", "Amira", "Kenji", "Priya", "Omar", "Freya", "Diego", "Hannah", "Ivan", "Yasmin",
    "Theo",
];

const LAST_NAMES: &[&str] = &[
    "Garcia",
    "Smith",
    "Silva",
    "Muller",
    "Rossi",
    "Dubois",
    "Kowalski",
    "Jensen",
    "Novak",
    "Fernandes",
    "Brown",
    "Martin",
    "Costa",
    "Schmidt",
    "Bianchi",
    "Lefebvre",
    "Nowak",
    "Larsen",
    "Horvat",
    "Santos",
    "Taylor",
    "Moreau",
    "Weber",
    "Romano",
    "Andersen",
    "Murphy",
    "Janssen",
    "Peeters",
    "Svoboda",
    "Lindqvist",
    "Okafor",
    "Tanaka",
    "Sharma",
    "Haddad",
    "Walsh",
    "Ortega",
    "Fischer",
    "Petrov",
    "Nakamura",
    "Byrne",
];

const CITIES: &[(&str, &str)] = &[
    ("Lisbon", "Portugal"),
    ("Porto", "Portugal"),
    ("Madrid", "Spain"),
    ("Barcelona", "Spain"),
    ("Berlin", "Germany"),
    ("Munich", "Germany"),
    ("Paris", "France"),
    ("Lyon", "France"),
    ("London", "United Kingdom"),
    ("Manchester", "United Kingdom"),
    ("Dublin", "Ireland"),
    ("Amsterdam", "Netherlands"),
    ("Rotterdam", "Netherlands"),
    ("Brussels", "Belgium"),
    ("Milan", "Italy"),
    ("Rome", "Italy"),
    ("Vienna", "Austria"),
    ("Zurich", "Switzerland"),
    ("Copenhagen", "Denmark"),
    ("Stockholm", "Sweden"),
    ("Warsaw", "Poland"),
    ("Prague", "Czech Republic"),
    ("New York", "United States"),
    ("Austin", "United States"),
    ("Toronto", "Canada"),
];

const BIO_CLOSINGS: &[&str] = &[
    "Available at short notice.",
    "Fully insured and happy to share references.",
    "I mostly work with small businesses and families.",
    "Always happy to give a free quote.",
    "Clear communication and no surprises on the invoice.",
    "I reply to messages within a few hours.",
];

const BUSINESSES: &[&str] = &[
    "small bakery",
    "yoga studio",
    "law firm",
    "two-person startup",
    "family restaurant",
    "independent bookshop",
    "dental clinic",
    "local nonprofit",
    "design agency",
    "fitness club",
];

const PLACES: &[&str] = &["flat", "house", "office", "shop", "studio"];

const JOB_DETAILS: &[&str] = &[
    "Please include a rough timeline and your price in the proposal.",
    "Experience with similar projects is a plus; please share examples.",
    "The budget is flexible for the right person.",
    "Ideally the work starts within the next two weeks.",
    "Happy to answer questions on a short call.",
    "We have a clear brief and can share it once we choose someone.",
];

const PROPOSAL_MESSAGES: &[&str] = &[
    "Hi {c}, I have done several jobs like this one and can start on {day}.",
    "Hello! I can deliver this within the deadline. My price covers everything in your description.",
    "I'd love to help with \"{title}\". I have {years} years of experience as a {profession}.",
    "Happy to take this on. Could we have a quick call to go over the details?",
    "Hi {c}, this is exactly the kind of work I do every week. References available on request.",
];

const REVIEW_COMMENTS: &[&str] = &[
    "Excellent work, on time and on budget.",
    "Very professional and friendly. Would hire again.",
    "Great communication throughout the project.",
    "Good result; a couple of small delays, but handled well.",
    "Exceeded expectations, highly recommended!",
];

const CLIENT_REVIEW_COMMENTS: &[&str] = &[
    "Clear brief and quick payment. A pleasure to work with.",
    "Friendly client, answered every question promptly.",
    "Great collaboration, would work together again.",
];

const DAYS: &[&str] = &["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/// Who speaks first in a script; they alternate after that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opener {
    Client,
    Provider,
}

/// A client asks about a service.
const SERVICE_SCRIPT: &[&str] = &[
    "Hello {p}, I saw your service \"{title}\". Is it available next week?",
    "Hi {c}! Yes, I still have a few slots next week.",
    "Great. How long does it usually take?",
    "Usually about {duration}. The listed price of {price} includes everything.",
    "Could you do {day} afternoon?",
    "{day} afternoon works for me. Shall I book it in?",
    "Yes please. Is there anything I should prepare?",
    "Nothing special, I'll bring everything I need.",
    "Perfect, thank you!",
    "You're welcome. See you on {day}!",
];

/// A client talks to the provider they are hiring.
const JOB_SCRIPT: &[&str] = &[
    "Hi {p}, thanks for your proposal on \"{title}\". Do you have time for a few questions?",
    "Hi {c}, of course! Happy to help.",
    "When could you start, and is the price final?",
    "I could start on {day}. {price} covers everything in the description.",
    "That works for me. Do you need anything from me before you start?",
    "Just access details and a few examples you like. I'll send a short plan first.",
    "Perfect, I'll send those over today.",
    "Thanks! I'll keep you posted on progress.",
    "Sounds good. Looking forward to it.",
    "Me too. Talk soon!",
];

/// A provider follows up on their proposal.
const PITCH_SCRIPT: &[&str] = &[
    "Hi {c}, I saw your job \"{title}\" and sent a proposal. Happy to answer any questions.",
    "Thanks {p}! Could you share a couple of examples of similar work?",
    "Sure, here are links to three recent projects.",
    "They look good. What is your availability?",
    "I can start on {day} and finish well before the deadline.",
    "Let me compare the proposals and get back to you by the end of the week.",
    "Of course, no rush.",
    "Quick question: would {price} include revisions?",
    "Yes, small revisions are included.",
    "Good to know, thanks!",
];

// ---------------------------------------------------------------------------------------
// The plan

struct Person {
    id: UserId,
    email: String,
    username: String,
    role: Role,
    first: String,
    last: String,
    city: usize,
    at: OffsetDateTime,
    verified: bool,
}

struct Step {
    to: ContractStatus,
    by: ContractActor,
    actor: UserId,
    at: OffsetDateTime,
    reason: &'static str,
}

struct ContractPlan {
    /// As created: pending.
    contract: Contract,
    steps: Vec<Step>,
}

struct ConversationPlan {
    id: ConversationId,
    creator: UserId,
    other: UserId,
    at: OffsetDateTime,
    messages: Vec<Message>,
    cursors: Vec<(UserId, u64)>,
}

#[derive(Default)]
struct Plan {
    categories: Vec<Category>,
    skills: Vec<Skill>,
    users: Vec<Person>,
    providers: Vec<Provider>,
    services: Vec<Service>,
    jobs: Vec<Job>,
    proposals: Vec<Proposal>,
    contracts: Vec<ContractPlan>,
    reviews: Vec<Review>,
    likes: Vec<(ServiceId, UserId)>,
    conversations: Vec<ConversationPlan>,
}

/// The PRNGs and the clock of one plan.
struct Gen {
    rng: StdRng,
    /// Only for the random bits of ids, so texts do not depend on how many ids were made.
    ids: StdRng,
    now: OffsetDateTime,
}

fn secs(s: i64) -> Duration {
    Duration::seconds(s)
}

const MINUTE: i64 = 60;
const HOUR: i64 = 3600;
const DAY_SECS: i64 = 86_400;

impl Gen {
    fn new(now: OffsetDateTime) -> Self {
        Gen { rng: StdRng::seed_from_u64(SEED), ids: StdRng::seed_from_u64(SEED ^ 0x1d5), now }
    }

    /// A UUID v7 stamped with `at`.
    fn uuid(&mut self, at: OffsetDateTime) -> Uuid {
        let millis = u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        let mut bytes = [0u8; 10];
        self.ids.fill(&mut bytes);
        uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid()
    }

    fn below(&mut self, n: usize) -> usize {
        if n <= 1 {
            0
        } else {
            self.rng.random_range(0..n)
        }
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    /// Uniform in `lo..=hi` (`lo` when the range is empty).
    fn int(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            lo
        } else {
            self.rng.random_range(lo..=hi)
        }
    }

    /// Uniform in `lo..=hi`, rounded down to a multiple of `step`, never below `lo`.
    fn amount(&mut self, lo: i64, hi: i64, step: i64) -> i64 {
        (self.int(lo, hi) / step * step).max(lo)
    }

    /// Between `lo` and `hi` seconds before now.
    fn ago(&mut self, lo: i64, hi: i64) -> OffsetDateTime {
        self.now - secs(self.int(lo, hi))
    }

    /// Between `lo` and `hi` seconds after `t`, but at least a minute before now (and
    /// never before `t`).
    fn after(&mut self, t: OffsetDateTime, lo: i64, hi: i64) -> OffsetDateTime {
        let x = t + secs(self.int(lo, hi));
        x.min(self.now - secs(MINUTE)).max(t + secs(1))
    }

    /// Uniform between two instants.
    fn within(&mut self, a: OffsetDateTime, b: OffsetDateTime) -> OffsetDateTime {
        let span = (b - a).whole_seconds();
        a + secs(self.int(0, span))
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        v.shuffle(&mut self.rng);
    }

    /// `amount` distinct indices below `len`.
    fn sample(&mut self, len: usize, amount: usize) -> Vec<usize> {
        rand::seq::index::sample(&mut self.rng, len, amount.min(len)).into_vec()
    }
}

fn usd(cents: i64) -> anyhow::Result<Money> {
    Money::parse(cents, "USD").map_err(|e| anyhow::anyhow!("money {cents}: {e:?}"))
}

fn dollars(m: &Money) -> String {
    let cents = m.minor();
    if cents % 100 == 0 {
        format!("${}", cents / 100)
    } else {
        format!("${}.{:02}", cents / 100, cents % 100)
    }
}

fn duration_text(minutes: u32) -> String {
    match minutes {
        m if m >= DAY && m % DAY == 0 => {
            let d = m / DAY;
            if d == 1 {
                "a day".into()
            } else {
                format!("{d} days")
            }
        }
        m if m >= 60 && m % 60 == 0 => {
            let h = m / 60;
            if h == 1 {
                "an hour".into()
            } else {
                format!("{h} hours")
            }
        }
        m if m > 60 => format!("{} hour{} {} minutes", m / 60, if m < 120 { "" } else { "s" }, m % 60),
        m => format!("{m} minutes"),
    }
}

/// Replaces `{key}` placeholders.
fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

struct ProviderInfo {
    /// Index in `Plan::users`.
    user: usize,
    /// Indices in `LEAVES`.
    primary: usize,
    secondary: Option<usize>,
    years: i64,
}

/// One conversation to write: who, about what, and which script they follow.
struct Talk {
    client: UserId,
    provider: UserId,
    opener: Opener,
    script: &'static [&'static str],
    title: String,
    price: Money,
    duration: u32,
    start: OffsetDateTime,
}

/// Builds the plan step by step; each step only reads what earlier steps made.
struct Planner {
    g: Gen,
    p: Plan,
    args: SeedArgs,
    /// The category of each leaf of `LEAVES`.
    leaf_ids: Vec<CategoryId>,
    skill_ids: BTreeMap<&'static str, SkillId>,
    infos: Vec<ProviderInfo>,
}

/// The order contracts of hired jobs end up in: every stage is represented.
const CONTRACT_CYCLE: [ContractStatus; 4] =
    [ContractStatus::Completed, ContractStatus::Active, ContractStatus::Delivered, ContractStatus::Pending];

/// Builds the whole demo in memory.
fn plan(args: &SeedArgs, now: OffsetDateTime) -> anyhow::Result<Plan> {
    let mut pl = Planner {
        g: Gen::new(now),
        p: Plan::default(),
        args: args.clone(),
        leaf_ids: Vec::new(),
        skill_ids: BTreeMap::new(),
        infos: Vec::new(),
    };
    pl.catalog();
    pl.people();
    pl.providers()?;
    pl.services()?;
    pl.jobs()?;
    pl.likes();
    pl.conversations();
    Ok(pl.p)
}

impl Planner {
    fn now(&self) -> OffsetDateTime {
        self.g.now
    }

    fn provider_user(&self, i: usize) -> &Person {
        &self.p.users[i]
    }

    fn client_user(&self, i: usize) -> &Person {
        &self.p.users[self.args.providers as usize + i]
    }

    /// The category tree and the skills, made long before everything else.
    fn catalog(&mut self) {
        let g = &mut self.g;
        let catalog_at = g.now - secs(200 * DAY_SECS);
        let mut parent_ids = BTreeMap::new();
        for (i, name) in PARENTS.iter().enumerate() {
            let at = catalog_at + secs(i as i64);
            let id = CategoryId::from_uuid(g.uuid(at));
            parent_ids.insert(*name, id);
            self.p.categories.push(Category { id, name: (*name).to_string(), parent_id: None, created_at: at });
        }
        for (i, leaf) in LEAVES.iter().enumerate() {
            let at = catalog_at + secs(MINUTE + i as i64);
            let id = CategoryId::from_uuid(g.uuid(at));
            self.leaf_ids.push(id);
            self.p.categories.push(Category {
                id,
                name: leaf.name.to_string(),
                parent_id: parent_ids.get(leaf.parent).copied(),
                created_at: at,
            });
            for (j, name) in leaf.skills.iter().enumerate() {
                if self.skill_ids.contains_key(name) {
                    continue;
                }
                let at = catalog_at + secs(HOUR + (i * 10 + j) as i64);
                let id = SkillId::from_uuid(g.uuid(at));
                self.skill_ids.insert(name, id);
                self.p.skills.push(Skill { id, name: (*name).to_string(), created_at: at });
            }
        }
    }

    /// Provider accounts first (`provider1..`), then clients (`client1..`).
    fn people(&mut self) {
        let person = |g: &mut Gen, role: Role, n: usize, at: OffsetDateTime| {
            let prefix = if role == Role::Provider { "provider" } else { "client" };
            Person {
                id: UserId::from_uuid(g.uuid(at)),
                email: format!("{prefix}{n}@{DEMO_DOMAIN}"),
                username: format!("{prefix}{n}"),
                role,
                first: g.pick(FIRST_NAMES).to_string(),
                last: g.pick(LAST_NAMES).to_string(),
                city: g.below(CITIES.len()),
                at,
                // The first demo logins are always verified; about one in eight others is not.
                verified: n <= 3 || !g.chance(0.12),
            }
        };
        for i in 0..self.args.providers as usize {
            let at = self.g.ago(90 * DAY_SECS, 180 * DAY_SECS);
            let who = person(&mut self.g, Role::Provider, i + 1, at);
            self.p.users.push(who);
        }
        for i in 0..self.args.clients as usize {
            let at = self.g.ago(40 * DAY_SECS, 180 * DAY_SECS);
            let who = person(&mut self.g, Role::Client, i + 1, at);
            self.p.users.push(who);
        }
    }

    /// One profile per provider account: every leaf category is covered before any repeats.
    fn providers(&mut self) -> anyhow::Result<()> {
        let mut leaf_order: Vec<usize> = (0..LEAVES.len()).collect();
        self.g.shuffle(&mut leaf_order);
        for i in 0..self.args.providers as usize {
            let primary = leaf_order[i % leaf_order.len()];
            let siblings: Vec<usize> =
                (0..LEAVES.len()).filter(|&j| j != primary && LEAVES[j].parent == LEAVES[primary].parent).collect();
            let g = &mut self.g;
            let secondary = if !siblings.is_empty() && g.chance(0.5) { Some(g.pick(&siblings)) } else { None };
            let u = &self.p.users[i];
            let leaf = &LEAVES[primary];
            let (city, country) = CITIES[u.city];
            let years = g.int(2, 25);
            let bio = format!(
                "I'm {} {}, a {} based in {city} with {years} years of experience. {} {}",
                u.first,
                u.last,
                leaf.profession,
                g.pick(leaf.pitch),
                g.pick(BIO_CLOSINGS)
            );
            let mut names: Vec<&str> = leaf.skills.to_vec();
            if let Some(s) = secondary {
                names.extend(LEAVES[s].skills.iter().copied());
            }
            let wanted = g.int(2, 4) as usize;
            let mut skills = Vec::new();
            for idx in g.sample(names.len(), wanted) {
                if let Some(skill_id) = self.skill_ids.get(names[idx]).copied() {
                    let level = match g.int(0, 9) {
                        0..=1 => SkillLevel::Beginner,
                        2..=5 => SkillLevel::Intermediate,
                        _ => SkillLevel::Expert,
                    };
                    skills.push(ProviderSkill { skill_id, level });
                }
            }
            let mut category_ids = vec![self.leaf_ids[primary]];
            category_ids.extend(secondary.map(|s| self.leaf_ids[s]));
            let availability = match g.int(0, 9) {
                0 => Availability::Unavailable,
                1..=2 => Availability::Busy,
                _ => Availability::Available,
            };
            let at = g.after(u.at, 10 * MINUTE, 2 * DAY_SECS);
            self.p.providers.push(Provider {
                id: ProviderId::from_uuid(g.uuid(at)),
                user_id: u.id,
                bio,
                hourly_rate: usd(g.amount(leaf.rate.0, leaf.rate.1, 500))?,
                city: Some(city.to_string()),
                country: Some(country.to_string()),
                category_ids,
                skills,
                availability,
                is_verified: i == 0 || g.chance(0.4),
                rating_avg: 0.0,
                reviews_count: 0,
                completed_jobs: 0,
                created_at: at,
                updated_at: at,
            });
            self.infos.push(ProviderInfo { user: i, primary, secondary, years });
        }
        Ok(())
    }

    /// One service per provider first, the rest spread at random; mostly in the provider's
    /// main category.
    fn services(&mut self) -> anyhow::Result<()> {
        let n_providers = self.args.providers as usize;
        for i in 0..self.args.services as usize {
            let g = &mut self.g;
            let owner = if i < n_providers { i } else { g.below(n_providers) };
            let info = &self.infos[owner];
            let leaf_idx = match info.secondary {
                Some(s) if g.chance(0.3) => s,
                _ => info.primary,
            };
            let leaf = &LEAVES[leaf_idx];
            let prov = &self.p.providers[owner];
            let city = CITIES[self.p.users[info.user].city].0;
            let base = g.pick(leaf.services);
            let suffix = match leaf.work {
                Work::Onsite => {
                    g.pick(&[" in {city}", " (same-day service)", " (fixed price)", " with 12-month guarantee", ""])
                }
                Work::Remote => {
                    g.pick(&[" (fast delivery)", " (fixed price)", " for small businesses", " for startups", ""])
                }
                Work::Lesson => {
                    g.pick(&[" (online or in person)", " for adults", " for kids and teens", " in {city}", ""])
                }
            };
            let title = format!("{base}{}", fill(suffix, &[("city", city)]));
            let duration = if g.chance(0.9) { Some(g.pick(leaf.durations)) } else { None };
            let dur_text = duration_text(duration.unwrap_or(60));
            let included = match leaf.work {
                Work::Onsite => g.pick(&[
                    "The price covers up to {dur} of work; parts and materials are agreed before I start.",
                    "Call-out included. I leave the place as clean as I found it.",
                    "All work is guaranteed for 12 months.",
                ]),
                Work::Remote => g.pick(&[
                    "Delivery in about {dur}, with two rounds of revisions included.",
                    "You get all source files and full rights once the work is approved.",
                    "I start with a short questionnaire so the first draft is already close.",
                ]),
                Work::Lesson => g.pick(&[
                    "Each lesson lasts {dur}, online or at your place in {city}.",
                    "Materials and homework are included in the price.",
                    "The first lesson includes a free level assessment.",
                ]),
            };
            let closing = g.pick(&[
                "Based in {city}. Send me a few details and I'll reply within a day.",
                "Serving {city} and the surrounding area.",
                "Over {n} happy clients so far.",
                "Message me to check availability.",
            ]);
            let clients_served = g.int(12, 300).to_string();
            let vars = [("city", city), ("dur", dur_text.as_str()), ("n", clients_served.as_str())];
            let description = format!("{} {} {}", g.pick(leaf.pitch), fill(included, &vars), fill(closing, &vars));
            let mut tags = vec![leaf.tags[0].to_string()];
            let extra = g.int(2, 4) as usize;
            for idx in g.sample(leaf.tags.len() - 1, extra) {
                tags.push(leaf.tags[idx + 1].to_string());
            }
            let tags = normalize_tags(&tags).map_err(|e| invalid("tags", e))?;
            let at = g.within(prov.created_at + secs(HOUR), g.now - secs(HOUR));
            self.p.services.push(Service {
                id: ServiceId::from_uuid(g.uuid(at)),
                provider_id: prov.id,
                owner_id: prov.user_id,
                title,
                description,
                category_id: Some(self.leaf_ids[leaf_idx]),
                price: usd(g.amount(leaf.price.0, leaf.price.1, 500))?,
                duration_minutes: duration,
                booking_rules: None,
                tags,
                rating_avg: 0.0,
                reviews_count: 0,
                likes_count: 0,
                created_at: at,
                updated_at: at,
                deleted: false,
                gallery: Vec::new(),
            });
        }
        Ok(())
    }

    /// Jobs with their proposals. About one job in ten is hired (at most 20, at least 4
    /// when there are that many jobs): those are the oldest, so their contracts had time to
    /// move on. The first hired job is between client1 and provider1, so the first demo
    /// logins have a contract, a review and a conversation.
    fn jobs(&mut self) -> anyhow::Result<()> {
        let n_jobs = self.args.jobs as usize;
        let n_contracts = (n_jobs / 10).max(n_jobs.min(4)).min(20);
        for i in 0..n_jobs {
            let hired = i < n_contracts;
            let mut job = self.job(i, hired)?;
            let mut proposals = self.proposals(i, hired, &job)?;
            job.proposals_count = proposals.len() as u64;
            // Hiring or cancelling closes the job: after its last proposal.
            let last_proposal = proposals.iter().map(|x| x.created_at).max().unwrap_or(job.created_at);
            if let (true, Some(accepted)) = (hired, proposals.first_mut()) {
                self.hire(&mut job, accepted, last_proposal, CONTRACT_CYCLE[i % CONTRACT_CYCLE.len()]);
            } else if self.g.chance(0.06) {
                job.status = JobStatus::Cancelled;
                job.updated_at = self.g.after(last_proposal, HOUR, 3 * DAY_SECS);
            }
            // A few proposers change their mind.
            for prop in proposals.iter_mut().filter(|p| p.status == ProposalStatus::Pending) {
                if self.g.chance(0.08) {
                    prop.status = ProposalStatus::Withdrawn;
                    prop.updated_at = self.g.after(prop.created_at, HOUR, 2 * DAY_SECS);
                }
            }
            self.p.jobs.push(job);
            self.p.proposals.extend(proposals);
        }
        Ok(())
    }

    /// One open job.
    fn job(&mut self, i: usize, hired: bool) -> anyhow::Result<Job> {
        let client = if i == 0 { 0 } else { self.g.below(self.args.clients as usize) };
        let (client_id, city) = {
            let u = self.client_user(client);
            (u.id, CITIES[u.city].0)
        };
        let g = &mut self.g;
        let leaf_idx = if i == 0 { self.infos[0].primary } else { g.below(LEAVES.len()) };
        let leaf = &LEAVES[leaf_idx];
        let title = g.pick(leaf.jobs).to_string();
        let intro = match leaf.work {
            Work::Onsite => g.pick(&[
                "We live in {city} and need a hand with this: \"{title}\".",
                "Looking for a reliable {profession} in {city}.",
                "Our {place} in {city} needs some work.",
            ]),
            Work::Remote => g.pick(&[
                "We are a {business} and need help with this: \"{title}\".",
                "Looking for an experienced {profession} for a short project.",
                "Our {business} is growing and we need a {profession}.",
            ]),
            Work::Lesson => g.pick(&[
                "Looking for a patient {profession}, online or in {city}.",
                "Lessons wanted: \"{title}\".",
                "Searching for a friendly {profession} for weekly sessions in {city}.",
            ]),
        };
        let details = g.sample(JOB_DETAILS.len(), 2);
        let vars = [
            ("city", city),
            ("title", title.as_str()),
            ("profession", leaf.profession),
            ("business", g.pick(BUSINESSES)),
            ("place", g.pick(PLACES)),
        ];
        let description = format!(
            "{} {} {}",
            fill(intro, &vars),
            JOB_DETAILS[details[0]],
            JOB_DETAILS[details.get(1).copied().unwrap_or(0)]
        );
        let lo = g.amount(leaf.price.0, leaf.price.1, 1_000);
        let hi = ((lo + lo * g.int(20, 150) / 100) / 1_000 * 1_000).max(lo);
        let (budget_min, budget_max) = match g.int(0, 19) {
            0..=13 => (Some(usd(lo)?), Some(usd(hi)?)),
            14..=16 => (None, Some(usd(hi)?)),
            _ => (None, None),
        };
        let deadline = if hired || g.chance(0.7) { Some(g.now.date() + Duration::days(g.int(5, 90))) } else { None };
        let n_skills = g.int(1, 3) as usize;
        let skill_ids = g
            .sample(leaf.skills.len(), n_skills)
            .into_iter()
            .filter_map(|k| self.skill_ids.get(leaf.skills[k]).copied());
        let at = if hired { g.ago(22 * DAY_SECS, 30 * DAY_SECS) } else { g.ago(HOUR, 30 * DAY_SECS) };
        Ok(Job {
            id: JobId::from_uuid(g.uuid(at)),
            client_id,
            title,
            description,
            budget_min,
            budget_max,
            deadline,
            category_id: Some(self.leaf_ids[leaf_idx]),
            skill_ids: skill_ids.collect(),
            max_hires: if hired || g.chance(0.85) { 1 } else { g.int(2, 3) as u32 },
            hires: 0,
            status: JobStatus::Open,
            proposals_count: 0,
            created_at: at,
            updated_at: at,
            hired: Vec::new(),
        })
    }

    /// Pending proposals on `job`, mostly from providers of its category, one per provider.
    fn proposals(&mut self, i: usize, hired: bool, job: &Job) -> anyhow::Result<Vec<Proposal>> {
        let n_providers = self.args.providers as usize;
        let leaf_idx = self.leaf_ids.iter().position(|c| Some(*c) == job.category_id).unwrap_or(0);
        let g = &mut self.g;
        let wanted = if hired { g.int(1, 5) as usize } else { [0, 0, 1, 1, 2, 2, 3, 3, 4, 5][g.below(10)] };
        let (mut matching, mut others): (Vec<usize>, Vec<usize>) = (0..n_providers)
            .partition(|&k| self.infos[k].primary == leaf_idx || self.infos[k].secondary == Some(leaf_idx));
        g.shuffle(&mut matching);
        g.shuffle(&mut others);
        if i == 0 {
            matching.retain(|&k| k != 0);
            others.retain(|&k| k != 0);
            matching.insert(0, 0);
        }
        let client_first = self.p.users.iter().find(|u| u.id == job.client_id).map_or("", |u| u.first.as_str());
        let mut out = Vec::new();
        for k in matching.into_iter().chain(others).take(wanted) {
            let info = &self.infos[k];
            let provider = self.p.users[info.user].id;
            let rate_cents = match (job.budget_min, job.budget_max) {
                (Some(a), Some(b)) => g.amount(a.minor(), b.minor(), 500),
                (None, Some(b)) => g.amount(b.minor() * 6 / 10, b.minor(), 500),
                _ => self.p.providers[k].hourly_rate.minor() * g.int(2, 20) / 500 * 500,
            };
            let at = g.after(job.created_at, 30 * MINUTE, 2 * DAY_SECS);
            let years = info.years.to_string();
            let vars = [
                ("c", client_first),
                ("day", g.pick(DAYS)),
                ("title", job.title.as_str()),
                ("years", years.as_str()),
                ("profession", LEAVES[info.primary].profession),
            ];
            out.push(Proposal {
                id: ProposalId::from_uuid(g.uuid(at)),
                job_id: job.id,
                job_client_id: job.client_id,
                provider_id: provider,
                rate: usd(rate_cents.max(500))?,
                message: Some(fill(g.pick(PROPOSAL_MESSAGES), &vars)),
                status: ProposalStatus::Pending,
                contract_id: None,
                created_at: at,
                updated_at: at,
            });
        }
        Ok(out)
    }

    /// The client accepts `accepted`: a pending contract, moved on to `target` by the
    /// parties (pending → active → delivered → completed), with reviews once completed.
    fn hire(&mut self, job: &mut Job, accepted: &mut Proposal, last_proposal: OffsetDateTime, target: ContractStatus) {
        let (client, provider, title) = (job.client_id, accepted.provider_id, job.title.clone());
        let accept_at = self.g.after(last_proposal, 2 * HOUR, DAY_SECS);
        let contract_id = ContractId::from_uuid(self.g.uuid(accept_at));
        accepted.status = ProposalStatus::Accepted;
        accepted.contract_id = Some(contract_id);
        accepted.updated_at = accept_at;
        job.hires = 1;
        job.status = JobStatus::InProgress;
        job.updated_at = accept_at;
        let contract = Contract {
            id: contract_id,
            job_id: job.id,
            proposal_id: accepted.id,
            client_id: client,
            provider_id: provider,
            title: title.clone(),
            agreed_rate: accepted.rate,
            deadline: job.deadline,
            status: ContractStatus::Pending,
            created_at: accept_at,
            updated_at: accept_at,
        };
        let path = [
            (ContractStatus::Active, ContractActor::Client, "funded"),
            (ContractStatus::Delivered, ContractActor::Provider, "work delivered"),
            (ContractStatus::Completed, ContractActor::Client, "approved, thank you!"),
        ];
        let stages = path.iter().position(|(to, _, _)| *to == target).map_or(0, |k| k + 1);
        let mut steps = Vec::new();
        let mut t = accept_at;
        for &(to, by, reason) in &path[..stages] {
            t = self.g.after(t, 6 * HOUR, 4 * DAY_SECS);
            let actor = if by == ContractActor::Client { client } else { provider };
            steps.push(Step { to, by, actor, at: t, reason });
        }
        self.p.contracts.push(ContractPlan { contract, steps });
        if target != ContractStatus::Completed {
            return;
        }
        job.status = JobStatus::Completed;
        job.updated_at = t;
        // The client reviews the provider; about half the providers review back.
        let rating = self.g.pick(&[5u8, 5, 5, 4, 4, 3]);
        let comment = self.g.pick(REVIEW_COMMENTS);
        self.review(contract_id, client, provider, rating, comment, t);
        if self.g.chance(0.5) {
            let rating = self.g.pick(&[5u8, 5, 4]);
            let comment = self.g.pick(CLIENT_REVIEW_COMMENTS);
            self.review(contract_id, provider, client, rating, comment, t);
        }
    }

    fn review(
        &mut self,
        contract: ContractId,
        author: UserId,
        reviewee: UserId,
        rating: u8,
        comment: &str,
        done: OffsetDateTime,
    ) {
        let at = self.g.after(done, 2 * HOUR, 3 * DAY_SECS);
        let id = ReviewId::from_uuid(self.g.uuid(at));
        self.p.reviews.push(Review {
            id,
            engagement: Engagement::Contract(contract),
            author_id: author,
            reviewee_id: reviewee,
            service_id: None,
            rating,
            comment: Some(comment.to_string()),
            reply: None,
            replied_at: None,
            created_at: at,
            updated_at: at,
        });
    }

    /// Each client likes a few services.
    fn likes(&mut self) {
        if self.p.services.is_empty() {
            return;
        }
        for c in 0..self.args.clients as usize {
            let user = self.client_user(c).id;
            let n = self.g.int(0, 6) as usize;
            for idx in self.g.sample(self.p.services.len(), n) {
                self.p.likes.push((self.p.services[idx].id, user));
            }
        }
    }

    /// At most one direct conversation per client/provider pair: every hire first, then
    /// providers following up on their proposals and clients asking about services.
    fn conversations(&mut self) {
        let wanted = self.args.conversations as usize;
        let mut talks: Vec<Talk> = Vec::new();
        for cp in &self.p.contracts {
            let c = &cp.contract;
            let proposed =
                self.p.proposals.iter().find(|x| x.id == c.proposal_id).map_or(c.created_at, |x| x.created_at);
            talks.push(Talk {
                client: c.client_id,
                provider: c.provider_id,
                opener: Opener::Client,
                script: JOB_SCRIPT,
                title: c.title.clone(),
                price: c.agreed_rate,
                duration: 60,
                start: self.g.after(proposed, 10 * MINUTE, 2 * HOUR),
            });
        }
        // client1 asks provider1 about a service (a no-op when they already talk about a job).
        if let Some(k) = self.p.services.iter().position(|s| s.owner_id == self.provider_user(0).id) {
            let client = self.client_user(0).id;
            talks.push(self.service_talk(k, client));
        }
        let mut pending: Vec<usize> =
            (0..self.p.proposals.len()).filter(|&k| self.p.proposals[k].status == ProposalStatus::Pending).collect();
        self.g.shuffle(&mut pending);
        let mut pending = pending.into_iter();
        for _ in 0..wanted * 2 {
            if self.g.chance(0.5) {
                if let Some(k) = pending.next() {
                    let x = &self.p.proposals[k];
                    let title =
                        self.p.jobs.iter().find(|j| j.id == x.job_id).map_or_else(String::new, |j| j.title.clone());
                    let (client, provider, price, proposed) = (x.job_client_id, x.provider_id, x.rate, x.created_at);
                    talks.push(Talk {
                        client,
                        provider,
                        opener: Opener::Provider,
                        script: PITCH_SCRIPT,
                        title,
                        price,
                        duration: 60,
                        start: self.g.after(proposed, 5 * MINUTE, HOUR),
                    });
                    continue;
                }
            }
            if !self.p.services.is_empty() {
                let k = self.g.below(self.p.services.len());
                let client = self.g.below(self.args.clients as usize);
                let client = self.client_user(client).id;
                talks.push(self.service_talk(k, client));
            }
        }
        let mut pairs: BTreeSet<(UserId, UserId)> = BTreeSet::new();
        for talk in talks {
            if self.p.conversations.len() >= wanted {
                break;
            }
            if pairs.insert((talk.client, talk.provider)) {
                self.conversation(talk);
            }
        }
    }

    fn service_talk(&mut self, k: usize, client: UserId) -> Talk {
        let s = &self.p.services[k];
        let (provider, title, price, duration, created) =
            (s.owner_id, s.title.clone(), s.price, s.duration_minutes.unwrap_or(60), s.created_at);
        Talk {
            client,
            provider,
            opener: Opener::Client,
            script: SERVICE_SCRIPT,
            title,
            price,
            duration,
            start: self.g.ago(3 * DAY_SECS, 20 * DAY_SECS).max(created + secs(HOUR)),
        }
    }

    fn conversation(&mut self, talk: Talk) {
        let now = self.now();
        let g = &mut self.g;
        let (creator, other) = match talk.opener {
            Opener::Client => (talk.client, talk.provider),
            Opener::Provider => (talk.provider, talk.client),
        };
        let id = ConversationId::from_uuid(g.uuid(talk.start));
        let count = g.int(3, 10) as usize;
        let first = |u: UserId| self.p.users.iter().find(|x| x.id == u).map_or("", |x| x.first.as_str());
        let (price, duration) = (dollars(&talk.price), duration_text(talk.duration));
        let vars = [
            ("c", first(talk.client)),
            ("p", first(talk.provider)),
            ("title", talk.title.as_str()),
            ("price", price.as_str()),
            ("duration", duration.as_str()),
            ("day", g.pick(DAYS)),
        ];
        // Spread over at most two days, all in the past.
        let room = (now - secs(MINUTE) - talk.start).whole_seconds().clamp(count as i64, 2 * DAY_SECS);
        let step = (room / count as i64).max(1);
        let mut at = talk.start;
        let mut messages = Vec::with_capacity(count);
        for (n, line) in talk.script.iter().take(count).enumerate() {
            at += secs(g.int((step / 4).max(1), step));
            messages.push(Message {
                id: MessageId::from_uuid(g.uuid(at)),
                conversation_id: id,
                seq: n as u64 + 1,
                sender_id: if n % 2 == 0 { creator } else { other },
                body: fill(line, &vars),
                sent_at: at,
                client_msg_id: None,
                edited_at: None,
                deleted: false,
                attachments: Vec::new(),
            });
        }
        // Senders have read up to their own last message; most have read everything.
        let last = messages.len() as u64;
        let mut cursors = Vec::new();
        for member in [creator, other] {
            let own = messages.iter().filter(|m| m.sender_id == member).map(|m| m.seq).max().unwrap_or(0);
            let seq = if own == last || g.chance(0.6) { last } else { own };
            cursors.push((member, seq));
        }
        self.p.conversations.push(ConversationPlan { id, creator, other, at: talk.start, messages, cursors });
    }
}

// ---------------------------------------------------------------------------------------
// Writing

/// Runs `f` on every item, `CONCURRENCY` at a time, answering the results in order; the
/// first error stops the rest.
async fn each<T, R, F, Fut>(items: impl IntoIterator<Item = T>, f: F) -> anyhow::Result<Vec<R>>
where
    F: FnMut(T) -> Fut,
    Fut: Future<Output = anyhow::Result<R>>,
{
    futures_util::stream::iter(items).map(f).buffered(CONCURRENCY).try_collect().await
}

fn invalid(what: &str, e: DomainError) -> anyhow::Error {
    anyhow::anyhow!("{what}: {e:?}")
}

/// The seed acts as the operator for what only admins write (categories, skills,
/// verification); no account is behind it.
fn operator() -> Caller {
    Caller { id: UserId::from_uuid(Uuid::nil()), role: Role::Admin }
}

/// Planned ids to the ids the commands minted.
struct Minted<K, V>(BTreeMap<K, V>);

impl<K: Ord + Copy + fmt::Display, V: Copy> Minted<K, V> {
    fn new(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Minted(pairs.into_iter().collect())
    }

    fn get(&self, planned: K) -> anyhow::Result<V> {
        self.0.get(&planned).copied().ok_or_else(|| anyhow::anyhow!("{planned} was planned but never written"))
    }
}

/// Sends the plan through the marketplace commands, the ones the routes send, phase by phase
/// (each phase only refers to what earlier ones made). The commands mint the ids and
/// publish their events: the subscribers write the notifications, ratings and counters.
struct Writer<'a> {
    market: &'a Addr<Market>,
    store: &'a Store,
    gateway: &'a dyn PaymentGateway,
}

impl Writer<'_> {
    async fn send<C>(&self, cmd: C) -> anyhow::Result<C::Output>
    where
        C: Command,
        Market: actix::Handler<C>,
    {
        Ok(self.market.send(cmd).await??)
    }

    /// Writes the plan; answers the services as written (planned id → id).
    async fn write(
        &self,
        p: &Plan,
        password_hash: &str,
        now: OffsetDateTime,
    ) -> anyhow::Result<Minted<ServiceId, ServiceId>> {
        let categories = self.categories(p).await?;
        let skills = Minted::new(
            each(&p.skills, |s| async move {
                let made = self.send(CreateSkill { by: operator(), name: s.name.clone(), at: s.created_at }).await?;
                Ok((s.id, made.id))
            })
            .await?,
        );
        each(&p.users, |u| async move {
            let users = self.store.users();
            users
                .create(NewUser {
                    id: u.id,
                    email: Email::parse(&u.email).map_err(|e| invalid("email", e))?,
                    username: Some(Username::parse(&u.username).map_err(|e| invalid("username", e))?),
                    role: u.role,
                    first_name: u.first.clone(),
                    last_name: u.last.clone(),
                    password_hash: password_hash.to_string(),
                    at: u.at,
                })
                .await?;
            if u.verified {
                users.update(u.id, |x| x.email_verified = true).await?;
            }
            Ok(())
        })
        .await?;
        let hiring: BTreeSet<UserId> = p.contracts.iter().map(|c| c.contract.client_id).collect();
        let cards = BTreeMap::from_iter(each(&hiring, |client| self.card(*client, now)).await?);
        let cards = &cards;
        each(&p.providers, |x| self.provider(x, &categories, &skills)).await?;
        let services = Minted::new(each(&p.services, |s| self.service(s, &categories)).await?);
        each(&p.jobs, |j| self.job(p, j, &categories, &skills, cards)).await?;
        // One service's likes one after the other (each bumps its counter).
        let mut likes: BTreeMap<ServiceId, Vec<UserId>> = BTreeMap::new();
        for (s, u) in &p.likes {
            likes.entry(*s).or_default().push(*u);
        }
        each(&likes, |(service, users)| {
            let service = services.get(*service);
            async move {
                let service_id = service?;
                for u in users {
                    let by = Caller { id: *u, role: Role::Client };
                    self.send(SetLike { by, service_id, liked: true, at: now }).await?;
                }
                Ok(())
            }
        })
        .await?;
        each(&p.conversations, |cp| self.conversation(cp)).await?;
        Ok(services)
    }

    /// A client's saved card (the sandbox's always-succeeding test number), as the
    /// payment-methods route saves one.
    async fn card(&self, client: UserId, now: OffsetDateTime) -> anyhow::Result<(UserId, PaymentMethodId)> {
        let input = CardInput::parse("4242424242424242", 12, i64::from(now.year()) + 3, "123", (now.year(), 12))
            .map_err(|e| invalid("card", e))?;
        let token = self.gateway.tokenize(&input).await?;
        let method = PaymentMethod {
            id: PaymentMethodId::from_uuid(Uuid::now_v7()),
            user_id: client,
            gateway: self.gateway.name().to_string(),
            token: token.token,
            card: token.card,
            created_at: now,
        };
        self.store.market().insert(&method).await?;
        Ok((client, method.id))
    }

    /// Parents before their children.
    async fn categories(&self, p: &Plan) -> anyhow::Result<Minted<CategoryId, CategoryId>> {
        let create = |c: &Category, parent_id: Option<CategoryId>| {
            let cmd = CreateCategory { by: operator(), name: c.name.clone(), parent_id, at: c.created_at };
            let planned = c.id;
            async move { Ok((planned, self.send(cmd).await?.id)) }
        };
        let tops = Minted::new(each(p.categories.iter().filter(|c| c.parent_id.is_none()), |c| create(c, None)).await?);
        let leaves = each(p.categories.iter().filter(|c| c.parent_id.is_some()), |c| {
            let parent = c.parent_id.map(|id| tops.get(id)).transpose();
            async move { create(c, parent?).await }
        })
        .await?;
        Ok(Minted::new(tops.0.into_iter().chain(leaves)))
    }

    async fn provider(
        &self,
        x: &Provider,
        categories: &Minted<CategoryId, CategoryId>,
        skills: &Minted<SkillId, SkillId>,
    ) -> anyhow::Result<()> {
        let fields = ProfileFields {
            city: Some(x.city.clone()),
            country: Some(x.country.clone()),
            category_ids: Some(x.category_ids.iter().map(|c| categories.get(*c)).collect::<anyhow::Result<_>>()?),
            skills: Some(
                x.skills
                    .iter()
                    .map(|s| Ok(ProviderSkill { skill_id: skills.get(s.skill_id)?, level: s.level }))
                    .collect::<anyhow::Result<_>>()?,
            ),
            availability: Some(x.availability),
            ..ProfileFields::default()
        };
        let by = Caller { id: x.user_id, role: Role::Provider };
        let cmd = CreateProvider {
            by,
            bio: x.bio.clone(),
            hourly_rate: x.hourly_rate,
            fields,
            is_verified: None,
            at: x.created_at,
        };
        let made = self.send(cmd).await?;
        if x.is_verified {
            let cmd = UpdateProvider {
                by: operator(),
                id: made.id,
                fields: ProfileFields::default(),
                is_verified: Some(true),
                at: x.created_at,
            };
            self.send(cmd).await?;
        }
        Ok(())
    }

    async fn service(
        &self,
        s: &Service,
        categories: &Minted<CategoryId, CategoryId>,
    ) -> anyhow::Result<(ServiceId, ServiceId)> {
        let fields = ServiceFields {
            category_id: s.category_id.map(|c| categories.get(c)).transpose()?,
            duration_minutes: s.duration_minutes,
            tags: Some(s.tags.clone()),
            ..ServiceFields::default()
        };
        let cmd = CreateService {
            by: Caller { id: s.owner_id, role: Role::Provider },
            title: s.title.clone(),
            description: s.description.clone(),
            price: s.price,
            fields,
            at: s.created_at,
        };
        Ok((s.id, self.send(cmd).await?.id))
    }

    /// One job's story in order: posted, proposed on, proposals withdrawn, then either hired
    /// (accept, the contract's status changes, reviews) or cancelled.
    async fn job(
        &self,
        p: &Plan,
        j: &Job,
        categories: &Minted<CategoryId, CategoryId>,
        skills: &Minted<SkillId, SkillId>,
        cards: &BTreeMap<UserId, PaymentMethodId>,
    ) -> anyhow::Result<()> {
        let client = Caller { id: j.client_id, role: Role::Client };
        let new = NewJob {
            title: j.title.clone(),
            description: j.description.clone(),
            budget_min: j.budget_min,
            budget_max: j.budget_max,
            deadline: j.deadline,
            category_id: j.category_id.map(|c| categories.get(c)).transpose()?,
            skill_ids: j.skill_ids.iter().map(|s| skills.get(*s)).collect::<anyhow::Result<_>>()?,
            max_hires: Some(j.max_hires),
        };
        let job_id = self.send(PostJob { by: client, new, at: j.created_at }).await?.id;
        let mut proposals: Vec<&Proposal> = p.proposals.iter().filter(|x| x.job_id == j.id).collect();
        proposals.sort_by_key(|x| x.created_at);
        let mut minted = BTreeMap::new();
        for x in &proposals {
            let by = Caller { id: x.provider_id, role: Role::Provider };
            let cmd = Propose { by, job_id, rate: x.rate, message: x.message.clone(), at: x.created_at };
            minted.insert(x.id, self.send(cmd).await?.id);
        }
        let proposal_ids = Minted(minted);
        for x in proposals.iter().filter(|x| x.status == ProposalStatus::Withdrawn) {
            let by = Caller { id: x.provider_id, role: Role::Provider };
            self.send(Withdraw { by, proposal_id: proposal_ids.get(x.id)?, at: x.updated_at }).await?;
        }
        if let Some(cp) = p.contracts.iter().find(|c| c.contract.job_id == j.id) {
            let card =
                cards.get(&j.client_id).copied().ok_or_else(|| anyhow::anyhow!("no card for {}", j.client_id))?;
            self.contract(p, cp, client, &proposal_ids, card).await?;
        }
        if j.status == JobStatus::Cancelled {
            let edit = JobEdit { status: Some(JobStatus::Cancelled), ..JobEdit::default() };
            self.send(EditJob { by: client, job_id, edit, at: j.updated_at }).await?;
        }
        Ok(())
    }

    /// The client accepts and funds; the parties move the contract on; both may review it.
    async fn contract(
        &self,
        p: &Plan,
        cp: &ContractPlan,
        client: Caller,
        proposals: &Minted<ProposalId, ProposalId>,
        card: PaymentMethodId,
    ) -> anyhow::Result<()> {
        let c = &cp.contract;
        let accept = Accept { by: client, proposal_id: proposals.get(c.proposal_id)?, job_id: None, at: c.created_at };
        let contract_id = self.send(accept).await?.id;
        for step in &cp.steps {
            if step.to == ContractStatus::Active {
                // Funding the whole amount (the default single milestone) starts the contract.
                let fund =
                    FundMilestone { by: client, contract_id, milestone_id: None, payment_method_id: card, at: step.at };
                self.send(fund).await?;
                continue;
            }
            let role = if step.by == ContractActor::Client { Role::Client } else { Role::Provider };
            let cmd = ChangeContractStatus {
                by: Caller { id: step.actor, role },
                contract_id,
                to: step.to,
                reason: Some(step.reason.to_string()),
                at: step.at,
            };
            self.send(cmd).await?;
        }
        for r in p.reviews.iter().filter(|r| r.engagement == Engagement::Contract(c.id)) {
            let role = if r.author_id == c.client_id { Role::Client } else { Role::Provider };
            let cmd = PostReview {
                by: Caller { id: r.author_id, role },
                engagement: Engagement::Contract(contract_id),
                rating: r.rating,
                comment: r.comment.clone(),
                at: r.created_at,
            };
            self.send(cmd).await?;
        }
        Ok(())
    }

    /// Conversations go through the chat store as before (they are not marketplace commands).
    async fn conversation(&self, cp: &ConversationPlan) -> anyhow::Result<()> {
        let chat = self.store.chat();
        let new = NewConversation::parse(cp.creator, &[cp.other], None).map_err(|e| invalid("conversation", e))?;
        let (c, created) = chat.create_conversation(cp.id, cp.creator, new, cp.at).await?;
        if !created {
            anyhow::bail!("a conversation between {} and {} already exists", cp.creator, cp.other);
        }
        let mut head = chat.get(c.id).await?.ok_or_else(|| anyhow::anyhow!("conversation {} vanished", c.id))?;
        for message in &cp.messages {
            head = chat.append(&head, message.clone()).await?;
        }
        for (user, seq) in &cp.cursors {
            chat.set_read_cursor(c.id, *user, ReadCursor { seq: *seq, notified: false }).await?;
        }
        Ok(())
    }
}

/// Notifications the subscribers stored, `(all, unread)`, once the broker has delivered
/// everything it was given.
async fn notifications(hub: &Hub, store: &Store, p: &Plan, now: OffsetDateTime) -> anyhow::Result<(usize, usize)> {
    hub.broker.send(Drained).await?;
    let counts = each(&p.users, |u| async move {
        let notes = store.notifications();
        let unread = usize::try_from(notes.unread_count(u.id, now).await?).unwrap_or(0);
        let (page, _) = notes.list(u.id, false, 1000, None, now).await?;
        Ok((page.len(), unread))
    })
    .await?;
    Ok(counts.into_iter().fold((0, 0), |(a, b), (x, y)| (a + x, b + y)))
}

// ---------------------------------------------------------------------------------------
// Running and reporting

/// One demo account, for the summary.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    pub email: String,
    pub role: &'static str,
    pub name: String,
    pub conversations: usize,
    pub contracts: usize,
}

/// What was seeded.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub location: String,
    pub categories: usize,
    pub top_categories: usize,
    pub skills: usize,
    pub providers: usize,
    pub verified_providers: usize,
    pub clients: usize,
    pub services: usize,
    pub jobs: BTreeMap<&'static str, usize>,
    pub proposals: BTreeMap<&'static str, usize>,
    pub contracts: BTreeMap<&'static str, usize>,
    pub contract_events: usize,
    pub reviews: usize,
    pub likes: usize,
    pub conversations: usize,
    pub messages: usize,
    pub notifications: usize,
    pub unread_notifications: usize,
    pub demo: Vec<DemoLogin>,
    pub elapsed: std::time::Duration,
}

fn total(m: &BTreeMap<&'static str, usize>) -> usize {
    m.values().sum()
}

fn breakdown(m: &BTreeMap<&'static str, usize>) -> String {
    m.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", ")
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Seeded the demo marketplace into {} in {:.1}s:", self.location, self.elapsed.as_secs_f64())?;
        let rows: Vec<(&str, String)> = vec![
            ("categories", format!("{} ({} top-level)", self.categories, self.top_categories)),
            ("skills", self.skills.to_string()),
            (
                "users",
                format!("{} ({} providers, {} clients)", self.providers + self.clients, self.providers, self.clients),
            ),
            ("providers", format!("{} ({} verified)", self.providers, self.verified_providers)),
            ("services", self.services.to_string()),
            ("jobs", format!("{} ({})", total(&self.jobs), breakdown(&self.jobs))),
            ("proposals", format!("{} ({})", total(&self.proposals), breakdown(&self.proposals))),
            ("contracts", format!("{} ({})", total(&self.contracts), breakdown(&self.contracts))),
            ("contract events", self.contract_events.to_string()),
            ("reviews", self.reviews.to_string()),
            ("likes", self.likes.to_string()),
            ("conversations", self.conversations.to_string()),
            ("messages", self.messages.to_string()),
            ("notifications", format!("{} ({} unread)", self.notifications, self.unread_notifications)),
        ];
        for (k, v) in rows {
            writeln!(f, "  {k:<16} {v}")?;
        }
        writeln!(f)?;
        writeln!(f, "Demo logins (every demo account's password is \"{DEMO_PASSWORD}\"):")?;
        for d in &self.demo {
            let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
            writeln!(
                f,
                "  {:<26} {:<8} {:<20} {}, {}",
                d.email,
                d.role,
                d.name,
                plural(d.conversations, "conversation"),
                plural(d.contracts, "contract")
            )?;
        }
        writeln!(
            f,
            "  ... and the same pattern up to provider{}@{DEMO_DOMAIN} and client{}@{DEMO_DOMAIN}",
            self.providers, self.clients
        )?;
        writeln!(f)?;
        writeln!(f, "Start the server with the same settings: agora serve")
    }
}

fn summarize(p: &Plan, notes: (usize, usize), location: String, elapsed: std::time::Duration) -> Summary {
    let mut jobs = BTreeMap::new();
    for j in &p.jobs {
        *jobs.entry(j.status.as_str()).or_insert(0) += 1;
    }
    let mut proposals = BTreeMap::new();
    for x in &p.proposals {
        *proposals.entry(x.status.as_str()).or_insert(0) += 1;
    }
    let mut contracts = BTreeMap::new();
    for c in &p.contracts {
        let status = c.steps.last().map_or(ContractStatus::Pending, |s| s.to);
        *contracts.entry(status.as_str()).or_insert(0) += 1;
    }
    let demo_users = p
        .users
        .iter()
        .filter(|u| u.role == Role::Provider)
        .take(2)
        .chain(p.users.iter().filter(|u| u.role == Role::Client).take(2));
    let demo = demo_users
        .map(|u| DemoLogin {
            email: u.email.clone(),
            role: u.role.as_str(),
            name: format!("{} {}", u.first, u.last),
            conversations: p.conversations.iter().filter(|c| c.creator == u.id || c.other == u.id).count(),
            contracts: p
                .contracts
                .iter()
                .filter(|c| c.contract.client_id == u.id || c.contract.provider_id == u.id)
                .count(),
        })
        .collect();
    Summary {
        location,
        categories: p.categories.len(),
        top_categories: p.categories.iter().filter(|c| c.parent_id.is_none()).count(),
        skills: p.skills.len(),
        providers: p.providers.len(),
        verified_providers: p.providers.iter().filter(|x| x.is_verified).count(),
        clients: p.users.iter().filter(|u| u.role == Role::Client).count(),
        services: p.services.len(),
        jobs,
        proposals,
        contracts,
        contract_events: p.contracts.iter().map(|c| 1 + c.steps.len()).sum(),
        reviews: p.reviews.len(),
        likes: p.likes.len(),
        conversations: p.conversations.len(),
        messages: p.conversations.iter().map(|c| c.messages.len()).sum(),
        notifications: notes.0,
        unread_notifications: notes.1,
        demo,
        elapsed,
    }
}

/// Where the seed goes, for messages.
fn location(settings: &Settings) -> String {
    match settings.storage {
        StorageKind::Sqlite => {
            format!("{} (SQLite file {})", settings.data_dir.display(), settings.sqlite_path().display())
        }
        StorageKind::Scylla => {
            format!("ScyllaDB keyspace {} on {}", settings.scylla_keyspace, settings.scylla_nodes.join(","))
        }
    }
}

/// Seeds the configured storage; refuses when it already has any account.
/// Days of analytics history `agora seed` writes.
const HISTORY_DAYS: i64 = 90;

/// Search terms of the demo history; the last two find nothing.
const HISTORY_TERMS: [&str; 12] = [
    "plumbing",
    "garden",
    "tiles",
    "painting",
    "electrician",
    "moving",
    "cleaning",
    "logo design",
    "tutoring",
    "bathroom",
    "harp tuning",
    "xylophone repair",
];

/// 90 days of plausible analytics (page views, service views, clicks, searches; weekdays
/// busier than weekends, slowly growing), written as the ingestion route writes them, plus
/// each demo user's registration. Deterministic: the same plan gives the same history.
/// Waits until the event subscriber has written what the plan's commands published, so
/// nothing is lost when the seed exits. Answers how many facts it wrote.
async fn analytics_history(
    hub: &Hub,
    p: &Plan,
    services: &Minted<ServiceId, ServiceId>,
    now: OffsetDateTime,
) -> anyhow::Result<usize> {
    use agora_actors::analytics::RecordFacts;
    use agora_engine::analytics::{Fact, Kind};
    let send = |cmd: RecordFacts| async move { Ok::<_, anyhow::Error>(hub.market.send(cmd).await??) };
    let mut written = 0;
    for u in &p.users {
        let fact = Fact::new(Kind::UserRegistered, u.at).by(Some(u.id));
        send(RecordFacts {
            key: format!("d:user_registered:{}", u.id),
            facts: vec![fact],
            at: OffsetDateTime::now_utc(),
        })
        .await?;
        written += 1;
    }
    let listed: Vec<(ServiceId, UserId)> =
        p.services.iter().filter_map(|s| services.get(s.id).ok().map(|id| (id, s.owner_id))).collect();
    let clients: Vec<UserId> = p.users.iter().filter(|u| u.role == Role::Client).map(|u| u.id).collect();
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n.max(1)
    };
    for back in (0..HISTORY_DAYS).rev() {
        let day = (now - Duration::days(back)).date();
        let weekend = matches!(day.weekday(), time::Weekday::Saturday | time::Weekday::Sunday);
        let growth = (HISTORY_DAYS - back) as u64;
        let views = 40 + growth + next(40) - if weekend { 25 } else { 0 };
        let mut facts = Vec::new();
        for i in 0..views {
            let at = day.midnight().assume_utc() + Duration::minutes(next(24 * 60) as i64);
            let at = at.min(now);
            let signed_in = next(10) < 3 && !clients.is_empty();
            let user = signed_in.then(|| clients[next(clients.len() as u64) as usize]);
            let visitor = (!signed_in).then(|| format!("seed-visitor-{:04}", next(400)));
            let mut view = Fact::new(Kind::PageView, at).by(user);
            view.visitor = visitor.clone();
            view.path =
                Some(["/", "/services", "/jobs", "/providers", "/services/popular"][next(5) as usize].to_owned());
            facts.push(view);
            if i % 3 == 0 && !listed.is_empty() {
                // Popular services first: the square of a uniform pick leans to the front.
                let pick = next(listed.len() as u64);
                let (service, owner) = listed[(pick * pick / listed.len() as u64) as usize];
                let mut seen = Fact::new(Kind::ServiceViewed, at).by(user);
                (seen.service, seen.provider) = (Some(service), Some(owner));
                facts.push(seen);
            }
            if i % 5 == 0 {
                let mut click = Fact::new(Kind::Click, at).by(user);
                (click.visitor, click.target) = (visitor.clone(), Some("hero.cta".to_owned()));
                facts.push(click);
            }
            if i % 4 == 0 {
                let term = HISTORY_TERMS[next(HISTORY_TERMS.len() as u64) as usize];
                let mut search = Fact::new(Kind::Search, at).by(user);
                let empty = term == "harp tuning" || term == "xylophone repair";
                (search.query, search.search) = (Some(term.to_owned()), Some("services".to_owned()));
                search.results = Some(if empty { 0 } else { 3 + next(40) });
                facts.push(search);
            }
        }
        for (n, chunk) in facts.chunks(agora_engine::analytics::MAX_BATCH).enumerate() {
            let key = format!("seed:{}:{n}", agora_engine::analytics::ymd(day));
            // Received now, not at the seed's start: the rollup may already have read past that.
            send(RecordFacts { key, facts: chunk.to_vec(), at: OffsetDateTime::now_utc() }).await?;
            written += chunk.len();
        }
    }
    // What the plan's commands published is written by the subscriber; wait for it.
    for _ in 0..600 {
        if hub.analytics.send(agora_actors::subscribers::analytics::InFlight).await? == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(written)
}

pub async fn run(settings: &Settings, args: &SeedArgs) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let store = open_store(settings).await?;
    let (existing, _) = store.users().ids_page(1, None).await?;
    if !existing.is_empty() {
        anyhow::bail!(
            "{} already has accounts: `agora seed` only fills empty storage, so demo data never mixes with real \
             data. Point AGORA_DATA_DIR (or data_dir in --config) at a new directory, or delete this one, and run \
             it again.",
            location(settings)
        );
    }
    let password = Password::parse(DEMO_PASSWORD).map_err(|e| invalid("demo password", e))?;
    let hash = PasswordHasher::new()?.hash(&password).await.map_err(|e| anyhow::anyhow!("hashing: {e}"))?;
    let now = OffsetDateTime::now_utc();
    let p = plan(args, now)?;
    // The singleton actors, as `agora serve` starts them; mail only ever goes to the outbox.
    let mailer = Mailer::new(&settings.email_from, settings.outbox_dir(), None)?;
    let hub = Hub::start(store.clone(), mailer, settings.realtime_with_secrets()?)?;
    let services =
        Writer { market: &hub.market, store: &store, gateway: hub.cx.gateway.as_ref() }.write(&p, &hash, now).await?;
    let history = analytics_history(&hub, &p, &services, now).await?;
    let notes = notifications(&hub, &store, &p, now).await?;
    tracing::info!(facts = history, "analytics history written");
    Ok(summarize(&p, notes, location(settings), started.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_engine::contract::Trigger;

    fn small() -> SeedArgs {
        SeedArgs { providers: 5, services: 20, jobs: 10, clients: 5, conversations: 60 }
    }

    /// The texts and the story do not depend on when the seed runs.
    #[test]
    fn the_plan_is_deterministic() {
        let now = OffsetDateTime::now_utc();
        let later = now + Duration::days(3);
        let (a, b) = (plan(&SeedArgs::default(), now).expect("plan"), plan(&SeedArgs::default(), later).expect("plan"));
        let titles = |p: &Plan| p.services.iter().map(|s| (s.title.clone(), s.price)).collect::<Vec<_>>();
        assert_eq!(titles(&a), titles(&b));
        let bodies = |p: &Plan| {
            p.conversations.iter().flat_map(|c| c.messages.iter().map(|m| m.body.clone())).collect::<Vec<_>>()
        };
        assert_eq!(bodies(&a), bodies(&b));
        assert_eq!(a.proposals.len(), b.proposals.len());
    }

    #[test]
    fn the_default_plan_has_the_asked_counts_and_is_consistent() {
        let now = OffsetDateTime::now_utc();
        let p = plan(&SeedArgs::default(), now).expect("plan");
        assert_eq!(p.providers.len(), 50);
        assert_eq!(p.services.len(), 500);
        assert_eq!(p.jobs.len(), 200);
        assert_eq!(p.users.len(), 90);
        assert_eq!(p.contracts.len(), 20);
        assert_eq!(p.conversations.len(), 60);
        assert!((25..=40).contains(&p.skills.len()), "{} skills", p.skills.len());
        let open = p.jobs.iter().filter(|j| j.status == JobStatus::Open).count();
        assert!(open > 150, "mostly open: {open}");
        for j in &p.jobs {
            if let (Some(lo), Some(hi)) = (j.budget_min, j.budget_max) {
                assert!(lo.minor() <= hi.minor(), "{j:?}");
            }
            assert!(j.deadline.is_none_or(|d| d >= now.date()));
            assert_eq!(j.proposals_count as usize, p.proposals.iter().filter(|x| x.job_id == j.id).count());
        }
        let mut pairs = BTreeSet::new();
        for x in &p.proposals {
            assert!(pairs.insert((x.job_id, x.provider_id)), "two proposals by one provider on one job");
        }
        for c in &p.conversations {
            assert!((3..=10).contains(&c.messages.len()));
            assert!(c.messages.windows(2).all(|w| w[0].seq + 1 == w[1].seq && w[0].sent_at <= w[1].sent_at));
            assert!(c.messages.iter().all(|m| m.sent_at < now));
        }
        // Every completed contract is reviewed by its client.
        for cp in p.contracts.iter().filter(|c| c.steps.last().is_some_and(|s| s.to == ContractStatus::Completed)) {
            let engagement = Engagement::Contract(cp.contract.id);
            assert!(p.reviews.iter().any(|r| r.engagement == engagement && r.author_id == cp.contract.client_id));
        }
        for cp in &p.contracts {
            let mut s = ContractStatus::Pending;
            let mut at = cp.contract.created_at;
            for step in &cp.steps {
                let trigger = if step.to == ContractStatus::Active { Trigger::Funding } else { Trigger::Request };
                s = s.transition(step.to, step.by, trigger).expect("a legal transition").to;
                assert!(step.at > at && step.at < now);
                at = step.at;
            }
            // Nobody proposes on a job once it is hired.
            assert!(p
                .proposals
                .iter()
                .filter(|x| x.job_id == cp.contract.job_id)
                .all(|x| x.created_at < cp.contract.created_at));
        }
        for j in p.jobs.iter().filter(|j| j.status == JobStatus::Cancelled) {
            assert!(p.proposals.iter().filter(|x| x.job_id == j.id).all(|x| x.created_at < j.updated_at));
        }
        assert!(p.reviews.iter().all(|r| r.created_at < now));
        for s in &p.services {
            assert!(s.created_at < now && !s.title.is_empty() && s.price.minor() > 0);
        }
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration_text(45), "45 minutes");
        assert_eq!(duration_text(60), "an hour");
        assert_eq!(duration_text(90), "1 hour 30 minutes");
        assert_eq!(duration_text(180), "3 hours");
        assert_eq!(duration_text(DAY), "a day");
        assert_eq!(duration_text(7 * DAY), "7 days");
        assert_eq!(dollars(&usd(12_500).expect("usd")), "$125");
        assert_eq!(dollars(&usd(12_550).expect("usd")), "$125.50");
    }

    #[test]
    fn small_counts_still_give_the_first_demo_logins_a_story() {
        let p = plan(&small(), OffsetDateTime::now_utc()).expect("plan");
        let provider1 = p.users[0].id;
        let client1 = p.users[5].id;
        assert!(p.contracts.iter().any(|c| c.contract.provider_id == provider1 && c.contract.client_id == client1));
        assert!(p.conversations.iter().any(|c| [c.creator, c.other].contains(&provider1)));
        assert!(p.conversations.iter().any(|c| [c.creator, c.other].contains(&client1)));
        assert!(p.conversations.len() <= 25, "one conversation per pair at most");
        assert!(Password::parse(DEMO_PASSWORD).is_ok());
    }
}
