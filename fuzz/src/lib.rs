//! The checks behind Doorward's fuzz targets, one module per target.
//!
//! Each `check(data)` feeds bytes an attacker (or an operator's legacy file)
//! controls to a Doorward parser and asserts what must hold for every input:
//! no panic, and the target's own properties (a tampered token never
//! verifies, an error is always a 4xx problem, a refused `return_to` never
//! leaves the allowed origins, ...). A failed assertion is a finding.
//!
//! The fuzz targets in `fuzz_targets/` are one line each; the seed corpus
//! in `corpus/<target>/` replays through the same functions in
//! `tests/seeds.rs` (`cargo test --manifest-path fuzz/Cargo.toml`, stable).

pub mod cookies_headers;
pub mod identifiers;
pub mod import_readers;
pub mod phc_hash;
pub mod request_bodies;
pub mod return_to;
pub mod token_verify;

/// The fuzz targets, as named in `Cargo.toml`, `run.sh` and `corpus/`.
pub const TARGETS: [&str; 7] = [
    "token_verify",
    "request_bodies",
    "phc_hash",
    "cookies_headers",
    "import_readers",
    "return_to",
    "identifiers",
];

/// Runs target `name` on `data`; `false` for an unknown name.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "token_verify" => token_verify::check(data),
        "request_bodies" => request_bodies::check(data),
        "phc_hash" => phc_hash::check(data),
        "cookies_headers" => cookies_headers::check(data),
        "import_readers" => import_readers::check(data),
        "return_to" => return_to::check(data),
        "identifiers" => identifiers::check(data),
        _ => return false,
    }
    true
}

/// `data` split at the first `\n`: (first line, rest). No newline: all of it
/// is the first line.
pub(crate) fn first_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}
