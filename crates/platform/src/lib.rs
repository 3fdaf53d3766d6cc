//! The platform: the global directory plus one [`Cell`] per region, and everything that may
//! pass between cells.
//!
//! Owns: a cell (its store, media store, keys, transfer ledger and event log) and opening it;
//! the [`Platform`] (the directory, the cells of this process, a [`CellLink`] per region); the
//! typed cell protocol ([`protocol`]: one request, response and path per call, shared by
//! client and server); the transfer gateway ([`gateway`], the only cross-region write); the
//! signed-in [`Session`]; the domain [`Error`]; the views operations return ([`views`]);
//! the extension points subsystems plug into: visibility [`gates`], upload
//! [`screening`] stages, content listeners and per-platform extensions.
//!
//! Must not know: HTTP servers (axum), feature subsystems (feeds, moderation, migration, ...):
//! they depend on this crate, never the reverse. It speaks HTTPS only as the client side of
//! the cell protocol ([`link::RemoteCell`]).

pub mod cache;
pub mod cursor;
pub mod error;
pub mod gates;
pub mod gateway;
pub mod link;
pub mod platform;
pub mod protocol;
pub mod screening;
pub mod services;
pub mod session;
pub mod testing;
pub mod tls;
pub mod views;

pub use error::{Error, error_body};
pub use link::{CellLink, RemoteCell};
pub use platform::{Cell, ContentListener, Platform, PlatformError};
pub use session::Session;

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// A map from a type to one shared value of it: where subsystems keep platform-wide state
/// without a field in [`Platform`] (which must not know them).
#[derive(Default)]
///
/// Read on hot paths (the recommender's state on every feed request), so a lookup takes a
/// shared read lock; only the first use of a type takes the write lock.
pub struct Extensions(RwLock<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>);

impl Extensions {
    /// The value of type `T`, made by `init` when there is none yet.
    pub fn get_or_insert_with<T: Send + Sync + 'static>(
        &self,
        init: impl FnOnce() -> Arc<T>,
    ) -> Arc<T> {
        let found = |map: &HashMap<TypeId, Arc<dyn Any + Send + Sync>>| {
            map.get(&TypeId::of::<T>())
                .cloned()
                .and_then(|v| v.downcast::<T>().ok())
        };
        if let Some(v) = self.0.read().ok().as_deref().and_then(found) {
            return v;
        }
        let Ok(mut map) = self.0.write() else {
            return init();
        };
        // Another caller may have made it between the two locks.
        if let Some(v) = found(&map) {
            return v;
        }
        let v = init();
        map.insert(TypeId::of::<T>(), v.clone());
        v
    }
}

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Extensions")
    }
}

/// A published video row for unit tests.
#[cfg(test)]
pub(crate) fn testing_video() -> reelm_store::VideoRow {
    reelm_store::VideoRow {
        id: reelm_core::VideoId(1),
        creator_id: reelm_core::UserId(2),
        caption: "c".into(),
        hashtags: "a b".into(),
        language: "en".into(),
        duration_ms: 1,
        width: 2,
        height: 3,
        status: "published".into(),
        media_key: "videos/1.mp4".into(),
        poster_key: None,
        created_at: 4,
        like_count: 5,
        comment_count: 6,
        view_count: 7,
        restricted_regions: String::new(),
        screening_reason: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_hold_one_value_per_type() {
        let e = Extensions::default();
        let a = e.get_or_insert_with(|| Arc::new(5u32));
        let b = e.get_or_insert_with(|| Arc::new(7u32));
        assert_eq!((*a, *b), (5, 5));
        assert_eq!(*e.get_or_insert_with(|| Arc::new("x")), "x");
    }
}
