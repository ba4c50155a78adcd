//! Replays every file of `seeds/` through the fuzz target's checks, on the
//! stable toolchain and without libFuzzer: the seeds double as regression
//! tests for the bugs the fuzzer found.

use std::fs;
use std::panic;
use std::path::Path;

#[test]
fn every_seed_passes_the_checks() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let mut paths: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no seeds in {}", dir.display());
    let mut failed = Vec::new();
    for path in &paths {
        let data = fs::read(path).unwrap();
        if panic::catch_unwind(|| bitcoim_fuzz::check(&data)).is_err() {
            failed.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    assert!(failed.is_empty(), "seeds failing the checks: {failed:?}");
}
