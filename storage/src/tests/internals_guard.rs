//! The `internals` feature exposes raw tables for the storage benchmark only: no other
//! manifest in the workspace may enable it.

#[test]
fn only_the_benchmarks_enable_the_internals_feature() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut enabling = Vec::new();
    for member in ["engine", "storage", "actors", "http", "tests", "benches"] {
        let manifest = root.join(member).join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).expect("read a member manifest");
        let uses = text.lines().any(|l| l.starts_with("agora-storage") && l.contains("\"internals\""));
        if uses {
            enabling.push(member);
        }
    }
    assert_eq!(enabling, ["benches"], "only benches/ may enable agora-storage's internals");
    let workspace = std::fs::read_to_string(root.join("Cargo.toml")).expect("read the workspace manifest");
    let dep = workspace.lines().find(|l| l.starts_with("agora-storage")).expect("agora-storage in the workspace");
    assert!(!dep.contains("internals"), "the workspace dependency must not enable internals: {dep}");
}
