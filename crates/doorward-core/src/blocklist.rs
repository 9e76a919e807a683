//! Passwords to refuse (NIST SP 800-63B 5.1.1.2, "values known to be
//! commonly-used or compromised"): the 100,000 most common passwords, built
//! into the binary, and an optional local Have I Been Pwned SHA-1 file.
//!
//! Both sit behind `passwords::Blocklist`; `app.rs` builds them once at start.
//!
//! The breached file is searched in place: a binary search over byte offsets
//! (seek, skip to the next line start, compare), so a 40 GB dump costs about
//! 35 small reads per check and no memory. The check runs inline on the
//! async worker that handles the sign-up: a few page-cached `read`s cost
//! microseconds, less than handing the work to another thread, and the
//! argon2 hash that follows is what goes to the bounded pool.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha1::{Digest, Sha1};
use unicode_normalization::UnicodeNormalization;

use crate::passwords::{Blocklist, PasswordPolicy};

/// SecLists' "10-million-password-list-top-100000" (MIT, see
/// `data/common-passwords-100k.LICENSE` and docs/import.md), folded, sorted
/// bytewise and deduplicated by `build.rs`, one entry per line.
const COMMON_SORTED: &str = include_str!(concat!(env!("OUT_DIR"), "/common-passwords.txt"));

/// The reason given for a common password.
pub const COMMON_REASON: &str =
    "This password is one of the most common passwords; choose another.";
/// The reason given for a password found in the breached file.
pub const BREACHED_REASON: &str = "This password has appeared in a data breach; choose another.";

/// The form both the list and candidates are compared in: NFKC, then
/// lower case, so "PASSWORD123" and full-width "ｐａｓｓｗｏｒｄ１２３" match
/// "password123". (`build.rs` folds the list the same way.)
fn fold(password: &str) -> String {
    password.nfkc().collect::<String>().to_lowercase()
}

/// The most common passwords: a sorted table in the binary's read-only
/// data, searched in place. No heap copy: only the ~17 pages a lookup
/// touches are ever read in, and they stay file-backed.
pub struct CommonPasswords {
    sorted: &'static str,
}

impl CommonPasswords {
    /// The embedded top-100,000 list.
    pub fn embedded() -> Self {
        CommonPasswords {
            sorted: COMMON_SORTED,
        }
    }

    pub fn len(&self) -> usize {
        self.sorted.lines().count()
    }

    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    pub fn contains(&self, password: &str) -> bool {
        sorted_lines_contain(self.sorted.as_bytes(), fold(password).as_bytes())
    }
}

/// Binary search for the line `needle` in `text`: lines sorted bytewise,
/// each ending in `\n`. Probes a byte offset, widens it to its line, compares.
fn sorted_lines_contain(text: &[u8], needle: &[u8]) -> bool {
    // `lo` and `hi` are always line starts (or the end): the needle, if
    // present, is a line inside [lo, hi).
    let (mut lo, mut hi) = (0, text.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let start = text
            .get(lo..mid)
            .and_then(|s| s.iter().rposition(|&b| b == b'\n'))
            .map_or(lo, |p| lo + p + 1);
        let end = text
            .get(start..hi)
            .and_then(|s| s.iter().position(|&b| b == b'\n'))
            .map_or(hi, |p| start + p);
        match text.get(start..end).unwrap_or_default().cmp(needle) {
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Less => lo = end + 1,
            std::cmp::Ordering::Greater => hi = start,
        }
    }
    false
}

impl Blocklist for CommonPasswords {
    fn reason(&self, password: &str) -> Option<String> {
        self.contains(password).then(|| COMMON_REASON.to_owned())
    }
}

/// A Have I Been Pwned "Pwned Passwords" SHA-1 file: `HASH:COUNT` lines,
/// upper-case hex, sorted by hash, LF or CRLF. Opened per check, so a file
/// replaced by a newer download is picked up without a restart.
pub struct BreachedFile {
    path: PathBuf,
}

impl BreachedFile {
    /// Check that `path` is a readable file (the caller names the config key).
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = File::open(path)?;
        if !file.metadata()?.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        Ok(BreachedFile {
            path: path.to_owned(),
        })
    }

    /// Whether SHA-1(`password`) is listed.
    pub fn contains(&self, password: &str) -> io::Result<bool> {
        let digest = Sha1::digest(password.as_bytes());
        let target: String = digest.iter().map(|b| format!("{b:02X}")).collect();
        let file = File::open(&self.path)?;
        let len = file.metadata()?.len();
        search(
            &mut BufReader::with_capacity(4096, file),
            len,
            target.as_bytes(),
        )
    }
}

impl Blocklist for BreachedFile {
    fn reason(&self, password: &str) -> Option<String> {
        match self.contains(password) {
            Ok(found) => found.then(|| BREACHED_REASON.to_owned()),
            // Fail open: the common list still applies, and an unreadable
            // file must not stop every sign-up. Loudly, so it gets fixed.
            Err(e) => {
                tracing::error!(path = %self.path.display(), error = %e, "password.breached_file: cannot be searched");
                None
            }
        }
    }
}

/// The policy Doorward runs with: the common list, plus the breached file
/// when `password.breached_file` is set. The file must be readable now: a
/// typo in the path is a start-up error naming the key, not a silent no-op.
pub fn standard_policy(breached_file: Option<&Path>) -> Result<PasswordPolicy, StartError> {
    let mut policy =
        PasswordPolicy::default().with_blocklist(Arc::new(CommonPasswords::embedded()));
    if let Some(path) = breached_file {
        let file = BreachedFile::open(path).map_err(|e| StartError {
            path: path.to_owned(),
            source: e,
        })?;
        policy = policy.with_blocklist(Arc::new(file));
    }
    Ok(policy)
}

/// `password.breached_file` cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("configuration: password.breached_file: cannot read `{}`: {source}", path.display())]
pub struct StartError {
    pub path: PathBuf,
    pub source: io::Error,
}

/// One line found by `line_from`: where it starts, where the next one
/// starts, and its hash field (upper-cased, without `:COUNT` or CR).
struct Line {
    start: u64,
    next: u64,
    key: Vec<u8>,
}

/// The first line that starts at or after `offset` (a line starts at 0 or
/// right after `\n`), or `None` when none starts before `len`.
fn line_from<R: BufRead + Seek>(r: &mut R, offset: u64, len: u64) -> io::Result<Option<Line>> {
    let mut buf = Vec::with_capacity(64);
    let start = if offset == 0 {
        r.seek(SeekFrom::Start(0))?;
        0
    } else {
        // Resync: the byte before `offset` may be the `\n` ending a line.
        r.seek(SeekFrom::Start(offset - 1))?;
        let skipped = r.read_until(b'\n', &mut buf)? as u64;
        offset - 1 + skipped
    };
    if start >= len {
        return Ok(None);
    }
    buf.clear();
    let read = r.read_until(b'\n', &mut buf)? as u64;
    let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let key = line
        .split(|&b| b == b':')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    Ok(Some(Line {
        start,
        next: start + read,
        key,
    }))
}

/// Binary search over byte offsets for a line whose hash is `target`.
/// Invariant: if the line is there, it starts in `[lo, hi)`.
fn search<R: BufRead + Seek>(r: &mut R, len: u64, target: &[u8]) -> io::Result<bool> {
    let (mut lo, mut hi) = (0u64, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match line_from(r, mid, len)? {
            // No line starts in [mid, hi): the target starts before mid.
            None => hi = mid,
            Some(line) if line.start >= hi => hi = mid,
            Some(line) => match line.key.as_slice().cmp(target) {
                std::cmp::Ordering::Equal => return Ok(true),
                std::cmp::Ordering::Less => lo = line.next,
                std::cmp::Ordering::Greater => hi = mid,
            },
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn sha1_hex(p: &str) -> String {
        Sha1::digest(p.as_bytes())
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect()
    }

    /// A sorted HIBP-style file of the given passwords plus filler hashes.
    fn breached_file(passwords: &[&str], filler: usize, eol: &str) -> tempfile::NamedTempFile {
        let mut hashes: Vec<String> = passwords.iter().map(|p| sha1_hex(p)).collect();
        hashes.extend((0..filler).map(|i| sha1_hex(&format!("filler-{i}"))));
        hashes.sort();
        let mut f = tempfile::NamedTempFile::new().unwrap();
        for (i, h) in hashes.iter().enumerate() {
            write!(f, "{h}:{}{eol}", i + 1).unwrap();
        }
        f.flush().unwrap();
        f
    }

    #[test]
    fn common_list_has_100k_entries_and_folds_case_and_width() {
        let list = CommonPasswords::embedded();
        // 100,000 lines; about 3,500 differ only by case and fold together.
        assert!(list.len() > 95_000, "{}", list.len());
        assert!(list.contains("password123"));
        assert!(list.contains("PASSWORD123"));
        assert!(list.contains("PassWord123"));
        // Full-width letters and digits are the same password after NFKC.
        assert!(list.contains("ｐａｓｓｗｏｒｄ１２３"));
        assert!(!list.contains("correct horse battery staple"));
        assert_eq!(list.reason("qwerty123").as_deref(), Some(COMMON_REASON));
    }

    #[test]
    fn common_table_is_sorted_folded_and_has_every_listed_password() {
        let table = CommonPasswords::embedded();
        let lines: Vec<&str> = table.sorted.lines().collect();
        assert!(
            lines.windows(2).all(|w| w[0] < w[1]),
            "sorted, no duplicates"
        );
        assert!(lines.iter().all(|l| !l.is_empty() && fold(l) == *l));
        // Every line of the source list is found, in its original spelling.
        let source = include_str!("../data/common-passwords-100k.txt");
        let missing: Vec<&str> = source
            .lines()
            .filter(|l| !l.is_empty() && !table.contains(l))
            .collect();
        assert!(missing.is_empty(), "{:?}", &missing[..missing.len().min(5)]);
        // The first and last entries, and neighbours that are not listed.
        assert!(table.contains(lines[0]) && table.contains(lines[lines.len() - 1]));
        for absent in [
            "",
            "\u{0}",
            "~~~~~~~~~~~~~~~~",
            "correct horse battery staple",
        ] {
            assert!(!table.contains(absent), "{absent:?}");
        }
    }

    #[test]
    fn sorted_search_on_small_tables() {
        let t = b"b\ndd\nf\n";
        for (needle, found) in [
            ("b", true),
            ("dd", true),
            ("f", true),
            ("a", false),
            ("c", false),
            ("d", false),
            ("ddd", false),
            ("g", false),
            ("", false),
        ] {
            assert_eq!(
                sorted_lines_contain(t, needle.as_bytes()),
                found,
                "{needle:?}"
            );
        }
        assert!(!sorted_lines_contain(b"", b"a"));
        assert!(sorted_lines_contain(b"only\n", b"only"));
    }

    #[test]
    fn breached_file_finds_every_entry_lf_and_crlf() {
        let listed = ["hunter2hunter2", "correct horse", "Tr0ub4dor&3", "zzzz"];
        for eol in ["\n", "\r\n"] {
            let file = breached_file(&listed, 500, eol);
            let b = BreachedFile::open(file.path()).unwrap();
            for p in listed {
                assert!(b.contains(p).unwrap(), "{p:?} with {eol:?}");
            }
            for i in [0, 1, 250, 498, 499] {
                assert!(b.contains(&format!("filler-{i}")).unwrap(), "filler {i}");
            }
            for p in ["not listed", "another one", "", "filler-500"] {
                assert!(!b.contains(p).unwrap(), "{p:?}");
            }
            assert_eq!(b.reason("zzzz").as_deref(), Some(BREACHED_REASON));
        }
    }

    #[test]
    fn breached_file_first_and_last_lines() {
        let file = breached_file(&[], 100, "\n");
        let text = std::fs::read_to_string(file.path()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let b = BreachedFile::open(file.path()).unwrap();
        let mut r = BufReader::new(File::open(file.path()).unwrap());
        let len = text.len() as u64;
        for line in [lines[0], lines[50], lines[99]] {
            let hash = line.split(':').next().unwrap();
            assert!(search(&mut r, len, hash.as_bytes()).unwrap(), "{line}");
        }
        // Before the first and after the last hash.
        assert!(!search(
            &mut r,
            len,
            "0000000000000000000000000000000000000000".as_bytes()
        )
        .unwrap());
        assert!(!search(
            &mut r,
            len,
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF".as_bytes()
        )
        .unwrap());
        assert!(!b.contains("filler-100").unwrap());
    }

    #[test]
    fn breached_file_of_one_line_with_and_without_newline() {
        for eol in ["", "\n", "\r\n"] {
            let mut f = tempfile::NamedTempFile::new().unwrap();
            write!(f, "{}:42{eol}", sha1_hex("only one")).unwrap();
            f.flush().unwrap();
            let b = BreachedFile::open(f.path()).unwrap();
            assert!(b.contains("only one").unwrap(), "{eol:?}");
            assert!(!b.contains("only two").unwrap(), "{eol:?}");
        }
        let empty = tempfile::NamedTempFile::new().unwrap();
        assert!(!BreachedFile::open(empty.path())
            .unwrap()
            .contains("x")
            .unwrap());
    }

    #[test]
    fn breached_file_must_exist_and_be_a_file() {
        assert!(BreachedFile::open(Path::new("/nonexistent/pwned.txt")).is_err());
        let dir = tempfile::tempdir().unwrap();
        assert!(BreachedFile::open(dir.path()).is_err());
    }
}
