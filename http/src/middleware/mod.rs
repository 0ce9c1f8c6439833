//! Request middleware: rate limits, metrics and logs, trailing slashes, error envelopes.

pub mod envelope;
pub mod observe;
pub mod rate_limit;
pub mod trailing_slash;
