//! Builds the common-password table: the embedded list folded (NFKC, lower
//! case, as `blocklist::fold` does), sorted bytewise and deduplicated, one
//! entry per line. The server binary-searches it in place (read-only data,
//! no heap set).

use std::error::Error;
use std::path::PathBuf;

use unicode_normalization::UnicodeNormalization;

const LIST: &str = "data/common-passwords-100k.txt";

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={LIST}");
    println!("cargo:rerun-if-changed=build.rs");
    let text = std::fs::read_to_string(LIST)?;
    let mut folded: Vec<String> = text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.is_empty())
        .map(|l| l.nfkc().collect::<String>().to_lowercase())
        .filter(|l| !l.contains('\n'))
        .collect();
    folded.sort_unstable();
    folded.dedup();
    let mut table = folded.join("\n");
    table.push('\n');
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("common-passwords.txt");
    std::fs::write(out, table)?;
    Ok(())
}
