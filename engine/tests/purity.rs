//! The engine must stay pure: no async runtime, actix, SQL or CQL in its normal dependency tree.

use std::process::Command;

#[test]
fn engine_dependency_tree_has_no_runtime_or_database() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["tree", "-p", "agora-engine", "-e", "normal", "--prefix", "none", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.contains("agora-engine"), "unexpected cargo tree output: {tree}");
    for banned in ["tokio", "actix", "async-std", "rusqlite", "libsqlite3-sys", "scylla", "redis", "futures", "mio"] {
        let hit = tree.lines().any(|l| l.split_whitespace().next() == Some(banned));
        assert!(!hit, "agora-engine depends on {banned}:\n{tree}");
    }
}
