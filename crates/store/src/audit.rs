//! Queries of the residency audit that look at a cell's media records.

use crate::cell::CellStore;
use crate::db::StoreError;
use reelm_core::{UserId, VideoId};
use sqlx::Row;

/// A media record of the cell and the video it belongs to, if that video's row is here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaPlacementRow {
    pub object_key: String,
    pub video_id: VideoId,
    /// The creator of the video, `None` when the cell has no row for the video.
    pub creator_id: Option<UserId>,
}

impl CellStore {
    /// Every `media_objects` row with its video's creator (when the video row is in this cell).
    pub async fn media_placement(&self) -> Result<Vec<MediaPlacementRow>, StoreError> {
        Ok(sqlx::query(
            "SELECT m.object_key, m.video_id, v.creator_id FROM media_objects m
             LEFT JOIN videos v ON v.id = m.video_id ORDER BY m.object_key",
        )
        .fetch_all(&self.db.pool)
        .await?
        .iter()
        .map(|r| MediaPlacementRow {
            object_key: r.get(0),
            video_id: VideoId(r.get(1)),
            creator_id: r.get::<Option<i64>, _>(2).map(UserId),
        })
        .collect())
    }
}
