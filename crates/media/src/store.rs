//! [`MediaStore`]: one region's media objects behind `object_store`.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::MediaError;

/// One region's media objects (videos, posters), addressed by `/`-separated keys such as
/// `videos/123.mp4`.
///
/// Cheap to clone: clones share the same backend.
#[derive(Clone)]
pub struct MediaStore {
    /// A trait object so a cell can switch from a local folder to S3 by configuration alone.
    inner: Arc<dyn ObjectStore>,
    /// Where the objects live, as given to [`MediaStore::open`] (canonical path for folders),
    /// for logs, `reelm config` output and the residency audit.
    root: String,
}

impl fmt::Debug for MediaStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaStore")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for MediaStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.root)
    }
}

impl MediaStore {
    /// `url` is `file:///abs/path`, a plain filesystem path (created if missing), or
    /// `memory://` (tests; contents vanish with the last clone).
    pub fn open(url: &str) -> Result<MediaStore, MediaError> {
        let open_err = |reason: String| MediaError::Open {
            url: url.to_owned(),
            reason,
        };
        if url.starts_with("memory:") {
            return Ok(MediaStore {
                inner: Arc::new(InMemory::new()),
                root: "memory://".to_owned(),
            });
        }
        let dir = if let Some(rest) = url.strip_prefix("file://") {
            // Only local `file:///abs` URLs; a host part (`file://server/x`) is not supported.
            if !rest.starts_with('/') {
                return Err(open_err(
                    "a file URL must be file:///absolute/path (no host)".to_owned(),
                ));
            }
            rest
        } else if url.contains("://") {
            return Err(open_err(
                "unsupported scheme (use file:///path, a plain path, or memory://)".to_owned(),
            ));
        } else {
            url
        };
        if dir.is_empty() {
            return Err(open_err("empty path".to_owned()));
        }
        std::fs::create_dir_all(dir).map_err(|e| open_err(format!("cannot create folder: {e}")))?;
        // Automatic cleanup removes folders left empty by `delete`, so erasing a person's media
        // does not leave their key prefixes (and so their ids) behind on disk.
        let local = LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| open_err(e.to_string()))?
            .with_automatic_cleanup(true);
        let root = std::fs::canonicalize(dir)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| dir.to_owned());
        Ok(MediaStore {
            inner: Arc::new(local),
            root,
        })
    }

    /// Where the objects live (canonical folder path or `memory://`).
    pub fn root(&self) -> &str {
        &self.root
    }

    /// Stores `bytes` under `key`, replacing any previous object. Local writes go to a
    /// temporary file first and are renamed into place, so readers never see half an object.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), MediaError> {
        let path = parse_key(key)?;
        self.inner
            .put(&path, PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|e| map_err("put", key, e))
    }

    /// The object's size in bytes; [`MediaError::NotFound`] if absent.
    pub async fn size(&self, key: &str) -> Result<u64, MediaError> {
        let path = parse_key(key)?;
        let meta = self
            .inner
            .head(&path)
            .await
            .map_err(|e| map_err("head", key, e))?;
        Ok(meta.size)
    }

    /// The bytes in `range` (half-open, as returned by [`crate::parse_range_header`]). The
    /// range must lie within the object; an empty range returns no bytes (after checking that
    /// the object exists).
    pub async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, MediaError> {
        let path = parse_key(key)?;
        if range.start >= range.end {
            // object_store rejects empty ranges; keep the NotFound contract anyway.
            self.size(key).await?;
            return Ok(Bytes::new());
        }
        self.inner
            .get_range(&path, range)
            .await
            .map_err(|e| map_err("get_range", key, e))
    }

    /// The whole object. Fine for posters and short clips; stream large files with
    /// [`MediaStore::get_range`].
    pub async fn get(&self, key: &str) -> Result<Bytes, MediaError> {
        let path = parse_key(key)?;
        let result = self
            .inner
            .get(&path)
            .await
            .map_err(|e| map_err("get", key, e))?;
        result.bytes().await.map_err(|e| map_err("get", key, e))
    }

    /// Deletes the object; deleting a missing key is `Ok` (deletion is idempotent, so an
    /// interrupted erasure can simply be retried).
    pub async fn delete(&self, key: &str) -> Result<(), MediaError> {
        let path = parse_key(key)?;
        match self.inner.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(map_err("delete", key, e)),
        }
    }

    /// All keys in the store, sorted, for the residency audit.
    pub async fn list_keys(&self) -> Result<Vec<String>, MediaError> {
        let mut keys: Vec<String> = self
            .inner
            .list(None)
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
            .map_err(|e| map_err("list", "", e))?;
        keys.sort();
        Ok(keys)
    }
}

/// Keys are `/`-separated relative paths without empty, `.` or `..` segments, so a key can
/// never escape the store's folder.
fn parse_key(key: &str) -> Result<Path, MediaError> {
    let invalid = |reason: String| MediaError::InvalidKey {
        key: key.to_owned(),
        reason,
    };
    if key.is_empty() {
        return Err(invalid("empty key".to_owned()));
    }
    let path = Path::parse(key).map_err(|e| invalid(e.to_string()))?;
    // `Path::parse` tolerates a leading or trailing `/` by dropping it; refuse those so that
    // one object has exactly one key.
    if path.as_ref() != key {
        return Err(invalid("leading or trailing '/'".to_owned()));
    }
    Ok(path)
}

fn map_err(op: &'static str, key: &str, e: object_store::Error) -> MediaError {
    match e {
        object_store::Error::NotFound { .. } => MediaError::NotFound(key.to_owned()),
        other => MediaError::Storage {
            op,
            key: key.to_owned(),
            source: Box::new(other),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn round_trip(store: &MediaStore) {
        let data = Bytes::from_static(b"0123456789abcdef");
        store
            .put("videos/1/clip.mp4", data.clone())
            .await
            .expect("put");
        store
            .put("posters/1.jpg", Bytes::from_static(b"jpg"))
            .await
            .expect("put");
        assert_eq!(store.size("videos/1/clip.mp4").await.expect("size"), 16);
        assert_eq!(store.get("videos/1/clip.mp4").await.expect("get"), data);
        assert_eq!(
            store
                .get_range("videos/1/clip.mp4", 2..5)
                .await
                .expect("range"),
            Bytes::from_static(b"234")
        );
        assert_eq!(
            store
                .get_range("videos/1/clip.mp4", 10..16)
                .await
                .expect("range"),
            Bytes::from_static(b"abcdef")
        );
        assert!(
            store
                .get_range("videos/1/clip.mp4", 3..3)
                .await
                .expect("empty")
                .is_empty()
        );
        assert_eq!(
            store.list_keys().await.expect("list"),
            vec!["posters/1.jpg".to_owned(), "videos/1/clip.mp4".to_owned()]
        );

        // Overwrite replaces.
        store
            .put("posters/1.jpg", Bytes::from_static(b"jpeg2"))
            .await
            .expect("put");
        assert_eq!(store.size("posters/1.jpg").await.expect("size"), 5);

        store.delete("videos/1/clip.mp4").await.expect("delete");
        store
            .delete("videos/1/clip.mp4")
            .await
            .expect("delete twice");
        store.delete("never/was.mp4").await.expect("delete missing");
        assert!(matches!(
            store.size("videos/1/clip.mp4").await,
            Err(MediaError::NotFound(_))
        ));
        assert!(matches!(
            store.get("videos/1/clip.mp4").await,
            Err(MediaError::NotFound(_))
        ));
        assert!(matches!(
            store.get_range("videos/1/clip.mp4", 0..1).await,
            Err(MediaError::NotFound(_))
        ));
        assert!(matches!(
            store.get_range("videos/1/clip.mp4", 0..0).await,
            Err(MediaError::NotFound(_))
        ));
        assert_eq!(
            store.list_keys().await.expect("list"),
            vec!["posters/1.jpg".to_owned()]
        );
    }

    #[tokio::test]
    async fn round_trip_on_a_temp_dir() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A folder that does not exist yet is created.
        let root = dir.path().join("eu").join("media");
        let store = MediaStore::open(root.to_str().expect("utf8")).expect("open");
        round_trip(&store).await;
        assert!(root.join("posters/1.jpg").is_file());
        // The emptied `videos/1` folder is cleaned up after delete.
        assert!(!root.join("videos/1").exists());

        // The same folder through a file URL sees the same objects.
        let url = format!("file://{}", root.display());
        let again = MediaStore::open(&url).expect("open url");
        assert_eq!(
            again.list_keys().await.expect("list"),
            vec!["posters/1.jpg".to_owned()]
        );
        assert!(again.to_string().ends_with("media"));
    }

    #[tokio::test]
    async fn round_trip_in_memory() {
        let store = MediaStore::open("memory://").expect("open");
        round_trip(&store).await;
        assert_eq!(store.root(), "memory://");
    }

    #[tokio::test]
    async fn bad_keys_and_urls_are_rejected() {
        let store = MediaStore::open("memory://").expect("open");
        for key in [
            "",
            "/abs",
            "a//b",
            "../escape",
            "a/../b",
            "trailing/",
            "a/./b",
        ] {
            assert!(
                matches!(
                    store.put(key, Bytes::new()).await,
                    Err(MediaError::InvalidKey { .. })
                ),
                "{key:?}"
            );
        }
        assert!(matches!(
            MediaStore::open("s3://bucket"),
            Err(MediaError::Open { .. })
        ));
        assert!(matches!(
            MediaStore::open("file://host/path"),
            Err(MediaError::Open { .. })
        ));
        assert!(matches!(MediaStore::open(""), Err(MediaError::Open { .. })));
    }
}
