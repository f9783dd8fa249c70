//! The spill file: route chunks that could not be written at shutdown
//! (the database was down) are saved to a local file, and the next start
//! writes them before serving. Files are named by a hash of the database
//! URL, so a spill is only ever replayed into the database it belongs to
//! (and the URL, which may hold a password, is never written).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::{ActivityId, Fix};
use crate::store::{DynStore, RouteChunk, StoreResult};

#[derive(Serialize, Deserialize)]
struct Spilled {
    activity_id: i64,
    seq: i64,
    fixes: Vec<Fix>,
}

#[derive(Debug, Clone)]
pub struct SpillFile {
    dir: PathBuf,
    prefix: String,
}

impl SpillFile {
    pub fn new(dir: PathBuf, database_url: &str) -> SpillFile {
        let digest = Sha256::digest(database_url.as_bytes());
        let prefix = format!("pacer-spill-{}-", &hex::encode(digest)[..16]);
        SpillFile { dir, prefix }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Saves the chunks in a new file (written, synced, then renamed into
    /// place, so a half-written file is never replayed).
    pub fn save(&self, chunks: &[RouteChunk]) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(&self.dir)?;
        let name = format!(
            "{}{}-{}.jsonl",
            self.prefix,
            crate::domain::now_ms(),
            std::process::id()
        );
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        for c in chunks {
            let line = serde_json::to_string(&Spilled {
                activity_id: c.activity_id.0,
                seq: c.seq,
                fixes: c.fixes.clone(),
            })?;
            out.write_all(line.as_bytes())?;
            out.write_all(b"\n")?;
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        if let Ok(dir) = std::fs::File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(path)
    }

    /// This database's spill files, oldest first.
    fn files(&self) -> std::io::Result<Vec<PathBuf>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&self.prefix) && n.ends_with(".jsonl"))
            })
            .collect();
        files.sort();
        Ok(files)
    }

    /// Writes every spilled chunk to the store, then removes the files.
    /// Chunks already stored are kept as they are, so a replay interrupted
    /// after its commit is harmless. Answers the number of chunks.
    pub async fn replay(&self, store: &DynStore) -> Result<usize, SpillError> {
        let mut total = 0;
        for path in self.files()? {
            let text = std::fs::read_to_string(&path)?;
            let chunks = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    serde_json::from_str::<Spilled>(l).map(|s| RouteChunk {
                        activity_id: ActivityId(s.activity_id),
                        seq: s.seq,
                        fixes: s.fixes,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            write(store, &chunks).await?;
            std::fs::remove_file(&path)?;
            tracing::info!(chunks = chunks.len(), path = %path.display(), "replayed spilled fixes");
            total += chunks.len();
        }
        Ok(total)
    }
}

async fn write(store: &DynStore, chunks: &[RouteChunk]) -> StoreResult<()> {
    for group in chunks.chunks(1_000) {
        store.checkpoint(&[], group).await?;
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum SpillError {
    #[error("spill file: {0}")]
    Io(#[from] std::io::Error),
    #[error("spill file is corrupt: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spilled_chunks_round_trip_and_stay_with_their_database() {
        let dir = tempfile::tempdir().unwrap();
        let a = SpillFile::new(dir.path().to_path_buf(), "postgres://a");
        let b = SpillFile::new(dir.path().to_path_buf(), "postgres://b");
        let chunk = RouteChunk {
            activity_id: ActivityId(7),
            seq: 3,
            fixes: vec![Fix::new(1_000, 59.9, 10.7), Fix::new(2_000, 59.91, 10.7)],
        };
        a.save(std::slice::from_ref(&chunk)).unwrap();
        assert_eq!(a.files().unwrap().len(), 1);
        assert!(b.files().unwrap().is_empty());
        let text = std::fs::read_to_string(&a.files().unwrap()[0]).unwrap();
        let back: Spilled = serde_json::from_str(text.trim()).unwrap();
        assert_eq!((back.activity_id, back.seq), (7, 3));
        assert_eq!(back.fixes, chunk.fixes);
    }
}
