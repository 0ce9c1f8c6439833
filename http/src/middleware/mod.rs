//! Request middleware: rate limits, metrics and logs, trailing slashes, error envelopes,
//! security headers.

pub mod envelope;
pub mod observe;
pub mod rate_limit;
pub mod security;
pub mod trailing_slash;
