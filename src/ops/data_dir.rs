//! The data directory: created owner-only, since it holds the database.

use std::path::Path;

use anyhow::Context;

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
