//! Agora's actix-web application: REST routes, auth, rate limits, CORS, OpenAPI, metrics,
//! health, configuration, and the `agora` command line.

pub mod auth;
pub mod cli;
pub mod client_ip;
pub mod config;
pub mod error;
pub mod idempotency;
pub use agora_actors::mail;
pub mod market;
pub mod middleware;
pub mod openapi;
pub mod routes;
pub mod seed;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod web;
pub mod ws;

pub use config::Settings;
pub use startup::Application;
