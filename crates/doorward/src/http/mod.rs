//! The JSON API: one file per resource, handlers thin (body → core call →
//! response), errors through `problem.rs`.

pub mod account;
pub mod admin;
pub mod auth;
pub mod extract;
pub mod lifecycle;
pub mod openapi;
pub mod ops;
pub mod problem;
pub mod wellknown;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// RFC 3339 UTC, as every timestamp in the API.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}
