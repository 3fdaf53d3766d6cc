//! The global directory: the only state shared by all regions. It maps a person's id to their
//! home region and a public handle to the id, and holds nothing else about them.

use crate::db::{Db, StoreError};
use crate::registry::Scope;
use reelm_core::{RegionId, UserId};
use sqlx::Row;

#[derive(Clone, Debug, PartialEq)]
pub struct DirectoryEntry {
    pub user_id: UserId,
    pub handle: String,
    pub region: RegionId,
}

#[derive(Clone, Debug)]
pub struct DirectoryStore {
    pub db: Db,
}

fn entry(r: &sqlx::any::AnyRow) -> Result<DirectoryEntry, StoreError> {
    let region: String = r.get(2);
    Ok(DirectoryEntry {
        user_id: UserId(r.get(0)),
        handle: r.get(1),
        region: RegionId::new(&region)
            .map_err(|e| StoreError::Db(sqlx::Error::Decode(Box::new(e))))?,
    })
}

impl DirectoryStore {
    pub async fn open(url: &str, max_connections: u32) -> Result<DirectoryStore, StoreError> {
        Ok(DirectoryStore {
            db: Db::open(url, Scope::Directory, max_connections).await?,
        })
    }

    /// Reserves `handle` for a new person homed in `region`. Fails with
    /// [`StoreError::Unique`] when the handle is taken.
    pub async fn register(&self, e: &DirectoryEntry, now: i64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO directory_users (user_id, handle, region, created_at) VALUES ($1, $2, $3, $4)")
            .bind(e.user_id.0)
            .bind(&e.handle)
            .bind(e.region.as_str())
            .bind(now)
            .execute(&self.db.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// Removes a person (erasure, or undoing a sign-up that failed half-way).
    pub async fn remove(&self, user: UserId) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM directory_users WHERE user_id = $1")
            .bind(user.0)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    pub async fn by_handle(&self, handle: &str) -> Result<Option<DirectoryEntry>, StoreError> {
        let row =
            sqlx::query("SELECT user_id, handle, region FROM directory_users WHERE handle = $1")
                .bind(handle)
                .fetch_optional(&self.db.pool)
                .await?;
        row.as_ref().map(entry).transpose()
    }

    pub async fn by_id(&self, user: UserId) -> Result<Option<DirectoryEntry>, StoreError> {
        let row =
            sqlx::query("SELECT user_id, handle, region FROM directory_users WHERE user_id = $1")
                .bind(user.0)
                .fetch_optional(&self.db.pool)
                .await?;
        row.as_ref().map(entry).transpose()
    }

    /// Every person's home region, for the residency audit.
    pub async fn all(&self) -> Result<Vec<DirectoryEntry>, StoreError> {
        sqlx::query("SELECT user_id, handle, region FROM directory_users")
            .fetch_all(&self.db.pool)
            .await?
            .iter()
            .map(entry)
            .collect()
    }

    pub async fn count(&self) -> Result<i64, StoreError> {
        self.db.count_rows("directory_users").await
    }
}
