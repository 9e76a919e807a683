//! Replays the committed seed corpus (`corpus/<target>/*`) through the
//! fuzz targets' checks, on the stable toolchain:
//! `cargo test --manifest-path fuzz/Cargo.toml`. A seed that trips a check
//! fails here as it would under the fuzzer.

use std::path::Path;

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds for {target}");
    files
}

#[test]
fn every_target_has_seeds_and_they_pass() {
    for target in doorward_fuzz::TARGETS {
        for (name, data) in seeds(target) {
            eprintln!("{target}/{name}");
            assert!(doorward_fuzz::run(target, &data));
        }
    }
}

#[test]
fn the_token_fixture_signs_and_verifies() {
    doorward_fuzz::token_verify::self_test().unwrap();
    // The committed seed token is the fixture's (deterministic Ed25519).
    let seed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/token_verify/valid_token"),
    )
    .unwrap();
    assert_eq!(seed.trim_end(), doorward_fuzz::token_verify::valid_token());
}
