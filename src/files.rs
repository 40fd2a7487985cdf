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

/// Replaces `path` with `contents`, owner-only, durably and atomically: a
/// temporary file, fsynced, renamed into place, the directory fsynced. A
/// reader sees the old contents or the new, never half.
pub fn replace_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let tmp = with_suffix(path, ".tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(contents)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path).with_context(|| format!("moving {} into place", path.display()))?;
    sync_dir(path);
    Ok(())
}

/// Refuses a key file that group or others may read.
pub fn check_private(path: &Path, what: &str, hint: &str) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("reading the {what} {} {hint}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            anyhow::bail!(
                "the {what} {} is readable by group or others (mode {:o}); run chmod 600 on it {hint}",
                path.display(),
                mode & 0o777
            );
        }
    }
    #[cfg(not(unix))]
    let _ = (path, what, hint);
    Ok(())
}
