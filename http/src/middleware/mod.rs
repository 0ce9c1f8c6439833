//! Request middleware: rate limits, metrics and logs, trailing slashes, error envelopes,
//! security headers, conditional GET.

pub mod envelope;
pub mod etag;
pub mod observe;
pub mod rate_limit;
pub mod security;
pub mod trailing_slash;
