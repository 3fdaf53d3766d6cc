//! The store test suite. Runs against SQLite always and against PostgreSQL when
//! `REELM_TEST_POSTGRES_URL` is set (e.g. `postgres://postgres@127.0.0.1:5432/postgres`).

use crate::*;
use reelm_core::{CommentId, RegionId, UserId, VideoId};

async fn cell_stores() -> Vec<(String, CellStore, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/cell.db", dir.path().display());
    let mut out = vec![(
        "sqlite".to_string(),
        CellStore::open(&url, 4).await.unwrap(),
        Some(dir),
    )];
    if let Ok(base) = std::env::var("REELM_TEST_POSTGRES_URL") {
        let url = testing::fresh_postgres_database(&base, "reelm_store_test")
            .await
            .unwrap();
        out.push((
            "postgres".to_string(),
            CellStore::open(&url, 4).await.unwrap(),
            None,
        ));
    }
    out
}

fn account(handle: &str) -> NewAccount {
    NewAccount {
        user_id: UserId::new(),
        handle: handle.into(),
        display_name: handle.to_uppercase(),
        email_index: format!("idx-{handle}").into(),
        email_enc: vec![1, 2, 3],
        password_hash: Some(String::from("$argon2id$fake").into()),
        birth_date_enc: vec![4, 5],
        country_enc: vec![6],
        key_id: "eu-k1".into(),
        wrapped_key: vec![9; 40].into(),
        created_at: 1000,
    }
}

fn video(creator: UserId, at: i64) -> VideoRow {
    VideoRow {
        id: VideoId::new(),
        creator_id: creator,
        caption: "hello".into(),
        hashtags: "travel music".into(),
        language: "en".into(),
        duration_ms: 5000,
        width: 360,
        height: 640,
        status: "published".into(),
        media_key: format!("videos/{at}.mp4"),
        poster_key: None,
        created_at: at,
        like_count: 0,
        comment_count: 0,
        view_count: 0,
        restricted_regions: String::new(),
        screening_reason: None,
    }
}

#[tokio::test]
async fn accounts_profiles_and_sessions() {
    for (name, s, _dir) in cell_stores().await {
        let a = account("ana");
        s.insert_account(&a).await.unwrap();
        let got = s.account(a.user_id).await.unwrap().unwrap();
        assert_eq!(got.email_enc, a.email_enc, "{name}");
        assert_eq!(got.wrapped_key, a.wrapped_key, "{name}");
        assert_eq!(
            s.user_by_email_index("idx-ana").await.unwrap(),
            Some(a.user_id)
        );
        // Same email index again: a unique violation, reported as such and nothing written.
        let mut dup = account("bob");
        dup.email_index = a.email_index.clone();
        assert!(
            matches!(s.insert_account(&dup).await, Err(StoreError::Unique(_))),
            "{name}"
        );
        assert!(
            s.profile(dup.user_id).await.unwrap().is_none(),
            "{name}: failed sign-up left a profile"
        );

        s.insert_session("tok", a.user_id, 10, 100).await.unwrap();
        assert_eq!(s.session_user("tok", 50).await.unwrap(), Some(a.user_id));
        assert_eq!(
            s.session_user("tok", 100).await.unwrap(),
            None,
            "{name}: expired session"
        );
        s.delete_session("tok").await.unwrap();
        assert_eq!(s.session_user("tok", 50).await.unwrap(), None);

        s.adjust_profile_counters(
            a.user_id,
            ProfileCounterDelta {
                followers: -5,
                following: 2,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let p = s.profile(a.user_id).await.unwrap().unwrap();
        assert_eq!(
            (p.follower_count, p.following_count),
            (0, 2),
            "{name}: counters clamp at zero"
        );
    }
}

#[tokio::test]
async fn videos_pages_and_counters() {
    for (name, s, _dir) in cell_stores().await {
        let a = account("cara");
        s.insert_account(&a).await.unwrap();
        let other = UserId::new();
        let mut ids = Vec::new();
        for at in 1..=25 {
            let v = video(if at % 5 == 0 { other } else { a.user_id }, at);
            ids.push(v.id);
            s.insert_video(&v, &[]).await.unwrap();
        }
        assert_eq!(
            s.profile(a.user_id).await.unwrap().unwrap().video_count,
            20,
            "{name}"
        );
        // Keyset pages cover every video of the creator exactly once, newest first.
        let mut seen = Vec::new();
        let mut pos = Keyset::START;
        loop {
            let page = s.videos_by_creators(&[a.user_id], pos, 7).await.unwrap();
            if page.is_empty() {
                break;
            }
            assert!(
                page.windows(2).all(|w| w[0].created_at > w[1].created_at),
                "{name}"
            );
            let last = page.last().unwrap();
            pos = Keyset {
                at: last.created_at,
                id: last.id.0,
            };
            seen.extend(page.into_iter().map(|v| v.id));
        }
        assert_eq!(seen.len(), 20, "{name}");
        s.adjust_video_counters(
            ids[0],
            VideoCounterDelta {
                likes: 2,
                comments: 1,
                views: 7,
            },
        )
        .await
        .unwrap();
        let v = s.video(ids[0]).await.unwrap().unwrap();
        assert_eq!(
            (v.like_count, v.comment_count, v.view_count),
            (2, 1, 7),
            "{name}"
        );
        assert_eq!(s.recent_videos(3).await.unwrap()[0].created_at, 25);
        assert_eq!(s.top_videos(1).await.unwrap()[0].id, ids[0]);
        assert_eq!(s.videos(&ids[..4]).await.unwrap().len(), 4);
    }
}

#[tokio::test]
async fn behavior_is_idempotent() {
    for (name, s, _dir) in cell_stores().await {
        let (u, c, v) = (UserId::new(), UserId::new(), VideoId::new());
        assert!(s.follow(u, c, 1).await.unwrap());
        assert!(
            !s.follow(u, c, 2).await.unwrap(),
            "{name}: second follow is a no-op"
        );
        assert!(s.is_following(u, c).await.unwrap());
        assert_eq!(s.followees(u).await.unwrap(), vec![c]);
        assert!(s.unfollow(u, c).await.unwrap());
        assert!(!s.unfollow(u, c).await.unwrap());
        assert!(s.like(u, v, 1).await.unwrap());
        assert!(!s.like(u, v, 1).await.unwrap());
        assert_eq!(
            s.liked_among(u, &[v, VideoId::new()]).await.unwrap(),
            vec![v]
        );
        assert!(s.unlike(u, v).await.unwrap());
        s.insert_view(u, v, 1234, true, 5).await.unwrap();
        s.mark_not_interested(u, v, c, 5).await.unwrap();
        s.mark_not_interested(u, v, c, 6).await.unwrap();
        assert_eq!(s.not_interested(u).await.unwrap(), (vec![v], vec![c]));
        for i in 0..5 {
            let row = CommentRow {
                id: CommentId::new(),
                video_id: v,
                author_id: u,
                body: format!("c{i}"),
                created_at: 10 + i,
            };
            s.insert_comment(&row).await.unwrap();
        }
        let first = s.comments_on(v, Keyset::START, 3).await.unwrap();
        assert_eq!(
            first.iter().map(|c| c.body.as_str()).collect::<Vec<_>>(),
            ["c4", "c3", "c2"],
            "{name}"
        );
        let last = first.last().unwrap();
        let second = s
            .comments_on(
                v,
                Keyset {
                    at: last.created_at,
                    id: last.id.0,
                },
                3,
            )
            .await
            .unwrap();
        assert_eq!(second.len(), 2);
        let owned: std::collections::HashMap<_, _> =
            s.rows_owned_by(u).await.unwrap().into_iter().collect();
        assert_eq!(owned["view_events"], 1, "{name}");
        assert_eq!(owned["comments"], 5);
        assert_eq!(owned["likes"], 0);
    }
}

#[tokio::test]
async fn unclassified_columns_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/cell.db", dir.path().display());
    let s = CellStore::open(&url, 1).await.unwrap();
    s.db.execute_unchecked("ALTER TABLE accounts ADD COLUMN phone TEXT")
        .await
        .unwrap();
    s.db.close().await;
    match CellStore::open(&url, 1).await {
        Err(StoreError::Unclassified(cols)) => assert_eq!(cols, vec!["accounts.phone".to_string()]),
        other => panic!("expected refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn directory_maps_handles_and_regions() {
    let dir = tempfile::tempdir().unwrap();
    let mut urls = vec![format!("sqlite://{}/dir.db", dir.path().display())];
    if let Ok(base) = std::env::var("REELM_TEST_POSTGRES_URL") {
        urls.push(
            testing::fresh_postgres_database(&base, "reelm_dir_test")
                .await
                .unwrap(),
        );
    }
    for url in urls {
        let d = DirectoryStore::open(&url, 2).await.unwrap();
        let e = DirectoryEntry {
            user_id: UserId::new(),
            handle: "ana".into(),
            region: RegionId::new("eu").unwrap(),
        };
        d.register(&e, 1).await.unwrap();
        let dup = DirectoryEntry {
            user_id: UserId::new(),
            ..e.clone()
        };
        assert!(
            matches!(d.register(&dup, 1).await, Err(StoreError::Unique(_))),
            "{url}"
        );
        assert_eq!(d.by_handle("ana").await.unwrap(), Some(e.clone()));
        assert_eq!(d.by_id(e.user_id).await.unwrap(), Some(e.clone()));
        assert_eq!(d.count().await.unwrap(), 1);
        d.remove(e.user_id).await.unwrap();
        assert_eq!(d.by_handle("ana").await.unwrap(), None);
    }
}

#[tokio::test]
async fn bulk_insert_loads_many_rows_and_refuses_unregistered_columns() {
    for (name, s, _dir) in cell_stores().await {
        let rows: Vec<Vec<BulkValue>> = (0..5000)
            .map(|i| {
                vec![
                    BulkValue::Int(VideoId::new().0),
                    BulkValue::Int(i),
                    BulkValue::Int(i * 7),
                ]
            })
            .collect();
        s.db.bulk_insert(
            registry::Scope::Cell,
            "likes",
            &["user_id", "video_id", "created_at"],
            &rows,
        )
        .await
        .unwrap();
        assert_eq!(s.db.count_rows("likes").await.unwrap(), 5000, "{name}");
        let err =
            s.db.bulk_insert(registry::Scope::Cell, "likes", &["user_id", "phone"], &[])
                .await
                .unwrap_err();
        assert!(matches!(err, StoreError::Unclassified(_)), "{name}");
    }
}

#[tokio::test]
async fn erasure_deletes_every_owned_row_key_first_and_keeps_a_receipt() {
    for (name, s, _dir) in cell_stores().await {
        let ana = account("ana");
        let bob = account("bob");
        s.insert_account(&ana).await.unwrap();
        s.insert_account(&bob).await.unwrap();
        let (a, b) = (ana.user_id, bob.user_id);
        let mine = video(a, 10);
        let media = [MediaObjectRow {
            object_key: mine.media_key.clone(),
            video_id: mine.id,
            kind: "video".into(),
            bytes: 10,
            content_type: "video/mp4".into(),
        }];
        s.insert_video(&mine, &media).await.unwrap();
        let theirs = video(b, 11);
        s.insert_video(&theirs, &[]).await.unwrap();
        s.insert_session("tok-a", a, 1, i64::MAX).await.unwrap();
        s.insert_session("tok-b", b, 1, i64::MAX).await.unwrap();
        s.follow(a, b, 1).await.unwrap();
        s.follow(b, a, 1).await.unwrap();
        s.like(a, theirs.id, 1).await.unwrap();
        s.like(b, mine.id, 1).await.unwrap();
        for i in 0..2 {
            s.insert_comment(&CommentRow {
                id: CommentId::new(),
                video_id: theirs.id,
                author_id: a,
                body: format!("c{i}"),
                created_at: 2 + i,
            })
            .await
            .unwrap();
        }
        s.insert_view(a, theirs.id, 100, true, 3).await.unwrap();
        s.mark_not_interested(a, theirs.id, b, 4).await.unwrap();

        let plan = s.erasure_plan(a).await.unwrap();
        assert_eq!(plan.followees, [b], "{name}");
        assert_eq!(plan.liked, [theirs.id], "{name}");
        assert_eq!(plan.commented, [(theirs.id, 2)], "{name}");
        assert_eq!(plan.videos, [mine.id], "{name}");
        assert_eq!(
            plan.media_keys,
            std::slice::from_ref(&mine.media_key),
            "{name}"
        );
        assert_eq!(plan.session_hashes, ["tok-a"], "{name}");

        let extra = std::collections::BTreeMap::from([("media_files".to_owned(), 1)]);
        let render = |c: &std::collections::BTreeMap<String, i64>| {
            let text = c
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            (text, "digest".to_owned())
        };
        // An event in the region's log is behavioral data of its person too.
        s.append_events(&[crate::EventRow {
            seq: s.last_event_seq().await.unwrap() + 1,
            user: a,
            video: VideoId(424242),
            kind: crate::EventKind::Like,
            watch_ms: 0,
            at_ms: 1,
        }])
        .await
        .unwrap();
        // A background job about her goes with her; one about no one stays.
        s.enqueue_job(&new_job("export", Some(a), 3, 0), 5)
            .await
            .unwrap();
        s.enqueue_job(&new_job("report", None, 3, 0), 5)
            .await
            .unwrap();
        let receipt = s.erase_user(a, "eu", 99, &extra, &render).await.unwrap();
        assert_eq!(
            receipt.counts,
            "access_log=0,accounts=1,break_glass_grants=0,comments=2,event_log=1,follows=1,jobs=1,likes=1,media_files=1,media_objects=1,\
             not_interested=1,profiles=1,sessions=1,user_keys=1,videos=1,view_events=1",
            "{name}"
        );
        assert_eq!(s.erasure_receipts().await.unwrap(), [receipt], "{name}");
        for (table, n) in s.rows_owned_by(a).await.unwrap() {
            assert_eq!(n, 0, "{name}: {table}");
        }
        assert!(s.user_key(a).await.unwrap().is_none(), "{name}");
        assert!(s.media_keys().await.unwrap().is_empty(), "{name}");
        // Bob's own rows stay, including his like of the erased video and his follow.
        assert!(s.account(b).await.unwrap().is_some(), "{name}");
        assert_eq!(s.liked_videos(b).await.unwrap(), [mine.id], "{name}");
        assert_eq!(s.followees(b).await.unwrap(), [a], "{name}");
        assert!(s.video(theirs.id).await.unwrap().is_some(), "{name}");

        // Rotation: wrapped keys are listed and replaced only while they still name the old key.
        let keys = s.user_keys().await.unwrap();
        assert_eq!(keys.len(), 1, "{name}");
        let old = keys[0].clone();
        let new = UserKeyRow {
            user_id: b,
            key_id: "eu-k2".into(),
            wrapped_key: vec![7; 40].into(),
        };
        let stale = UserKeyRow {
            key_id: "eu-k0".into(),
            ..old.clone()
        };
        assert_eq!(
            s.replace_wrapped_keys(&[(stale, new.clone())])
                .await
                .unwrap(),
            0,
            "{name}"
        );
        assert_eq!(
            s.replace_wrapped_keys(&[(old, new.clone())]).await.unwrap(),
            1,
            "{name}"
        );
        assert_eq!(s.user_key(b).await.unwrap(), Some(new), "{name}");
        assert_eq!(s.account(b).await.unwrap().unwrap().key_id, "eu-k2");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn processes_opening_one_store_at_once_migrate_it_once() {
    // Cells in separate processes share the directory and may all start at the same moment.
    let dir = tempfile::tempdir().unwrap();
    let mut urls = vec![format!("sqlite://{}/directory.db", dir.path().display())];
    if let Ok(base) = std::env::var("REELM_TEST_POSTGRES_URL") {
        urls.push(
            testing::fresh_postgres_database(&base, "reelm_store_test")
                .await
                .unwrap(),
        );
    }
    for url in urls {
        let opens: Vec<_> = (0..4)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { DirectoryStore::open(&url, 2).await })
            })
            .collect();
        for opened in opens {
            let d = opened
                .await
                .unwrap()
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(d.count().await.unwrap(), 0);
        }
    }
}

fn new_job(kind: &str, owner: Option<UserId>, max_attempts: i64, run_after: i64) -> NewJob {
    NewJob {
        id: reelm_core::JobId::new(),
        kind: kind.into(),
        payload: r#"{"video":"7"}"#.into(),
        owner_id: owner,
        max_attempts,
        run_after,
    }
}

#[tokio::test]
async fn jobs_are_claimed_once_leased_and_finished() {
    for (name, s, _dir) in cell_stores().await {
        let owner = UserId::new();
        let a = new_job("export", Some(owner), 3, 100);
        let later = new_job("export", None, 3, 500);
        let other_kind = new_job("report", None, 3, 0);
        for j in [&a, &later, &other_kind] {
            s.enqueue_job(j, 50).await.unwrap();
        }
        let got = s.job(a.id).await.unwrap().unwrap();
        assert_eq!(
            (
                got.state,
                got.attempts,
                got.owner_id,
                got.checkpoint.clone()
            ),
            (JobState::Queued, 0, Some(owner), None),
            "{name}"
        );

        // Not due yet.
        assert!(
            s.claim_next_job(&["export"], "r1", 99, 1000)
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );
        // Due: the oldest due job of a handled kind, leased and counted.
        let c = s
            .claim_next_job(&["export"], "r1", 200, 1000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.id, a.id, "{name}");
        assert_eq!(
            (c.state, c.attempts, c.lease_owner.as_deref(), c.lease_until),
            (JobState::Running, 1, Some("r1"), Some(1200)),
            "{name}"
        );
        // A second runner finds nothing else due (the later job waits until 500).
        assert!(
            s.claim_next_job(&["export"], "r2", 300, 1000)
                .await
                .unwrap()
                .is_none(),
            "{name}: a leased job was claimed twice"
        );

        // Progress and checkpoint, only by the lease holder.
        assert!(
            s.save_job_progress(a.id, "r1", 3, 10, Some(r#"{"next":3}"#), 310)
                .await
                .unwrap()
        );
        assert!(
            s.save_job_progress(a.id, "r1", 4, 10, None, 320)
                .await
                .unwrap()
        );
        assert!(
            !s.save_job_progress(a.id, "r2", 9, 10, Some("{}"), 330)
                .await
                .unwrap(),
            "{name}: a write without the lease"
        );
        let got = s.job(a.id).await.unwrap().unwrap();
        assert_eq!(
            (
                got.progress_done,
                got.progress_total,
                got.checkpoint.as_deref()
            ),
            (4, 10, Some(r#"{"next":3}"#)),
            "{name}"
        );
        assert!(s.extend_job_lease(a.id, "r1", 1100, 1000).await.unwrap());
        assert!(!s.extend_job_lease(a.id, "r2", 1100, 1000).await.unwrap());
        assert!(!s.finish_job(a.id, "r2", 1150).await.unwrap());
        assert!(s.finish_job(a.id, "r1", 1150).await.unwrap());
        let got = s.job(a.id).await.unwrap().unwrap();
        assert_eq!(
            (got.state, got.lease_owner, got.lease_until),
            (JobState::Succeeded, None, None),
            "{name}"
        );
        assert!(got.state.is_final());
        assert!(!s.cancel_job(a.id, 1200).await.unwrap(), "{name}");

        // Listing by kind, state and owner, newest first.
        let all = s.jobs(&JobFilter::default(), 10).await.unwrap();
        assert_eq!(
            all.iter().map(|j| j.id).collect::<Vec<_>>(),
            [other_kind.id, later.id, a.id],
            "{name}"
        );
        let queued_exports = s
            .jobs(
                &JobFilter {
                    kind: Some("export".into()),
                    state: Some(JobState::Queued),
                    owner_id: None,
                },
                10,
            )
            .await
            .unwrap();
        assert_eq!(
            queued_exports.iter().map(|j| j.id).collect::<Vec<_>>(),
            [later.id]
        );
        let owned = s
            .jobs(
                &JobFilter {
                    owner_id: Some(owner),
                    ..Default::default()
                },
                10,
            )
            .await
            .unwrap();
        assert_eq!(owned.iter().map(|j| j.id).collect::<Vec<_>>(), [a.id]);

        // Cancelling a queued job: no runner takes it any more.
        assert!(s.cancel_job(later.id, 600).await.unwrap(), "{name}");
        assert!(
            s.claim_next_job(&["export"], "r1", 700, 1000)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            s.job(later.id).await.unwrap().unwrap().state,
            JobState::Cancelled
        );
        assert!(s.job(reelm_core::JobId(1)).await.unwrap().is_none());
        assert!(
            s.claim_next_job(&[], "r1", 700, 1000)
                .await
                .unwrap()
                .is_none()
        );
    }
}

#[tokio::test]
async fn failed_attempts_retry_until_max_and_expired_leases_are_taken_over() {
    for (name, s, _dir) in cell_stores().await {
        let j = new_job("screen", None, 2, 0);
        s.enqueue_job(&j, 0).await.unwrap();
        let c = s
            .claim_next_job(&["screen"], "r1", 10, 100)
            .await
            .unwrap()
            .unwrap();
        assert!(
            s.save_job_progress(c.id, "r1", 1, 2, Some("1"), 20)
                .await
                .unwrap()
        );
        // The runner dies; once the lease has expired another takes the job over, with its
        // checkpoint, and the dead run's writes no longer land.
        assert!(
            s.claim_next_job(&["screen"], "r2", 110, 100)
                .await
                .unwrap()
                .is_none(),
            "{name}: taken over before the lease expired"
        );
        let c2 = s
            .claim_next_job(&["screen"], "r2", 111, 100)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (c2.attempts, c2.checkpoint.as_deref()),
            (2, Some("1")),
            "{name}"
        );
        assert!(!s.finish_job(j.id, "r1", 120).await.unwrap(), "{name}");
        // A failure on the last attempt is final even with a retry time.
        assert_eq!(
            s.fail_job(j.id, "r2", "boom", Some(500), 130)
                .await
                .unwrap(),
            Some(JobState::Failed),
            "{name}"
        );
        let got = s.job(j.id).await.unwrap().unwrap();
        assert_eq!(got.last_error.as_deref(), Some("boom"));
        assert_eq!(
            s.fail_job(j.id, "r2", "again", None, 140).await.unwrap(),
            None
        );

        // With attempts left, a failure queues the job again from the retry time.
        let k = new_job("screen", None, 5, 0);
        s.enqueue_job(&k, 0).await.unwrap();
        s.claim_next_job(&["screen"], "r1", 10, 100)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            s.fail_job(k.id, "r1", "flaky", Some(1000), 20)
                .await
                .unwrap(),
            Some(JobState::Queued),
            "{name}"
        );
        assert!(
            s.claim_next_job(&["screen"], "r1", 999, 100)
                .await
                .unwrap()
                .is_none()
        );
        s.claim_next_job(&["screen"], "r1", 1000, 100)
            .await
            .unwrap()
            .unwrap();
        // A permanent failure (no retry time) is final at once.
        assert_eq!(
            s.fail_job(k.id, "r1", "bad payload", None, 1010)
                .await
                .unwrap(),
            Some(JobState::Failed)
        );

        // A lease that expires on the last allowed attempt fails the job instead of running it
        // a time too many.
        let m = new_job("screen", None, 1, 0);
        s.enqueue_job(&m, 0).await.unwrap();
        s.claim_next_job(&["screen"], "r1", 10, 100)
            .await
            .unwrap()
            .unwrap();
        assert!(
            s.claim_next_job(&["screen"], "r2", 200, 100)
                .await
                .unwrap()
                .is_none()
        );
        let got = s.job(m.id).await.unwrap().unwrap();
        assert_eq!(got.state, JobState::Failed, "{name}");
        assert!(got.last_error.is_some());

        // Cancelling a running job takes its lease away.
        let r = new_job("screen", None, 3, 0);
        s.enqueue_job(&r, 0).await.unwrap();
        s.claim_next_job(&["screen"], "r1", 300, 100)
            .await
            .unwrap()
            .unwrap();
        assert!(s.cancel_job(r.id, 310).await.unwrap());
        assert!(!s.extend_job_lease(r.id, "r1", 320, 100).await.unwrap());
        assert_eq!(
            s.job(r.id).await.unwrap().unwrap().state,
            JobState::Cancelled
        );
    }
}

#[tokio::test]
async fn racing_claims_take_each_job_once() {
    for (name, s, _dir) in cell_stores().await {
        let mut ids = Vec::new();
        for _ in 0..12 {
            let j = new_job("race", None, 3, 0);
            s.enqueue_job(&j, 0).await.unwrap();
            ids.push(j.id);
        }
        let mut tasks = Vec::new();
        for r in 0..4 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let lease = format!("r{r}");
                let mut got = Vec::new();
                while let Some(j) = s
                    .claim_next_job(&["race"], &lease, 10, 60_000)
                    .await
                    .unwrap()
                {
                    got.push(j.id);
                }
                got
            }));
        }
        let mut claimed = Vec::new();
        for t in tasks {
            claimed.extend(t.await.unwrap());
        }
        claimed.sort();
        assert_eq!(claimed, ids, "{name}: every job claimed exactly once");
    }
}

#[tokio::test]
async fn jobs_without_an_owner_pass_the_audit_and_erasure_takes_owned_ones() {
    for (name, s, _dir) in cell_stores().await {
        let owner = UserId::new();
        s.enqueue_job(&new_job("export", Some(owner), 3, 0), 0)
            .await
            .unwrap();
        s.enqueue_job(&new_job("report", None, 3, 0), 0)
            .await
            .unwrap();
        let spec = registry::table(registry::Scope::Cell, "jobs").unwrap();
        assert!(spec.home_bound(), "{name}");
        // The ownerless job is about no one: the audit's owner list leaves it out instead of
        // failing on a NULL id or reporting a person with no home.
        assert_eq!(
            s.owners("jobs", "owner_id").await.unwrap(),
            [(owner, 1)],
            "{name}"
        );
        assert!(s.rows_owned_by(owner).await.unwrap().contains(&("jobs", 1)));
        s.erase_user(owner, "eu", 10, &Default::default(), &|_| {
            (String::new(), String::new())
        })
        .await
        .unwrap();
        let left = s.jobs(&JobFilter::default(), 10).await.unwrap();
        assert_eq!(left.len(), 1, "{name}");
        assert_eq!(left[0].owner_id, None);
    }
}

#[tokio::test]
async fn sqlite_deletes_securely_and_the_wal_checkpoint_works_on_both_dialects() {
    for (name, s, dir) in cell_stores().await {
        let a = account("wal");
        s.insert_account(&a).await.unwrap();
        if s.db.dialect == Dialect::Sqlite {
            // secure_delete is per connection: `Db::open` sets it on each one as it connects.
            use sqlx::Row;
            let on = sqlx::query("PRAGMA secure_delete")
                .fetch_one(&s.db.pool)
                .await
                .unwrap()
                .get::<i64, _>(0);
            assert_eq!(on, 1, "{name}");
        }
        assert!(s.db.checkpoint_wal().await.unwrap(), "{name}");
        if let Some(dir) = dir {
            // TRUNCATE leaves an empty log behind.
            let wal = dir.path().join("cell.db-wal");
            let len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
            assert_eq!(len, 0, "{name}: {}", wal.display());
        }
        s.db.close().await;
    }
}
