//! Queries of the residency audit that look at a cell's media records.

use crate::cell::CellStore;
use crate::db::StoreError;
use reelm_core::{UserId, VideoId};
use sqlx::Row;

/// A media record of the cell and the video it belongs to, if that video's row is here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaPlacementRow {
    /// not-secret: the object's path in the media store.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn media_records_come_with_their_videos_creator() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/cell.db", dir.path().display());
        let store = CellStore::open(&url, 2).await.unwrap();
        for sql in [
            "INSERT INTO videos (id, creator_id, caption, hashtags, language, duration_ms, width, height, status, media_key, created_at)
             VALUES (7, 42, '', '', 'en', 1, 1, 1, 'published', 'videos/7.mp4', 1)",
            "INSERT INTO media_objects (object_key, video_id, kind, bytes, content_type, created_at)
             VALUES ('videos/7.mp4', 7, 'video', 1, 'video/mp4', 1), ('videos/8.mp4', 8, 'video', 1, 'video/mp4', 1)",
        ] {
            store.db.execute_unchecked(sql).await.unwrap();
        }
        let rows = store.media_placement().await.unwrap();
        assert_eq!(
            rows,
            [
                MediaPlacementRow {
                    object_key: "videos/7.mp4".into(),
                    video_id: VideoId(7),
                    creator_id: Some(UserId(42)),
                },
                MediaPlacementRow {
                    object_key: "videos/8.mp4".into(),
                    video_id: VideoId(8),
                    creator_id: None,
                },
            ]
        );
    }
}
