//! Typed queries on one region cell's store.

use crate::db::{Db, StoreError};
use crate::registry::{self, Scope};
use reelm_core::{CommentId, Sensitive, UserId, VideoId};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

/// A position in a list ordered by `(created_at, id)` descending: the next page holds the rows
/// strictly before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Keyset {
    pub at: i64,
    pub id: i64,
}

impl Keyset {
    /// The position before every row: the first page.
    pub const START: Keyset = Keyset {
        at: i64::MAX,
        id: i64::MAX,
    };
}

#[derive(Clone, Debug)]
pub struct NewAccount {
    pub user_id: UserId,
    pub handle: String,
    pub display_name: String,
    /// The keyed hash of the address that makes it unique and findable; redacted because,
    /// with the cell's index key, it confirms a guessed address.
    pub email_index: Sensitive<String>,
    /// not-secret: ciphertext under the person's data key (like `birth_date_enc` beside it),
    /// unreadable without `wrapped_key`, which is redacted.
    pub email_enc: Vec<u8>,
    /// `None` for seeded demo people who cannot log in. An argon2id hash: redacted because a
    /// logged hash can be attacked offline.
    pub password_hash: Option<Sensitive<String>>,
    pub birth_date_enc: Vec<u8>,
    pub country_enc: Vec<u8>,
    pub key_id: String,
    /// Redacted: a logged copy would outlive crypto-shredding (erasure deletes this row, while
    /// the region key that unwraps it lives on).
    pub wrapped_key: Sensitive<Vec<u8>>,
    pub created_at: i64,
}

#[derive(Clone, Debug)]
pub struct AccountRow {
    pub user_id: UserId,
    /// not-secret: ciphertext under the person's data key (see [`NewAccount`]).
    pub email_enc: Vec<u8>,
    pub password_hash: Option<Sensitive<String>>,
    pub birth_date_enc: Vec<u8>,
    pub country_enc: Vec<u8>,
    pub created_at: i64,
    pub key_id: String,
    pub wrapped_key: Sensitive<Vec<u8>>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProfileRow {
    pub user_id: UserId,
    pub handle: String,
    pub display_name: String,
    pub bio: String,
    pub follower_count: i64,
    pub following_count: i64,
    pub video_count: i64,
    pub like_count: i64,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VideoRow {
    pub id: VideoId,
    pub creator_id: UserId,
    pub caption: String,
    /// Space-separated, lower-case, without `#`.
    pub hashtags: String,
    pub language: String,
    pub duration_ms: i64,
    pub width: i64,
    pub height: i64,
    pub status: String,
    /// not-secret: the video's path in the media store (`videos/<id>.mp4`).
    pub media_key: String,
    /// not-secret: the poster's path in the media store.
    pub poster_key: Option<String>,
    pub created_at: i64,
    pub like_count: i64,
    pub comment_count: i64,
    pub view_count: i64,
    /// Regions (space-separated ids) where screening restricted the video; empty: none.
    pub restricted_regions: String,
    /// Why screening held, blocked or restricted the video; `None` when simply published.
    pub screening_reason: Option<String>,
}

impl VideoRow {
    /// True when screening restricted the video in `region`.
    pub fn restricted_in(&self, region: &str) -> bool {
        self.restricted_regions
            .split_whitespace()
            .any(|r| r == region)
    }

    pub fn hashtag_list(&self) -> Vec<String> {
        self.hashtags
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CommentRow {
    pub id: CommentId,
    pub video_id: VideoId,
    pub author_id: UserId,
    pub body: String,
    pub created_at: i64,
}

#[derive(Clone, Debug)]
pub struct MediaObjectRow {
    /// not-secret: the object's path in the media store.
    pub object_key: String,
    pub video_id: VideoId,
    pub kind: String,
    pub bytes: i64,
    pub content_type: String,
}

/// Signed changes to a video's public counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VideoCounterDelta {
    pub likes: i64,
    pub comments: i64,
    pub views: i64,
}

/// Signed changes to a profile's public counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProfileCounterDelta {
    pub followers: i64,
    pub following: i64,
    pub likes: i64,
    pub videos: i64,
}

const VIDEO_COLUMNS: &str = "id, creator_id, caption, hashtags, language, duration_ms, width, height, status, media_key, poster_key, created_at, like_count, comment_count, view_count, restricted_regions, screening_reason";
const PROFILE_COLUMNS: &str = "user_id, handle, display_name, bio, follower_count, following_count, video_count, like_count, created_at";

fn video_from(r: &AnyRow) -> VideoRow {
    VideoRow {
        id: VideoId(r.get(0)),
        creator_id: UserId(r.get(1)),
        caption: r.get(2),
        hashtags: r.get(3),
        language: r.get(4),
        duration_ms: r.get(5),
        width: r.get(6),
        height: r.get(7),
        status: r.get(8),
        media_key: r.get(9),
        poster_key: r.get(10),
        created_at: r.get(11),
        like_count: r.get(12),
        comment_count: r.get(13),
        view_count: r.get(14),
        restricted_regions: r.get(15),
        screening_reason: r.get(16),
    }
}

fn profile_from(r: &AnyRow) -> ProfileRow {
    ProfileRow {
        user_id: UserId(r.get(0)),
        handle: r.get(1),
        display_name: r.get(2),
        bio: r.get(3),
        follower_count: r.get(4),
        following_count: r.get(5),
        video_count: r.get(6),
        like_count: r.get(7),
        created_at: r.get(8),
    }
}

fn comment_from(r: &AnyRow) -> CommentRow {
    CommentRow {
        id: CommentId(r.get(0)),
        video_id: VideoId(r.get(1)),
        author_id: UserId(r.get(2)),
        body: r.get(3),
        created_at: r.get(4),
    }
}

/// `$start, $start+1, …` placeholders for an `IN (…)` list of `n` values.
pub(crate) fn placeholders(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One region's relational store.
#[derive(Clone, Debug)]
pub struct CellStore {
    pub db: Db,
}

impl CellStore {
    pub async fn open(url: &str, max_connections: u32) -> Result<CellStore, StoreError> {
        Ok(CellStore {
            db: Db::open(url, Scope::Cell, max_connections).await?,
        })
    }

    fn pool(&self) -> &sqlx::AnyPool {
        &self.db.pool
    }

    // ---- accounts and profiles -------------------------------------------------------------

    /// Creates the account, its public profile and its wrapped data key in one transaction.
    pub async fn insert_account(&self, a: &NewAccount) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO accounts (user_id, email_index, email_enc, password_hash, birth_date_enc, country_enc, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(a.user_id.0)
        .bind(a.email_index.expose())
        .bind(&a.email_enc)
        .bind(a.password_hash.as_ref().map(|h| h.expose().as_str()))
        .bind(&a.birth_date_enc)
        .bind(&a.country_enc)
        .bind(a.created_at)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        sqlx::query(
            "INSERT INTO profiles (user_id, handle, display_name, bio, created_at) VALUES ($1, $2, $3, '', $4)",
        )
        .bind(a.user_id.0)
        .bind(&a.handle)
        .bind(&a.display_name)
        .bind(a.created_at)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        sqlx::query("INSERT INTO user_keys (user_id, key_id, wrapped_key, created_at) VALUES ($1, $2, $3, $4)")
            .bind(a.user_id.0)
            .bind(&a.key_id)
            .bind(a.wrapped_key.expose())
            .bind(a.created_at)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn account(&self, user: UserId) -> Result<Option<AccountRow>, StoreError> {
        let row = sqlx::query(
            "SELECT a.user_id, a.email_enc, a.password_hash, a.birth_date_enc, a.country_enc, a.created_at, k.key_id, k.wrapped_key
             FROM accounts a JOIN user_keys k ON k.user_id = a.user_id WHERE a.user_id = $1",
        )
        .bind(user.0)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| AccountRow {
            user_id: UserId(r.get(0)),
            email_enc: r.get(1),
            password_hash: r.get::<Option<String>, _>(2).map(Sensitive::new),
            birth_date_enc: r.get(3),
            country_enc: r.get(4),
            created_at: r.get(5),
            key_id: r.get(6),
            wrapped_key: Sensitive::new(r.get(7)),
        }))
    }

    pub async fn user_by_email_index(
        &self,
        email_index: &str,
    ) -> Result<Option<UserId>, StoreError> {
        let row = sqlx::query("SELECT user_id FROM accounts WHERE email_index = $1")
            .bind(email_index)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| UserId(r.get(0))))
    }

    pub async fn profile(&self, user: UserId) -> Result<Option<ProfileRow>, StoreError> {
        let sql = format!("SELECT {PROFILE_COLUMNS} FROM profiles WHERE user_id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(user.0)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(profile_from))
    }

    pub async fn profiles(&self, users: &[UserId]) -> Result<Vec<ProfileRow>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {PROFILE_COLUMNS} FROM profiles WHERE user_id IN ({})",
            placeholders(1, users.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for u in users {
            q = q.bind(u.0);
        }
        Ok(q.fetch_all(self.pool())
            .await?
            .iter()
            .map(profile_from)
            .collect())
    }

    pub async fn adjust_profile_counters(
        &self,
        user: UserId,
        d: ProfileCounterDelta,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE profiles SET
               follower_count = CASE WHEN follower_count + $2 < 0 THEN 0 ELSE follower_count + $2 END,
               following_count = CASE WHEN following_count + $3 < 0 THEN 0 ELSE following_count + $3 END,
               like_count = CASE WHEN like_count + $4 < 0 THEN 0 ELSE like_count + $4 END,
               video_count = CASE WHEN video_count + $5 < 0 THEN 0 ELSE video_count + $5 END
             WHERE user_id = $1",
        )
        .bind(user.0)
        .bind(d.followers)
        .bind(d.following)
        .bind(d.likes)
        .bind(d.videos)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    // ---- sessions ----------------------------------------------------------------------------

    pub async fn insert_session(
        &self,
        token_hash: &str,
        user: UserId,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(user.0)
            .bind(now)
            .bind(expires_at)
            .execute(self.pool())
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// The user of a live (unexpired) session.
    pub async fn session_user(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<UserId>, StoreError> {
        Ok(self.session(token_hash, now).await?.map(|(user, _)| user))
    }

    /// The user and expiry (epoch ms) of a live session.
    pub async fn session(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<(UserId, i64)>, StoreError> {
        let row = sqlx::query(
            "SELECT user_id, expires_at FROM sessions WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| (UserId(r.get(0)), r.get(1))))
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    // ---- videos and media --------------------------------------------------------------------

    /// Records a video and its media objects, and counts it on the creator's profile.
    pub async fn insert_video(
        &self,
        v: &VideoRow,
        media: &[MediaObjectRow],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO videos (id, creator_id, caption, hashtags, language, duration_ms, width, height, status, media_key, poster_key, created_at, like_count, comment_count, view_count, restricted_regions, screening_reason)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        )
        .bind(v.id.0)
        .bind(v.creator_id.0)
        .bind(&v.caption)
        .bind(&v.hashtags)
        .bind(&v.language)
        .bind(v.duration_ms)
        .bind(v.width)
        .bind(v.height)
        .bind(&v.status)
        .bind(&v.media_key)
        .bind(&v.poster_key)
        .bind(v.created_at)
        .bind(v.like_count)
        .bind(v.comment_count)
        .bind(v.view_count)
        .bind(&v.restricted_regions)
        .bind(&v.screening_reason)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        for m in media {
            sqlx::query(
                "INSERT INTO media_objects (object_key, video_id, kind, bytes, content_type, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&m.object_key)
            .bind(m.video_id.0)
            .bind(&m.kind)
            .bind(m.bytes)
            .bind(&m.content_type)
            .bind(v.created_at)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        }
        // A video counts on its creator's profile once it is public.
        if v.status == "published" {
            sqlx::query("UPDATE profiles SET video_count = video_count + 1 WHERE user_id = $1")
                .bind(v.creator_id.0)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records the outcome of screening a `processing` video: its new status (`published`,
    /// `held` or `blocked`), the regions where it is restricted and why. Only a video still in
    /// `processing` changes (so a retried job cannot publish twice); true when it did. A
    /// video that becomes public counts on its creator's profile.
    pub async fn finish_screening(
        &self,
        id: VideoId,
        status: &str,
        restricted_regions: &str,
        reason: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let changed = sqlx::query(
            "UPDATE videos SET status = $1, restricted_regions = $2, screening_reason = $3
             WHERE id = $4 AND status = 'processing'",
        )
        .bind(status)
        .bind(restricted_regions)
        .bind(reason)
        .bind(id.0)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if changed && status == "published" {
            sqlx::query(
                "UPDATE profiles SET video_count = video_count + 1
                 WHERE user_id = (SELECT creator_id FROM videos WHERE id = $1)",
            )
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    pub async fn video(&self, id: VideoId) -> Result<Option<VideoRow>, StoreError> {
        let sql = format!("SELECT {VIDEO_COLUMNS} FROM videos WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.0)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(video_from))
    }

    pub async fn videos(&self, ids: &[VideoId]) -> Result<Vec<VideoRow>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {VIDEO_COLUMNS} FROM videos WHERE id IN ({})",
            placeholders(1, ids.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for id in ids {
            q = q.bind(id.0);
        }
        Ok(q.fetch_all(self.pool())
            .await?
            .iter()
            .map(video_from)
            .collect())
    }

    /// Published videos of any of `creators`, newest first, strictly before `after`.
    pub async fn videos_by_creators(
        &self,
        creators: &[UserId],
        after: Keyset,
        limit: i64,
    ) -> Result<Vec<VideoRow>, StoreError> {
        if creators.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {VIDEO_COLUMNS} FROM videos
             WHERE creator_id IN ({}) AND status = 'published' AND (created_at < $1 OR (created_at = $1 AND id < $2))
             ORDER BY created_at DESC, id DESC LIMIT $3",
            placeholders(4, creators.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql))
            .bind(after.at)
            .bind(after.id)
            .bind(limit);
        for c in creators {
            q = q.bind(c.0);
        }
        Ok(q.fetch_all(self.pool())
            .await?
            .iter()
            .map(video_from)
            .collect())
    }

    /// The newest published videos.
    pub async fn recent_videos(&self, limit: i64) -> Result<Vec<VideoRow>, StoreError> {
        let sql = format!(
            "SELECT {VIDEO_COLUMNS} FROM videos WHERE status = 'published' ORDER BY created_at DESC, id DESC LIMIT $1"
        );
        Ok(sqlx::query(AssertSqlSafe(sql))
            .bind(limit)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(video_from)
            .collect())
    }

    /// The most liked published videos.
    pub async fn top_videos(&self, limit: i64) -> Result<Vec<VideoRow>, StoreError> {
        let sql = format!(
            "SELECT {VIDEO_COLUMNS} FROM videos WHERE status = 'published' ORDER BY like_count DESC, id DESC LIMIT $1"
        );
        Ok(sqlx::query(AssertSqlSafe(sql))
            .bind(limit)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(video_from)
            .collect())
    }

    /// Sets a video's publication time (demo seeding spreads clips over past days).
    pub async fn set_video_created_at(
        &self,
        id: VideoId,
        created_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE videos SET created_at = $2 WHERE id = $1")
            .bind(id.0)
            .bind(created_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn adjust_video_counters(
        &self,
        id: VideoId,
        d: VideoCounterDelta,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE videos SET
               like_count = CASE WHEN like_count + $2 < 0 THEN 0 ELSE like_count + $2 END,
               comment_count = CASE WHEN comment_count + $3 < 0 THEN 0 ELSE comment_count + $3 END,
               view_count = CASE WHEN view_count + $4 < 0 THEN 0 ELSE view_count + $4 END
             WHERE id = $1",
        )
        .bind(id.0)
        .bind(d.likes)
        .bind(d.comments)
        .bind(d.views)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn media_object(&self, key: &str) -> Result<Option<MediaObjectRow>, StoreError> {
        let row = sqlx::query("SELECT object_key, video_id, kind, bytes, content_type FROM media_objects WHERE object_key = $1")
            .bind(key)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| MediaObjectRow {
            object_key: r.get(0),
            video_id: VideoId(r.get(1)),
            kind: r.get(2),
            bytes: r.get(3),
            content_type: r.get(4),
        }))
    }

    pub async fn media_keys(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query("SELECT object_key FROM media_objects")
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    // ---- behavior: follows, likes, comments, views -------------------------------------------

    /// Returns true when the follow is new.
    pub async fn follow(
        &self,
        follower: UserId,
        followee: UserId,
        now: i64,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "INSERT INTO follows (follower_id, followee_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (follower_id, followee_id) DO NOTHING",
        )
        .bind(follower.0)
        .bind(followee.0)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Returns true when a follow was removed.
    pub async fn unfollow(&self, follower: UserId, followee: UserId) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2")
            .bind(follower.0)
            .bind(followee.0)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn is_following(
        &self,
        follower: UserId,
        followee: UserId,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM follows WHERE follower_id = $1 AND followee_id = $2")
            .bind(follower.0)
            .bind(followee.0)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }

    pub async fn followees(&self, follower: UserId) -> Result<Vec<UserId>, StoreError> {
        Ok(
            sqlx::query("SELECT followee_id FROM follows WHERE follower_id = $1")
                .bind(follower.0)
                .fetch_all(self.pool())
                .await?
                .iter()
                .map(|r| UserId(r.get(0)))
                .collect(),
        )
    }

    /// Returns true when the like is new.
    pub async fn like(&self, user: UserId, video: VideoId, now: i64) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "INSERT INTO likes (user_id, video_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (user_id, video_id) DO NOTHING",
        )
        .bind(user.0)
        .bind(video.0)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn unlike(&self, user: UserId, video: VideoId) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM likes WHERE user_id = $1 AND video_id = $2")
            .bind(user.0)
            .bind(video.0)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Every video the person liked.
    pub async fn liked_videos(&self, user: UserId) -> Result<Vec<VideoId>, StoreError> {
        Ok(sqlx::query("SELECT video_id FROM likes WHERE user_id = $1")
            .bind(user.0)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| VideoId(r.get(0)))
            .collect())
    }

    /// Which of `videos` the user liked.
    pub async fn liked_among(
        &self,
        user: UserId,
        videos: &[VideoId],
    ) -> Result<Vec<VideoId>, StoreError> {
        if videos.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT video_id FROM likes WHERE user_id = $1 AND video_id IN ({})",
            placeholders(2, videos.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(user.0);
        for v in videos {
            q = q.bind(v.0);
        }
        Ok(q.fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| VideoId(r.get(0)))
            .collect())
    }

    pub async fn insert_comment(&self, c: &CommentRow) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO comments (id, video_id, author_id, body, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(c.id.0)
            .bind(c.video_id.0)
            .bind(c.author_id.0)
            .bind(&c.body)
            .bind(c.created_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Comments on a video written by this region's people, newest first, before `after`.
    pub async fn comments_on(
        &self,
        video: VideoId,
        after: Keyset,
        limit: i64,
    ) -> Result<Vec<CommentRow>, StoreError> {
        Ok(sqlx::query(
            "SELECT id, video_id, author_id, body, created_at FROM comments
             WHERE video_id = $1 AND (created_at < $2 OR (created_at = $2 AND id < $3))
             ORDER BY created_at DESC, id DESC LIMIT $4",
        )
        .bind(video.0)
        .bind(after.at)
        .bind(after.id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(comment_from)
        .collect())
    }

    pub async fn insert_view(
        &self,
        user: UserId,
        video: VideoId,
        watch_ms: i64,
        completed: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO view_events (id, user_id, video_id, watch_ms, completed, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(reelm_core::ids::next_id())
            .bind(user.0)
            .bind(video.0)
            .bind(watch_ms)
            .bind(i64::from(completed))
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The region's newest `limit` view events, returned oldest first:
    /// `(user, video, watch_ms, completed, at)`. Training data of the region's ranker.
    pub async fn view_events_for_training(
        &self,
        limit: i64,
    ) -> Result<Vec<(UserId, VideoId, i64, bool, i64)>, StoreError> {
        let mut rows: Vec<(UserId, VideoId, i64, bool, i64)> = sqlx::query(
            "SELECT user_id, video_id, watch_ms, completed, created_at FROM view_events
             ORDER BY created_at DESC, id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| {
            (
                UserId(r.get(0)),
                VideoId(r.get(1)),
                r.get(2),
                r.get::<i64, _>(3) != 0,
                r.get(4),
            )
        })
        .collect();
        rows.reverse();
        Ok(rows)
    }

    /// Every like in this region: `(user, video)`.
    pub async fn all_likes(&self) -> Result<Vec<(UserId, VideoId)>, StoreError> {
        Ok(sqlx::query("SELECT user_id, video_id FROM likes")
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| (UserId(r.get(0)), VideoId(r.get(1))))
            .collect())
    }

    /// The person's most recent views, newest first: `(video, watch_ms, completed, at)`.
    pub async fn recent_views(
        &self,
        user: UserId,
        limit: i64,
    ) -> Result<Vec<(VideoId, i64, bool, i64)>, StoreError> {
        Ok(sqlx::query(
            "SELECT video_id, watch_ms, completed, created_at FROM view_events
             WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2",
        )
        .bind(user.0)
        .bind(limit)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| {
            (
                VideoId(r.get(0)),
                r.get(1),
                r.get::<i64, _>(2) != 0,
                r.get(3),
            )
        })
        .collect())
    }

    pub async fn mark_not_interested(
        &self,
        user: UserId,
        video: VideoId,
        creator: UserId,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO not_interested (user_id, video_id, creator_id, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, video_id) DO NOTHING",
        )
        .bind(user.0)
        .bind(video.0)
        .bind(creator.0)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The videos and creators a person said they are not interested in.
    pub async fn not_interested(
        &self,
        user: UserId,
    ) -> Result<(Vec<VideoId>, Vec<UserId>), StoreError> {
        let rows =
            sqlx::query("SELECT video_id, creator_id FROM not_interested WHERE user_id = $1")
                .bind(user.0)
                .fetch_all(self.pool())
                .await?;
        Ok(rows
            .iter()
            .map(|r| (VideoId(r.get(0)), UserId(r.get(1))))
            .unzip())
    }

    // ---- residency ---------------------------------------------------------------------------

    /// Rows per registered cell table whose owner column is `user`: what the privacy center
    /// shows a person about their own data.
    pub async fn rows_owned_by(
        &self,
        user: UserId,
    ) -> Result<Vec<(&'static str, i64)>, StoreError> {
        let mut out = Vec::new();
        for t in registry::tables(Scope::Cell) {
            if let Some(owner) = t.owner_column {
                let sql = format!("SELECT COUNT(*) FROM {} WHERE {owner} = $1", t.name);
                let n: i64 = sqlx::query(AssertSqlSafe(sql))
                    .bind(user.0)
                    .fetch_one(self.pool())
                    .await?
                    .get(0);
                out.push((t.name, n));
            }
        }
        Ok(out)
    }

    /// For each distinct owner of `table`, the number of rows it owns there. Used by the
    /// residency audit; `table` must be a registered cell table with an owner column. Rows
    /// whose owner is NULL are about no one (see `TableSpec::owner_column`) and are left out:
    /// there is no home region to hold them to.
    pub async fn owners(
        &self,
        table: &'static str,
        owner_column: &'static str,
    ) -> Result<Vec<(UserId, i64)>, StoreError> {
        let sql = format!(
            "SELECT {owner_column}, COUNT(*) FROM {table} WHERE {owner_column} IS NOT NULL GROUP BY {owner_column}"
        );
        Ok(sqlx::query(AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| (UserId(r.get(0)), r.get(1)))
            .collect())
    }
}
