//! Sign-up placement by country, residency of the account row, sessions and their cookies.

use crate::common::{Server, all_files, signup_body, user_id};

#[tokio::test]
async fn sign_up_places_account_in_home_region() {
    let s = Server::start().await;
    for (handle, country, region, dc) in [
        ("ana", "DE", "eu", "Dublin, Ireland"),
        ("bob", "US", "us", "Texas, United States"),
        ("chie", "JP", "ap", "Singapore"),
        ("gwen", "gb", "eu", "Dublin, Ireland"),
        ("bruno", "BR", "ap", "Singapore"),
    ] {
        let c = s.signup(handle, country).await;
        assert_eq!(c.region, region, "{country} should live in {region}");
        let me = c.get_json("/api/me").await;
        assert_eq!(me["handle"], handle);
        assert_eq!(
            me["email"],
            format!("{handle}@example.org"),
            "email is decrypted for its owner"
        );
        assert_eq!(me["birth_date"], "1999-04-02");
        assert_eq!(me["country"], country.to_ascii_uppercase());
        assert_eq!(me["region"], region);
        assert_eq!(me["data_center"], dc);
        assert_eq!(me["id"], c.id.as_str());

        let loc = c.get_json("/api/me/data-location").await;
        assert_eq!(loc["region"], region);
        let classes = loc["classes"].as_array().unwrap();
        assert!(
            classes
                .iter()
                .any(|c| c["class"] == "personal" && c["rows"].as_i64().unwrap() > 0),
            "{loc}"
        );
    }

    let anon = s.anon();
    for (country, region) in [
        ("FR", "eu"),
        ("fr", "eu"),
        ("US", "us"),
        ("SG", "ap"),
        ("CH", "eu"),
    ] {
        let p = anon
            .get_json(&format!("/api/regions/placement?country={country}"))
            .await;
        assert_eq!(p["region"], region, "placement of {country}: {p}");
        assert_eq!(p["country"], country.to_ascii_uppercase());
    }
    let regions = anon.get_json("/api/regions").await;
    let ids: Vec<&str> = regions
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["us", "eu", "ap"]);
    assert_eq!(anon.get_json("/api/health").await["status"], "ok");
}

#[tokio::test]
async fn account_rows_live_only_in_the_home_cell_and_email_is_encrypted() {
    let s = Server::start().await;
    let ana = s.signup("ana_de", "DE").await;
    let email = "ana_de@example.org";
    let id = ana.user_id();

    let eu = s
        .cell("eu")
        .store
        .account(id)
        .await
        .unwrap()
        .expect("account row in eu");
    assert!(
        s.cell("us").store.account(id).await.unwrap().is_none(),
        "account leaked to us"
    );
    assert!(
        s.cell("ap").store.account(id).await.unwrap().is_none(),
        "account leaked to ap"
    );
    assert!(s.cell("eu").store.profile(id).await.unwrap().is_some());
    assert!(s.cell("us").store.profile(id).await.unwrap().is_none());

    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    assert!(!eu.email_enc.is_empty());
    assert!(
        !contains(&eu.email_enc, email.as_bytes()),
        "email stored in clear"
    );
    assert!(
        !contains(&eu.birth_date_enc, b"1999-04-02"),
        "birth date stored in clear"
    );
    assert!(
        eu.password_hash
            .as_ref()
            .map(|h| h.expose().as_str())
            .unwrap()
            .starts_with("$argon2id$")
    );

    // Nothing on disk (directory, any region's store, WAL files) holds the email in clear.
    for f in all_files(s.dir.path()) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !contains(&bytes, email.as_bytes()),
            "{} holds the email in clear",
            f.display()
        );
    }

    // The directory knows the handle and the home region, nothing more.
    let entry = s.platform.directory.by_id(id).await.unwrap().unwrap();
    assert_eq!(entry.region.as_str(), "eu");
    assert_eq!(entry.handle, "ana_de");
    let _ = user_id(&ana.id);
}

#[tokio::test]
async fn session_cookies_logout_and_login() {
    let s = Server::start().await;
    let mut c = s.anon();
    let r = c.post("/api/auth/signup", &signup_body("sam", "US")).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let session = r.set_cookie("reelm_session").expect("session cookie");
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Lax"), "{session}");
    assert!(session.contains("Path=/"), "{session}");
    assert!(
        session.starts_with("reelm_session=us."),
        "session token carries the home region: {session}"
    );
    let csrf = r.set_cookie("reelm_csrf").expect("csrf cookie");
    assert!(
        !csrf.contains("HttpOnly"),
        "scripts must read the CSRF cookie: {csrf}"
    );
    assert!(csrf.contains("SameSite=Lax"), "{csrf}");
    c.adopt_session(&r);
    let session_value = session.split(';').next().unwrap().to_owned();
    assert_eq!(c.get_json("/api/me").await["handle"], "sam");

    // Logging out needs the CSRF header too.
    let no_csrf =
        crate::common::Client::send(c.http.post(format!("{}/api/auth/logout", s.base))).await;
    crate::common::assert_error(&no_csrf, 403, "csrf_failed");
    assert_eq!(
        c.get("/api/me").await.status,
        200,
        "a refused logout keeps the session"
    );

    let out = c.post_empty("/api/auth/logout").await;
    assert_eq!(out.status, 204, "{}", out.text());
    let cleared = out
        .set_cookie("reelm_session")
        .expect("logout clears the session cookie");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert!(out.set_cookie("reelm_csrf").unwrap().contains("Max-Age=0"));
    crate::common::assert_error(&c.get("/api/me").await, 401, "unauthenticated");

    // The old token is dead on the server too, not only forgotten by the browser.
    let replay = crate::common::Client::send(
        reqwest::Client::new()
            .get(format!("{}/api/me", s.base))
            .header("cookie", session_value),
    )
    .await;
    crate::common::assert_error(&replay, 401, "unauthenticated");

    // Log in again (handles are case-insensitive).
    let r = c
        .post(
            "/api/auth/login",
            &serde_json::json!({"handle": "SAM", "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.set_cookie("reelm_session").unwrap().contains("HttpOnly"));
    c.adopt_session(&r);
    assert_eq!(c.get_json("/api/me").await["email"], "sam@example.org");
}
