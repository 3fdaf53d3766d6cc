//! The cell protocol: every call one region's cell may make of another, as one request type,
//! one response type and one path each, shared by the client ([`crate::link::RemoteCell`]) and
//! the server (the mTLS cell endpoint, which dispatches through [`crate::services`]).
//!
//! **Versioned.** Paths live under `/cell/<VERSION>/<region>/`; a change that an older peer
//! could misread gets a new version, so two versions can run side by side during a rollout
//! (live migration calls cells while both versions may be up).
//!
//! **Wire types are not store rows.** What crosses a border has its own types here, converted
//! from and to rows at the two ends, so a new column in a table never reaches another region by
//! accident. Every call is a `POST` of a JSON request; the answer is the JSON response or our
//! error body `{"error":{"code","message"}}`.

use reelm_core::{CommentId, RegionId, UserId, VideoId};
use reelm_store::{
    CommentRow, Keyset, ProfileCounterDelta, ProfileRow, VideoCounterDelta, VideoRow,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The protocol version in every path.
/// v2: typed calls, all `POST` with JSON and wire types (v1 had GET routes and sent store
/// rows); a v1 peer gets a clear 404 from a v2 cell instead of misreading an answer.
pub const VERSION: &str = "v2";

/// One call of the protocol.
pub trait CellCall: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The call's path under `/cell/<VERSION>/<region>/`.
    const PATH: &'static str;
    type Response: Serialize + DeserializeOwned + Send + 'static;
}

/// The full path of call `C` on `region`'s cell.
pub fn path_of<C: CellCall>(region: &RegionId) -> String {
    format!("/cell/{VERSION}/{}/{}", region.as_str(), C::PATH)
}

// ---- wire types ---------------------------------------------------------------------------------

/// A published (or any-status, for the creator's cell) video as other regions see it. Storage
/// keys stay with the cell that holds the media: the other regions fetch media through it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WireVideo {
    pub id: VideoId,
    pub creator_id: UserId,
    pub caption: String,
    pub hashtags: String,
    pub language: String,
    pub duration_ms: i64,
    pub width: i64,
    pub height: i64,
    pub status: String,
    pub has_poster: bool,
    /// Regions where screening restricted the video (every region's gates need it).
    pub restricted_regions: String,
    pub created_at: i64,
    pub like_count: i64,
    pub comment_count: i64,
    pub view_count: i64,
}

impl From<&VideoRow> for WireVideo {
    fn from(v: &VideoRow) -> Self {
        WireVideo {
            id: v.id,
            creator_id: v.creator_id,
            caption: v.caption.clone(),
            hashtags: v.hashtags.clone(),
            language: v.language.clone(),
            duration_ms: v.duration_ms,
            width: v.width,
            height: v.height,
            status: v.status.clone(),
            has_poster: v.poster_key.is_some(),
            restricted_regions: v.restricted_regions.clone(),
            created_at: v.created_at,
            like_count: v.like_count,
            comment_count: v.comment_count,
            view_count: v.view_count,
        }
    }
}

impl From<WireVideo> for VideoRow {
    /// A row of another region's video: its storage keys are unknown here (empty), since its
    /// media is only ever read through the cell that holds it.
    fn from(v: WireVideo) -> Self {
        VideoRow {
            id: v.id,
            creator_id: v.creator_id,
            caption: v.caption,
            hashtags: v.hashtags,
            language: v.language,
            duration_ms: v.duration_ms,
            width: v.width,
            height: v.height,
            status: v.status,
            media_key: String::new(),
            poster_key: v.has_poster.then(String::new),
            created_at: v.created_at,
            like_count: v.like_count,
            comment_count: v.comment_count,
            view_count: v.view_count,
            restricted_regions: v.restricted_regions,
            // The reason is for the creator, who is served by the cell that holds the video.
            screening_reason: None,
        }
    }
}

/// Rows to wire videos.
pub fn wire_videos(rows: &[VideoRow]) -> Vec<WireVideo> {
    rows.iter().map(WireVideo::from).collect()
}

/// Wire videos to rows.
pub fn video_rows(wire: Vec<WireVideo>) -> Vec<VideoRow> {
    wire.into_iter().map(VideoRow::from).collect()
}

/// A comment in the public listing of a video.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WireComment {
    pub id: CommentId,
    pub video_id: VideoId,
    pub author_id: UserId,
    pub body: String,
    pub created_at: i64,
}

impl From<CommentRow> for WireComment {
    fn from(c: CommentRow) -> Self {
        WireComment {
            id: c.id,
            video_id: c.video_id,
            author_id: c.author_id,
            body: c.body,
            created_at: c.created_at,
        }
    }
}

impl From<WireComment> for CommentRow {
    fn from(c: WireComment) -> Self {
        CommentRow {
            id: c.id,
            video_id: c.video_id,
            author_id: c.author_id,
            body: c.body,
            created_at: c.created_at,
        }
    }
}

/// A public profile.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WireProfile {
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

impl From<ProfileRow> for WireProfile {
    fn from(p: ProfileRow) -> Self {
        WireProfile {
            user_id: p.user_id,
            handle: p.handle,
            display_name: p.display_name,
            bio: p.bio,
            follower_count: p.follower_count,
            following_count: p.following_count,
            video_count: p.video_count,
            like_count: p.like_count,
            created_at: p.created_at,
        }
    }
}

impl From<WireProfile> for ProfileRow {
    fn from(p: WireProfile) -> Self {
        ProfileRow {
            user_id: p.user_id,
            handle: p.handle,
            display_name: p.display_name,
            bio: p.bio,
            follower_count: p.follower_count,
            following_count: p.following_count,
            video_count: p.video_count,
            like_count: p.like_count,
            created_at: p.created_at,
        }
    }
}

/// A position in a newest-first list.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WireKeyset {
    pub at: i64,
    pub id: i64,
}

impl From<Keyset> for WireKeyset {
    fn from(k: Keyset) -> Self {
        WireKeyset { at: k.at, id: k.id }
    }
}

impl From<WireKeyset> for Keyset {
    fn from(k: WireKeyset) -> Self {
        Keyset { at: k.at, id: k.id }
    }
}

/// Signed changes to a video's public counters.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WireVideoCounters {
    pub likes: i64,
    pub comments: i64,
    pub views: i64,
}

impl From<VideoCounterDelta> for WireVideoCounters {
    fn from(d: VideoCounterDelta) -> Self {
        WireVideoCounters {
            likes: d.likes,
            comments: d.comments,
            views: d.views,
        }
    }
}

impl From<WireVideoCounters> for VideoCounterDelta {
    fn from(d: WireVideoCounters) -> Self {
        VideoCounterDelta {
            likes: d.likes,
            comments: d.comments,
            views: d.views,
        }
    }
}

/// Signed changes to a profile's public counters.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WireProfileCounters {
    pub followers: i64,
    pub following: i64,
    pub likes: i64,
    pub videos: i64,
}

impl From<ProfileCounterDelta> for WireProfileCounters {
    fn from(d: ProfileCounterDelta) -> Self {
        WireProfileCounters {
            followers: d.followers,
            following: d.following,
            likes: d.likes,
            videos: d.videos,
        }
    }
}

impl From<WireProfileCounters> for ProfileCounterDelta {
    fn from(d: WireProfileCounters) -> Self {
        ProfileCounterDelta {
            followers: d.followers,
            following: d.following,
            likes: d.likes,
            videos: d.videos,
        }
    }
}

/// A person's display reference (handle and name: public).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WirePerson {
    pub id: UserId,
    pub handle: String,
    pub display_name: String,
}

/// What one region shares of its feed statistics: co-engagement pairs and distinct viewers per
/// video, each from at least k distinct people of that region.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct WireAggregates {
    pub co: Vec<(VideoId, Vec<(VideoId, i64)>)>,
    pub viewers: Vec<(VideoId, i64)>,
}

impl From<reelm_events::Imported> for WireAggregates {
    fn from(i: reelm_events::Imported) -> Self {
        WireAggregates {
            co: i.co.into_iter().collect(),
            viewers: i.viewers.into_iter().collect(),
        }
    }
}

impl From<WireAggregates> for reelm_events::Imported {
    fn from(w: WireAggregates) -> Self {
        reelm_events::Imported {
            co: w.co.into_iter().collect(),
            viewers: w.viewers.into_iter().collect(),
        }
    }
}

/// The empty answer of a delivery.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Done {}

// ---- the calls ----------------------------------------------------------------------------------

macro_rules! calls {
    ($($(#[$doc:meta])* $name:ident = $path:literal -> $resp:ty { $($(#[$fdoc:meta])* $field:ident : $ty:ty),* $(,)? })*) => {
        $(
            $(#[$doc])*
            #[derive(Clone, Debug, Serialize, Deserialize)]
            pub struct $name { $($(#[$fdoc])* pub $field: $ty,)* }
            impl CellCall for $name {
                const PATH: &'static str = $path;
                type Response = $resp;
            }
        )*
        /// Every built-in call's path (a test keeps them unique and relative).
        pub const PATHS: &[&str] = &[$($path,)*];
    };
}

calls! {
    /// A video held by the cell, in any status.
    GetVideo = "videos/get" -> Option<WireVideo> { id: VideoId }
    /// The videos among `ids` held by the cell, in any status.
    GetVideos = "videos/many" -> Vec<WireVideo> { ids: Vec<VideoId> }
    /// The newest published videos.
    RecentVideos = "videos/recent" -> Vec<WireVideo> { limit: i64 }
    /// The most liked published videos.
    TopVideos = "videos/top" -> Vec<WireVideo> { limit: i64 }
    /// Published videos of `creators` before `after`, newest first.
    VideosByCreators = "videos/by-creators" -> Vec<WireVideo> {
        creators: Vec<UserId>,
        after: WireKeyset,
        limit: i64,
    }
    /// Each creator's newest published videos held by the cell.
    CreatorVideos = "videos/of-creators" -> Vec<(UserId, Vec<WireVideo>)> { creators: Vec<UserId> }
    /// The public listing of comments on `video` written by people of the cell.
    CommentsOn = "comments/on-video" -> Vec<WireComment> {
        video: VideoId,
        after: WireKeyset,
        limit: i64,
    }
    /// Videos trending among the region's people, each with at least `min_viewers` distinct
    /// viewers (never fewer than the region's own threshold).
    Trending = "feed/trending" -> Vec<(VideoId, f64)> {
        now_ms: i64,
        min_viewers: i64,
        limit: usize,
    }
    /// Display references of people of the cell.
    People = "people/refs" -> Vec<WirePerson> { ids: Vec<UserId> }
    /// A person's public profile.
    Profile = "people/profile" -> Option<WireProfile> { user: UserId }
    /// The gateway delivers a public counter delta for a video held by the cell.
    DeliverVideoCounters = "deliver/video-counters" -> Done {
        purpose: String,
        video: VideoId,
        delta: WireVideoCounters,
    }
    /// The gateway delivers a public counter delta for a profile held by the cell.
    DeliverProfileCounters = "deliver/profile-counters" -> Done {
        purpose: String,
        user: UserId,
        delta: WireProfileCounters,
    }
    /// The gateway delivers the sender's k-anonymous feed aggregates.
    DeliverAggregates = "deliver/aggregates" -> Done { shared: WireAggregates }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_is_unique_and_relative() {
        let mut seen = std::collections::HashSet::new();
        for p in PATHS {
            assert!(seen.insert(*p), "{p} twice");
            assert!(!p.starts_with('/'), "{p}");
        }
    }

    #[test]
    fn a_video_crosses_without_its_storage_keys() {
        let row = VideoRow {
            id: VideoId(1),
            creator_id: UserId(2),
            caption: "c".into(),
            hashtags: "a b".into(),
            language: "en".into(),
            duration_ms: 1,
            width: 2,
            height: 3,
            status: "published".into(),
            media_key: "us/secret-key.mp4".into(),
            poster_key: Some("us/poster.jpg".into()),
            created_at: 4,
            like_count: 5,
            comment_count: 6,
            view_count: 7,
            restricted_regions: "eu".into(),
            screening_reason: Some("hash-list: matched".into()),
        };
        let wire = serde_json::to_string(&WireVideo::from(&row)).unwrap();
        assert!(
            !wire.contains("secret-key") && !wire.contains("poster.jpg"),
            "{wire}"
        );
        let back = VideoRow::from(serde_json::from_str::<WireVideo>(&wire).unwrap());
        assert_eq!(back.id, row.id);
        assert!(back.poster_key.is_some());
        assert!(back.media_key.is_empty());
        assert!(back.restricted_in("eu") && !back.restricted_in("us"));
    }
}
