//! A template in a directory on the box (a git checkout): its text files.

use std::path::Path;

use std::io::Read;

use anyhow::{bail, Context};

use crate::domain::archive::{looks_like_text, SNIFF};
use crate::domain::org_yaml::{Files, MAX_FILES, MAX_FILE_BYTES, MAX_TOTAL_BYTES};

/// The directory's files by relative path, and what was left out (links,
/// files that are not UTF-8 text); `.git` is never read.
pub fn read(root: &Path) -> anyhow::Result<(Files, Vec<String>)> {
    if !root.join("org.yaml").is_file() {
        bail!("{} holds no org.yaml (the template's entry point)", root.display());
    }
    let (mut files, mut skipped, mut total) = (Files::new(), Vec::new(), 0usize);
    walk(root, root, &mut files, &mut skipped, &mut total)?;
    Ok((files, skipped))
}

fn walk(
    root: &Path,
    dir: &Path,
    files: &mut Files,
    skipped: &mut Vec<String>,
    total: &mut usize,
) -> anyhow::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        // A .git directory, or the .git file of a worktree or submodule.
        if entry.file_name() == ".git" {
            continue;
        }
        let kind = entry
            .file_type()
            .with_context(|| format!("reading {}", path.display()))?;
        if kind.is_dir() {
            walk(root, &path, files, skipped, total)?;
            continue;
        }
        if !kind.is_file() {
            skipped.push(format!("{rel}: not a regular file"));
            continue;
        }
        // Binaries are left out unread beyond their first bytes, and count
        // toward no limit (as in an uploaded tarball).
        let mut head = Vec::new();
        std::fs::File::open(&path)
            .and_then(|f| f.take(SNIFF).read_to_end(&mut head))
            .with_context(|| format!("reading {}", path.display()))?;
        if !looks_like_text(&head) {
            skipped.push(format!("{rel}: not UTF-8 text"));
            continue;
        }
        let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
        if len > MAX_FILE_BYTES as u64 {
            bail!("{rel}: at most {MAX_FILE_BYTES} bytes a file");
        }
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let Ok(text) = String::from_utf8(bytes) else {
            skipped.push(format!("{rel}: not UTF-8 text"));
            continue;
        };
        *total += text.len();
        if *total > MAX_TOTAL_BYTES {
            bail!("the template is over {MAX_TOTAL_BYTES} bytes in all");
        }
        files.insert(rel, text);
        if files.len() > MAX_FILES {
            bail!("the template has more than {MAX_FILES} files");
        }
    }
    Ok(())
}
