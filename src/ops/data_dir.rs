//! The data directory: created owner-only, since it holds the database.

use std::path::Path;

use anyhow::{bail, Context};

pub fn create(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).with_context(|| {
        format!(
            "creating the data dir {} (--data-dir / MOLECULE_DATA_DIR)",
            dir.display()
        )
    })
}

/// For commands that must not create a database where none was meant to be.
pub fn require_db(dir: &Path) -> anyhow::Result<()> {
    let db = dir.join(crate::store::DB_FILE);
    if db.exists() {
        Ok(())
    } else {
        anyhow::bail!(
            "no database at {} — point --data-dir (or MOLECULE_DATA_DIR) at the dir `serve` uses",
            db.display()
        )
    }
}

/// The lock every `serve` holds on its data dir (exclusively, while it
/// serves); `restore` needs it, so it can never replace a database under a
/// running server, and the CLI knows from it that a server must confirm
/// its changes.
pub fn serve_lock(data_dir: &Path) -> anyhow::Result<std::fs::File> {
    crate::files::lock_file(&data_dir.join("serve.lock"))
}

/// Only the data dir's owner may open it: a command run as another user
/// (root, say) would leave files the server cannot write (the WAL, the
/// anchor), and lock it out of its own database.
pub fn check_owner(data_dir: &Path) -> anyhow::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let (Ok(meta), Some(me)) = (std::fs::metadata(data_dir), effective_uid()) else {
            return Ok(());
        };
        if meta.uid() != me {
            bail!(
                "the data dir {} belongs to uid {}, and this runs as uid {me}: run it as the dir's owner \
                 (runuser -u OWNER -- molecule-tenant …), or the files it writes would lock the server out",
                data_dir.display(),
                meta.uid()
            );
        }
    }
    Ok(())
}

/// The effective uid, from /proc (std has no geteuid, and this crate
/// forbids unsafe code).
#[cfg(target_os = "linux")]
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
