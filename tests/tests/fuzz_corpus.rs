//! The fuzz targets' corpora and past crashes, replayed on stable Rust: every file in
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` goes through the same property
//! the cargo-fuzz target checks (`agora_tests::fuzz`). A fixed crash stays fixed.

use std::path::PathBuf;

fn files(dir: PathBuf) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

#[test]
fn every_kept_input_holds_its_property() {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz"));
    let mut total = 0;
    for (name, property) in agora_tests::fuzz::TARGETS {
        let target = root.join("fuzz_targets").join(format!("{name}.rs"));
        assert!(target.is_file(), "no cargo-fuzz target {}", target.display());
        let corpus = files(root.join("corpus").join(name));
        assert!(!corpus.is_empty(), "{name}: no corpus in fuzz/corpus/{name}");
        for file in corpus.iter().chain(files(root.join("regressions").join(name)).iter()) {
            let data = std::fs::read(file).expect("read");
            let outcome = std::panic::catch_unwind(|| property(&data));
            assert!(outcome.is_ok(), "{name}: {} breaks the property", file.display());
            total += 1;
        }
    }
    assert!(total >= agora_tests::fuzz::TARGETS.len());
}
