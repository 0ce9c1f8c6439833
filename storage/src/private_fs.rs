//! Owner-only files: the data dir holds the database, the JWT secret and the email outbox
//! (whose messages carry reset tokens), so nothing in it may be readable by other local
//! users whatever the umask. Directories are created 0700 and files 0600 (on Unix; elsewhere
//! these are plain creates and the platform's ACLs apply).

use std::io;
use std::path::Path;

/// Creates `dir` and any missing parents with mode 0700. An existing directory keeps its
/// mode (an operator may have chosen a group on purpose; see [`warn_if_shared`]).
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Logs a warning when an existing `dir` is accessible to group or others (the files in it
/// are 0600 regardless).
pub fn warn_if_shared(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = std::fs::metadata(dir) {
            let mode = meta.permissions().mode() & 0o777;
            if meta.is_dir() && mode & 0o077 != 0 {
                tracing::warn!(dir = %dir.display(), mode = format!("{mode:o}"),
                    "the data dir is accessible to other users; its files are not, but consider chmod 700");
            }
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Creates `path` empty with mode 0600 if it does not exist, and sets 0600 on it if it does.
pub fn ensure_private_file(path: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)?;
    restrict_if_exists(path)
}

/// Sets mode 0600 on `path` when it exists.
pub fn restrict_if_exists(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        match std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            other => return other,
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Writes `bytes` to a new file `path` created with mode 0600 (fails if it exists).
pub fn write_private_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn dirs_are_0700_and_files_0600() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("a").join("b");
        create_private_dir(&dir).expect("create");
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&root.path().join("a")), 0o700);
        let f = dir.join("f");
        write_private_file(&f, b"x").expect("write");
        assert_eq!(mode(&f), 0o600);
        let g = dir.join("g");
        std::fs::write(&g, b"y").expect("write");
        std::fs::set_permissions(&g, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        ensure_private_file(&g).expect("restrict");
        assert_eq!(mode(&g), 0o600);
        assert_eq!(std::fs::read(&g).expect("read"), b"y", "not truncated");
    }
}
