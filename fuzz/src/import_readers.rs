//! `doorward import --format csv`: the CSV reader
//! (`cli::import::read_csv_from`) and, on every row it yields, the checks
//! `Accounts::import_user` runs before it writes anything (email, username,
//! `is_supported_hash`).
//!
//! Input: the CSV file. (The `fastapi-sqlite` reader reads a SQLite file
//! through SQLite itself and one `SELECT`; its own logic is a trim per
//! column, so it has no target.)
//!
//! Properties: the reader never panics; a file is refused only for its
//! header; every row is reported by line, in order (never going back); a row it yields has a
//! non-empty email and hash, and an optional username that is never empty.

use doorward::cli::import::read_csv_from;
use doorward_core::passwords::is_supported_hash;
use doorward_core::types::{Email, Username};

pub fn check(data: &[u8]) {
    let Ok(rows) = read_csv_from(data, "fuzz.csv") else {
        return;
    };
    let mut last_line = 1u64;
    // Lines, not records: a file whose records end in a bare `\r` is all on
    // line 1, so the numbers only never go back.
    for row in rows {
        let line: u64 = row
            .place
            .strip_prefix("line ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("place {:?}", row.place));
        assert!(line >= last_line, "line {line} after {last_line}");
        last_line = line;
        let Ok(user) = row.user else {
            continue;
        };
        assert!(!user.email.is_empty() && !user.password_hash.is_empty());
        assert!(user.username.as_deref() != Some(""));
        let _ = Email::parse(&user.email);
        let _ = user.username.as_deref().map(Username::parse);
        let _ = is_supported_hash(&user.password_hash);
    }
}
