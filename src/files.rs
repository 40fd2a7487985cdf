//! Small file helpers shared by the key files and the data dir: sibling
//! names, owner-only lock files, durable renames.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// `path` with `suffix` appended to its file name (`a.db` → `a.db.tmp`).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Opens (creating if needed, mode 0600) a lock file.
pub fn lock_file(path: &Path) -> anyhow::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path).with_context(|| format!("opening {}", path.display()))
}

/// Makes a rename or create in the file's directory durable.
pub fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
}
