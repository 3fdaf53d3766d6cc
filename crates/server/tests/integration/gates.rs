//! Visibility gates apply on every surface: a gate installed with `Platform::add_gate` hides a
//! video from For You, Following and the creator's profile, and refuses its page, media,
//! poster and comments with the gate's reason, while the creator still sees their own video.
//! Gates see the viewer's home region, country and age band (from their sealed account).

use crate::common::{Client, Server, assert_error, signup_body};
use reelm_platform::gates::{AgeBand, Audience, Refusal, Surface, VisibilityGate};
use reelm_store::VideoRow;
use std::sync::{Arc, Mutex};

/// Refuses `#nofr` videos to viewers in France and `#mature` ones to minors, and records on
/// which surfaces it was asked.
#[derive(Default)]
struct Territorial {
    asked: Mutex<std::collections::HashSet<Surface>>,
}

impl VisibilityGate for Territorial {
    fn name(&self) -> &str {
        "territorial-test"
    }

    fn check(&self, surface: Surface, a: &Audience, v: &VideoRow) -> Result<(), Refusal> {
        if let Ok(mut asked) = self.asked.lock() {
            asked.insert(surface);
        }
        let tagged = |t: &str| v.hashtags.split_whitespace().any(|h| h == t);
        if tagged("nofr") && a.country.as_deref() == Some("FR") {
            return Err(Refusal {
                gate: "territorial-test".into(),
                reason: "withheld in France by a court order".into(),
            });
        }
        if tagged("mature") && a.age_band.is_none_or(AgeBand::is_minor) {
            return Err(Refusal {
                gate: "territorial-test".into(),
                reason: "not shown to people under 18".into(),
            });
        }
        Ok(())
    }
}

/// Signs up a person with this country and birth date over HTTP.
async fn person(s: &Server, handle: &str, country: &str, birth_date: &str) -> Client {
    let mut body = signup_body(handle, country);
    body["birth_date"] = birth_date.into();
    let mut c = s.anon();
    let r = c.post("/api/auth/signup", &body).await;
    assert_eq!(r.status, 201, "sign-up of {handle}: {}", r.text());
    c.adopt_session(&r);
    c
}

#[tokio::test]
async fn a_gate_applies_on_every_surface_with_its_reason() {
    let s = Server::start().await;
    let gate = Arc::new(Territorial::default());
    s.platform.add_gate(gate.clone());

    let creator = s.quick_user("gate_creator", "US").await;
    let withheld = creator.upload_tagged(0, "nofr travel").await;
    let open = creator.upload_tagged(1, "travel").await;
    let fr = person(&s, "gate_viewer_fr", "FR", "1990-05-01").await;
    let de = person(&s, "gate_viewer_de", "DE", "1990-05-01").await;
    for viewer in [&fr, &de] {
        let r = viewer
            .post_empty(&format!("/api/users/{}/follow", creator.handle))
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }

    // Feeds and the profile grid leave the video out for the French viewer only.
    for path in [
        "/api/feed/foryou?limit=50".to_owned(),
        "/api/feed/following?limit=50".to_owned(),
        format!("/api/users/{}/videos?limit=50", creator.handle),
    ] {
        let ids = |v: &serde_json::Value| -> Vec<String> {
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| {
                    i.get("video").unwrap_or(i)["id"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect()
        };
        let seen_fr = ids(&fr.get_json(&path).await);
        let seen_de = ids(&de.get_json(&path).await);
        assert!(!seen_fr.contains(&withheld), "{path}: {seen_fr:?}");
        assert!(seen_fr.contains(&open), "{path}: {seen_fr:?}");
        assert!(seen_de.contains(&withheld), "{path}: {seen_de:?}");
    }

    // A direct link, its media, poster and comments are refused with the gate's reason.
    for path in [
        format!("/api/videos/{withheld}"),
        format!("/api/videos/{withheld}/media"),
        format!("/api/videos/{withheld}/poster"),
        format!("/api/videos/{withheld}/comments"),
    ] {
        let r = fr.get(&path).await;
        let message = assert_error(&r, 403, "forbidden");
        assert!(message.contains("withheld in France"), "{path}: {message}");
        let r = de.get(&path).await;
        assert!(r.status != 403, "{path} for DE: {}", r.status);
    }
    // Nor can the French viewer like or comment on it.
    let r = fr.post_empty(&format!("/api/videos/{withheld}/like")).await;
    assert_error(&r, 403, "forbidden");
    // The creator sees their own video.
    assert_eq!(
        creator.get(&format!("/api/videos/{withheld}")).await.status,
        200
    );

    let asked = gate.asked.lock().unwrap().clone();
    for surface in [
        Surface::ForYou,
        Surface::Following,
        Surface::Profile,
        Surface::DirectLink,
        Surface::Media,
        Surface::Comments,
    ] {
        assert!(
            asked.contains(&surface),
            "{surface:?} never asked: {asked:?}"
        );
    }
}

#[tokio::test]
async fn gates_see_the_viewers_age_band_and_anonymous_viewers_are_unknown() {
    let s = Server::start().await;
    s.platform.add_gate(Arc::new(Territorial::default()));
    let creator = s.quick_user("gate_creator2", "US").await;
    let mature = creator.upload_tagged(2, "mature").await;
    let teen = person(&s, "gate_teen", "DE", "2012-03-01").await;
    let adult = person(&s, "gate_adult", "DE", "1980-03-01").await;
    let path = format!("/api/videos/{mature}");
    let message = assert_error(&teen.get(&path).await, 403, "forbidden");
    assert!(message.contains("under 18"), "{message}");
    assert_eq!(adult.get(&path).await.status, 200);
    // Signed out, the age is unknown: the gate treats it as a minor's.
    assert_error(&s.anon().get(&path).await, 403, "forbidden");
}
