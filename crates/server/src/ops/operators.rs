//! Operator access (issue 3, item 5): operator accounts (Argon2id password + TOTP, both
//! required), their sessions, authorization of every access to a person's personal data with
//! the Cedar policies in `policy/operator-access.cedar` (default deny), and the access log:
//! every decision, allow or deny, appended to a hash chain kept per person in the person's home
//! cell, which the person can list (`GET /api/me/access-log`).
//!
//! Tickets, in this slice: a ticket counts as open when its id has the ticket format
//! `^[A-Z]+-[0-9]+$` (e.g. `SUP-123`); there is no ticket system to ask yet.

use crate::auth;
use crate::error::AppError;
use crate::ledger::hash32;
use crate::link::CellLink;
use crate::platform::{Cell, Platform};
use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    PolicySet, Request, RestrictedExpression,
};
use reelm_core::{ErrorCode, RegionId, UserId};
use reelm_store::{LedgerRow, OperatorRow};
use reelm_vault::{
    ChainBuilder, ChainEntry, ChainHead, ChainVerifier, ChainViolation, HeadsCheckpoint,
    HeadsReplay, HeadsViolation, SignedHead, TrustedKeys, chain_tag,
};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

/// The Cedar policies an auditor reads.
pub const POLICY: &str = include_str!("../../../../policy/operator-access.cedar");
/// The operator session cookie: `<home region>.<token>`, separate from people's sessions.
pub const OPS_COOKIE: &str = "reelm_ops";
/// Operator sessions last 8 hours (one shift).
pub const OPS_SESSION_TTL_MS: i64 = 8 * 3600 * 1000;
/// Kind of an access-log entry for a read of personal data.
pub const KIND_READ_PERSONAL: &str = "read_personal";
/// Purposes an operator may declare.
pub const PURPOSES: [&str; 3] = ["support_ticket", "legal_request", "safety_review"];
/// Operator roles.
pub const ROLES: [&str; 4] = ["moderator", "support", "privacy_officer", "engineer"];

// ---- TOTP (RFC 6238: SHA-1, 6 digits, 30 s, one step of skew) ----------------------------------

fn totp(secret: &[u8]) -> Result<totp_rs::Totp, AppError> {
    totp_rs::Builder::new()
        .with_secret(secret.to_vec())
        .build()
        .map_err(|e| AppError::Internal(format!("totp: {e}")))
}

/// The current code for `secret` (what an authenticator app shows).
pub fn totp_code(secret: &[u8], unix_secs: u64) -> Result<String, AppError> {
    Ok(totp(secret)?.generate(unix_secs).to_string())
}

/// The time step (30 s units since the epoch) of `code` if it is valid now (one step of skew
/// either way), `None` otherwise. Validity alone does not make a code usable: the caller claims
/// the step so that a code is accepted only once.
fn totp_step(secret: &[u8], code: &str) -> Option<u64> {
    let now = (reelm_core::now_ms().max(0) / 1000) as u64;
    totp(secret).ok()?.check(code.trim(), now)
}

/// RFC 4648 base32 without padding, as authenticator apps expect in `otpauth://` URIs.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buf >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// ---- operators ----------------------------------------------------------------------------------

/// A new operator's credentials, shown once by `reelm operators add`.
pub struct NewOperator {
    pub operator_id: i64,
    pub name: String,
    pub role: String,
    pub region: String,
    pub password: String,
    pub totp_secret: Vec<u8>,
    pub provisioning_uri: String,
}

impl std::fmt::Debug for NewOperator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewOperator")
            .field("operator_id", &self.operator_id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn check_name(name: &str) -> Result<(), AppError> {
    let ok = (3..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(AppError::user(
            ErrorCode::ValidationFailed,
            "operator name: 3 to 32 characters of a-z, 0-9, '_' and '.'",
        ))
    }
}

/// Creates an operator in `region`'s cell with a generated password and TOTP secret. The TOTP
/// secret is stored sealed under the operator's own data key (wrapped by the region key).
pub async fn add_operator(
    p: &Platform,
    region: &str,
    name: &str,
    role: &str,
) -> Result<NewOperator, AppError> {
    check_name(name)?;
    if !ROLES.contains(&role) {
        return Err(AppError::user(
            ErrorCode::ValidationFailed,
            format!("role must be one of {}", ROLES.join(", ")),
        ));
    }
    let cell = RegionId::new(region)
        .ok()
        .and_then(|r| p.cell(&r).cloned())
        .ok_or_else(|| {
            AppError::user(
                ErrorCode::ValidationFailed,
                format!("unknown region {region:?}"),
            )
        })?;
    let id = reelm_core::ids::next_id();
    let password = auth::random_token();
    let secret: [u8; 20] = rand::random();
    let (key, wrapped) = cell.new_user_key(UserId(id))?;
    let row = OperatorRow {
        operator_id: id,
        name: name.to_owned(),
        role: role.to_owned(),
        home_region: cell.id().to_string(),
        password_hash: auth::hash_password(password.clone()).await?,
        wrapped_key: wrapped.to_bytes(),
        totp_secret_enc: cell.seal(
            &key,
            UserId(id),
            "operators",
            "totp_secret_enc",
            &hex::encode(secret),
        ),
        created_at: reelm_core::now_ms(),
    };
    cell.store
        .insert_operator(&row)
        .await
        .map_err(|e| match e {
            reelm_store::StoreError::Unique(_) => AppError::user(
                ErrorCode::ValidationFailed,
                format!("an operator named {name:?} already exists in {region}"),
            ),
            e => e.into(),
        })?;
    let label = percent(&format!("reelm:{name}@{}", cell.id()));
    let provisioning_uri = format!(
        "otpauth://totp/{label}?secret={}&issuer=reelm&algorithm=SHA1&digits=6&period=30",
        base32(&secret)
    );
    Ok(NewOperator {
        operator_id: id,
        name: row.name,
        role: row.role,
        region: row.home_region,
        password,
        totp_secret: secret.to_vec(),
        provisioning_uri,
    })
}

fn totp_secret(cell: &Cell, op: &OperatorRow) -> Result<Vec<u8>, AppError> {
    let key = cell.open_key(op.operator_id, &op.wrapped_key)?;
    let text = cell.unseal(
        &key,
        UserId(op.operator_id),
        "operators",
        "totp_secret_enc",
        &op.totp_secret_enc,
    )?;
    hex::decode(text).map_err(|_| AppError::Internal("stored TOTP secret is not hex".into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct OpsLogIn {
    pub name: String,
    pub region: String,
    pub password: String,
    /// 6-digit RFC 6238 code
    pub totp: String,
}

impl std::fmt::Debug for OpsLogIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpsLogIn")
            .field("name", &self.name)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// The signed-in operator, as the API shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Operator)]
pub struct OperatorJson {
    pub id: String,
    pub name: String,
    #[schema(value_type = OperatorRole)]
    pub role: String,
    pub region: String,
}

fn operator_json(o: &OperatorRow) -> OperatorJson {
    OperatorJson {
        id: o.operator_id.to_string(),
        name: o.name.clone(),
        role: o.role.clone(),
        region: o.home_region.clone(),
    }
}

/// Checks password and TOTP (both required) and opens a session in the operator's home cell.
/// Returns the operator, their cell and the session token (only its hash is stored).
pub async fn log_in(
    p: &Platform,
    req: OpsLogIn,
) -> Result<(OperatorJson, Arc<Cell>, String), AppError> {
    let wrong = || {
        AppError::user(
            ErrorCode::WrongCredentials,
            "wrong operator name, region, password or TOTP code",
        )
    };
    let cell = RegionId::new(&req.region)
        .ok()
        .and_then(|r| p.cell(&r).cloned());
    let op = match &cell {
        Some(c) => c.store.operator_by_name(&req.name).await?,
        None => None,
    };
    let stored = op.as_ref().map(|o| o.password_hash.clone());
    let password_ok = auth::verify_password(req.password, stored).await?;
    let (Some(cell), Some(op)) = (cell, op) else {
        return Err(wrong());
    };
    if !password_ok {
        return Err(wrong());
    }
    let Some(step) = totp_step(&totp_secret(&cell, &op)?, &req.totp) else {
        return Err(wrong());
    };
    // A code seen once (e.g. shoulder-surfed, or replayed from a captured request) must not
    // open a second session within its window: claim its step, and refuse a step at or before
    // the last one accepted exactly like a wrong code, so the answer reveals nothing more.
    let step = i64::try_from(step).map_err(|_| wrong())?;
    if !cell.store.claim_totp_step(op.operator_id, step).await? {
        return Err(wrong());
    }
    let token = auth::random_token();
    let now = reelm_core::now_ms();
    cell.store
        .insert_operator_session(
            &auth::token_hash(&token),
            op.operator_id,
            now,
            now + OPS_SESSION_TTL_MS,
        )
        .await?;
    Ok((operator_json(&op), cell, token))
}

/// `Set-Cookie` for an operator session: HttpOnly, SameSite=Strict, only sent to `/api/ops`.
pub fn ops_cookie(region: &RegionId, token: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    let max_age = OPS_SESSION_TTL_MS / 1000;
    format!(
        "{OPS_COOKIE}={region}.{token}; Path=/api/ops; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    )
}

/// The signed-in operator, checked by type.
#[derive(Clone, Debug)]
pub struct Operator {
    pub row: OperatorRow,
    pub home: Arc<Cell>,
}

/// Who an operator is, as their home cell vouches for them to another region's cell (over
/// mutual TLS, which tells the receiving cell which region vouches: it accepts a claim only
/// for an operator of that region).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OperatorClaim {
    pub operator_id: i64,
    pub name: String,
    pub role: String,
    pub home_region: String,
}

impl Operator {
    pub fn claim(&self) -> OperatorClaim {
        OperatorClaim {
            operator_id: self.row.operator_id,
            name: self.row.name.clone(),
            role: self.row.role.clone(),
            home_region: self.row.home_region.clone(),
        }
    }
}

impl axum::extract::FromRequestParts<Arc<Platform>> for Operator {
    type Rejection = AppError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        p: &Arc<Platform>,
    ) -> Result<Self, AppError> {
        let none = || AppError::user(ErrorCode::Unauthenticated, "operator sign-in required");
        let raw = auth::cookie(&parts.headers, OPS_COOKIE).ok_or_else(none)?;
        let (region, token) = raw.split_once('.').ok_or_else(none)?;
        let cell = RegionId::new(region)
            .ok()
            .and_then(|r| p.cell(&r).cloned())
            .ok_or_else(none)?;
        let id = cell
            .store
            .operator_session(&auth::token_hash(token), reelm_core::now_ms())
            .await?
            .ok_or_else(none)?;
        let row = cell.store.operator(id).await?.ok_or_else(none)?;
        Ok(Operator { row, home: cell })
    }
}

// ---- authorization (Cedar) ----------------------------------------------------------------------

/// The parsed policy set and an authorizer, built once.
pub struct OperatorPolicy {
    policies: PolicySet,
    authorizer: Authorizer,
}

impl std::fmt::Debug for OperatorPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorPolicy").finish_non_exhaustive()
    }
}

/// What an operator asks to do and about whom.
#[derive(Clone, Debug)]
pub struct AccessRequest<'a> {
    pub operator_id: i64,
    pub role: &'a str,
    pub operator_region: &'a str,
    pub person: UserId,
    pub person_region: &'a str,
    pub purpose: &'a str,
    pub ticket: &'a str,
    /// An approved, unexpired break-glass grant applies.
    pub break_glass: bool,
}

/// Cedar's answer with the reasons the person will read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessDecision {
    pub allowed: bool,
    pub reason: String,
}

/// This slice's "open ticket": a ticket id of the format `^[A-Z]+-[0-9]+$`.
pub fn ticket_open(ticket: &str) -> bool {
    match ticket.split_once('-') {
        Some((a, b)) => {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_uppercase())
                && b.bytes().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

fn uid(ty: &str, id: &str) -> Result<EntityUid, AppError> {
    let ty = EntityTypeName::from_str(ty).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(EntityUid::from_type_name_and_id(ty, EntityId::new(id)))
}

fn s(v: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(v.to_owned())
}

impl OperatorPolicy {
    pub fn parse(text: &str) -> Result<OperatorPolicy, String> {
        Ok(OperatorPolicy {
            policies: text.parse().map_err(|e| format!("{e}"))?,
            authorizer: Authorizer::new(),
        })
    }

    /// The embedded `policy/operator-access.cedar`.
    pub fn embedded() -> &'static OperatorPolicy {
        static P: OnceLock<OperatorPolicy> = OnceLock::new();
        P.get_or_init(|| OperatorPolicy::parse(POLICY).expect("the embedded Cedar policy parses"))
    }

    /// Decides `read_personal` for `r`. Default deny; the reason lists the `@reason` of each
    /// determining policy.
    pub fn decide(&self, r: &AccessRequest<'_>) -> Result<AccessDecision, AppError> {
        let internal = |e: &dyn std::fmt::Display| AppError::Internal(format!("cedar: {e}"));
        let principal = uid("Operator", &r.operator_id.to_string())?;
        let resource = uid("Person", &r.person.0.to_string())?;
        let action = uid("Action", KIND_READ_PERSONAL)?;
        let operator = Entity::new(
            principal.clone(),
            HashMap::from([
                ("role".to_owned(), s(r.role)),
                ("region".to_owned(), s(r.operator_region)),
            ]),
            HashSet::new(),
        )
        .map_err(|e| internal(&e))?;
        let person = Entity::new(
            resource.clone(),
            HashMap::from([("region".to_owned(), s(r.person_region))]),
            HashSet::new(),
        )
        .map_err(|e| internal(&e))?;
        let entities =
            Entities::from_entities([operator, person], None).map_err(|e| internal(&e))?;
        let context = Context::from_pairs([
            ("purpose".to_owned(), s(r.purpose)),
            ("ticket".to_owned(), s(r.ticket)),
            (
                "ticket_open".to_owned(),
                RestrictedExpression::new_bool(ticket_open(r.ticket)),
            ),
            (
                "break_glass".to_owned(),
                RestrictedExpression::new_bool(r.break_glass),
            ),
        ])
        .map_err(|e| internal(&e))?;
        let request =
            Request::new(principal, action, resource, context, None).map_err(|e| internal(&e))?;
        let response = self
            .authorizer
            .is_authorized(&request, &self.policies, &entities);
        let mut reasons: Vec<String> = response
            .diagnostics()
            .reason()
            .map(|id| {
                self.policies
                    .annotation(id, "reason")
                    .unwrap_or(id.as_ref())
                    .to_owned()
            })
            .collect();
        reasons.sort();
        let allowed = response.decision() == Decision::Allow;
        if let Some(e) = response.diagnostics().errors().next() {
            tracing::warn!(error = %e, "cedar policy evaluation error (denied)");
        }
        let reason = if reasons.is_empty() {
            "no policy permits this (default deny)".to_owned()
        } else {
            reasons.join("; ")
        };
        Ok(AccessDecision { allowed, reason })
    }
}

// ---- the access log -----------------------------------------------------------------------------

/// The canonical payload of an access-log entry.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AccessRecord {
    pub operator_id: String,
    pub operator: String,
    pub role: String,
    pub operator_region: String,
    pub region: String,
    pub purpose: String,
    pub ticket: String,
    pub decision: String,
    pub reason: String,
}

fn to_entry(r: &LedgerRow) -> ChainEntry {
    ChainEntry {
        seq: r.seq.max(0) as u64,
        at_ms: r.at_ms,
        kind: r.kind.clone(),
        payload: r.payload.clone(),
        prev_hash: hash32(&r.prev_hash),
        hash: hash32(&r.hash),
    }
}

/// Appends one decision to `person`'s access log in their home `cell` (their own hash chain),
/// and records the new head for the region's next signed access-log checkpoint. Refuses to
/// extend a log that is shorter than (or differs from) what the region already vouched for:
/// a truncated or rewritten log fails closed, so nothing is read without a trace.
pub async fn append_access(
    cell: &Cell,
    person: UserId,
    record: &AccessRecord,
) -> Result<ChainEntry, AppError> {
    let payload = reelm_vault::canonical_json(record)?;
    let tag = chain_tag(person.0);
    let _guard = cell.access_log_lock.lock().await;
    let last = cell
        .store
        .access_entries(person, 0, i64::MAX, true, 1)
        .await?
        .pop()
        .map(|r| to_entry(&r));
    if let Some((seq, hash)) = cell.ledger.access_head(&cell.store, &tag).await? {
        let intact = last
            .as_ref()
            .is_some_and(|l| l.seq > seq || (l.seq == seq && l.hash == hash));
        if !intact {
            tracing::error!(person = %person, signed_seq = seq, "access log shorter than its signed head");
            return Err(AppError::Internal(format!(
                "the access log of person {person} no longer reaches entry {seq}, which the region signed (truncated or rewritten); refusing to extend it"
            )));
        }
    }
    let mut chain = ChainBuilder::resume(last.as_ref());
    let e = chain.append(reelm_core::now_ms(), KIND_READ_PERSONAL, payload);
    cell.store
        .insert_access_entry(
            person,
            &LedgerRow {
                seq: e.seq as i64,
                at_ms: e.at_ms,
                kind: e.kind.clone(),
                payload: e.payload.clone(),
                prev_hash: e.prev_hash.to_vec(),
                hash: e.hash.to_vec(),
            },
        )
        .await?;
    // The entry is stored; a checkpoint that cannot be signed now is retried by the timer.
    if let Err(err) = cell
        .ledger
        .access_appended(&cell.store, tag, e.seq, e.hash)
        .await
    {
        tracing::warn!(error = %err, "access-log checkpoint not signed; will retry");
    }
    Ok(e)
}

/// Where and how the access logs of a region are broken.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AccessLogViolation {
    /// The person whose chain is broken, when known (a checkpoint names only a chain tag).
    pub person: Option<String>,
    /// The entry (or, for checkpoint problems, the checkpoint number) where it was found.
    pub seq: u64,
    /// `edited`, `dropped`, `reordered`, `prev_hash_mismatch`, `truncated`,
    /// `checkpoint_mismatch`, `log_dropped`, `erased_but_present`, `checkpoint_dropped`,
    /// `checkpoint_reordered`, `checkpoint_edited`, `bad_checkpoint_signature`,
    /// `unknown_signer` or `regressed`.
    pub kind: String,
    pub message: String,
}

impl AccessLogViolation {
    pub fn seq(&self) -> u64 {
        self.seq
    }

    fn chain(person: UserId, v: &ChainViolation) -> Self {
        AccessLogViolation {
            person: Some(person.to_string()),
            seq: v.seq(),
            kind: v.kind().to_owned(),
            message: format!("person {person}'s access log: {v}"),
        }
    }

    fn heads(v: &HeadsViolation) -> Self {
        AccessLogViolation {
            person: None,
            seq: v.checkpoint(),
            kind: v.kind().to_owned(),
            message: v.to_string(),
        }
    }
}

impl std::fmt::Display for AccessLogViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.kind.replace('_', " "))
    }
}

/// A region's access logs, verified.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AccessLogReport {
    pub region: String,
    /// People with an access log.
    pub people: u64,
    pub entries: u64,
    pub checkpoints: u64,
    /// Signed heads of logs that are gone because their person was erased (erasure receipt,
    /// not in the directory).
    pub erased: u64,
    /// Entries after their person's last signed head (their truncation would go unnoticed
    /// until the next checkpoint, at most [`crate::ledger::ACCESS_CHECKPOINT_INTERVAL`]).
    pub unanchored: u64,
    pub seconds: f64,
}

/// Replays every signed access-log checkpoint of `cell` (numbering, root chain, signatures
/// by `keys`, no head going back) and returns each chain's latest signed head.
async fn replay_checkpoints(
    cell: &Cell,
    keys: &TrustedKeys,
) -> Result<Result<HeadsReplay, AccessLogViolation>, AppError> {
    let checkpoints = cell.store.access_checkpoints().await?;
    // Every signed head, in (checkpoint, tag) order.
    let mut heads_rows = Vec::new();
    let mut cursor: Option<(i64, Vec<u8>)> = None;
    loop {
        let page = cell
            .store
            .access_heads_page(cursor.as_ref().map(|(c, t)| (*c, t.as_slice())), 10_000)
            .await?;
        let Some(last) = page.last() else { break };
        cursor = Some((last.checkpoint_seq, last.person_tag.clone()));
        heads_rows.extend(page);
    }
    let mut replay = HeadsReplay::new();
    let mut at = 0usize;
    for row in &checkpoints {
        let cp = HeadsCheckpoint {
            seq: row.seq.max(0) as u64,
            root: hash32(&row.root),
            heads: row.heads.max(0) as u64,
            at_ms: row.at_ms,
            signer_key_id: row.signer_key_id.clone(),
            signature: row.signature.clone(),
        };
        if let Some(orphan) = heads_rows.get(at).filter(|h| h.checkpoint_seq < row.seq) {
            // Heads of a checkpoint that is gone.
            let v = HeadsViolation::CheckpointGap {
                checkpoint: row.seq.max(0) as u64,
                expected: orphan.checkpoint_seq.max(0) as u64,
            };
            return Ok(Err(AccessLogViolation::heads(&v)));
        }
        let end = at
            + heads_rows[at..]
                .iter()
                .take_while(|h| h.checkpoint_seq == row.seq)
                .count();
        let heads: Vec<ChainHead> = heads_rows[at..end]
            .iter()
            .map(|h| ChainHead {
                tag: hash32(&h.person_tag),
                seq: h.seq.max(0) as u64,
                hash: hash32(&h.hash),
            })
            .collect();
        at = end;
        if let Err(v) = replay.push(&cp, &heads, keys) {
            return Ok(Err(AccessLogViolation::heads(&v)));
        }
    }
    if let Some(head) = heads_rows.get(at) {
        // Signed heads whose checkpoint row is gone (the newest checkpoint was dropped).
        return Ok(Err(AccessLogViolation {
            person: None,
            seq: head.checkpoint_seq.max(0) as u64,
            kind: "checkpoint_dropped".into(),
            message: format!(
                "signed heads of access-log checkpoint {} are stored but the checkpoint is gone (checkpoint dropped)",
                head.checkpoint_seq
            ),
        }));
    }
    Ok(Ok(replay))
}

/// Names a broken link of `person`'s chain: if the entry's `prev_hash` is the hash of another
/// of their entries, entries were moved (reordered); otherwise the entry before was rewritten.
async fn diagnose(
    cell: &Cell,
    person: UserId,
    violation: &ChainViolation,
    prev_hash: &[u8; 32],
) -> Result<AccessLogViolation, AppError> {
    let ChainViolation::PrevHashMismatch { seq } = *violation else {
        return Ok(AccessLogViolation::chain(person, violation));
    };
    let mut after = i64::MIN;
    loop {
        let page = cell
            .store
            .access_entries(person, after, i64::MAX, false, 1000)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        if let Some(found) = page.iter().find(|r| r.hash.as_slice() == prev_hash) {
            if found.seq.max(0) as u64 + 1 != seq {
                return Ok(AccessLogViolation {
                    person: Some(person.to_string()),
                    seq,
                    kind: "reordered".into(),
                    message: format!(
                        "person {person}'s access log: the entry stored as {seq} follows entry {} in the chain (entries moved or swapped)",
                        found.seq
                    ),
                });
            }
            break;
        }
    }
    let edited = seq.saturating_sub(1);
    Ok(AccessLogViolation {
        person: Some(person.to_string()),
        seq: edited,
        kind: "edited".into(),
        message: format!(
            "person {person}'s access log: entry {edited} was rewritten (entry {seq} links to a hash no stored entry has)"
        ),
    })
}

/// Checks one person's chain, page by page, from genesis, and against their latest signed
/// head (`signed`). Returns (entries, last seq).
async fn verify_person_chain(
    cell: &Cell,
    person: UserId,
    signed: Option<SignedHead>,
) -> Result<Result<(u64, u64), AccessLogViolation>, AppError> {
    let mut v = ChainVerifier::new();
    let mut after = 0;
    loop {
        let page = cell
            .store
            .access_entries(person, after, i64::MAX, false, 1000)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for r in &page {
            let e = to_entry(r);
            if let Err(violation) = v.push(&e) {
                return Ok(Err(diagnose(cell, person, &violation, &e.prev_hash).await?));
            }
            if let Some(s) = signed
                && s.seq == e.seq
                && s.hash != e.hash
            {
                let violation = ChainViolation::CheckpointMismatch { seq: e.seq };
                return Ok(Err(AccessLogViolation::chain(person, &violation)));
            }
        }
    }
    let report = v.report();
    if let Some(s) = signed
        && report.last_seq < s.seq
    {
        let violation = ChainViolation::Truncated {
            checkpoint_seq: s.seq,
            last_seq: report.last_seq,
        };
        return Ok(Err(AccessLogViolation::chain(person, &violation)));
    }
    Ok(Ok((report.entries, report.last_seq)))
}

/// Verifies `person`'s whole access-log chain from genesis and against the region's signed
/// checkpoints (with the cell's own public keys): an edited, dropped or reordered entry, and a
/// tail truncated below a signed head, are caught. `Ok(entries)` or the first violation.
pub async fn verify_access_log(
    cell: &Cell,
    person: UserId,
) -> Result<Result<u64, AccessLogViolation>, AppError> {
    let replay = match replay_checkpoints(cell, &cell.ledger.public_keys()).await? {
        Ok(r) => r,
        Err(v) => return Ok(Err(v)),
    };
    let signed = replay.heads().get(&chain_tag(person.0)).copied();
    Ok(verify_person_chain(cell, person, signed)
        .await?
        .map(|(entries, _)| entries))
}

/// Verifies every access log of `cell` against its signed checkpoints (public `keys` only):
/// each person's chain (edited, dropped, reordered entries), each signed head reached
/// (truncated tails, including a whole log dropped), and that a signed head whose log is gone
/// belongs to a person erased here (an erasure receipt, and no longer in the directory).
pub async fn verify_access_logs(
    p: &Platform,
    cell: &Cell,
    keys: &TrustedKeys,
) -> Result<Result<AccessLogReport, AccessLogViolation>, AppError> {
    let started = std::time::Instant::now();
    let replay = match replay_checkpoints(cell, keys).await? {
        Ok(r) => r,
        Err(v) => return Ok(Err(v)),
    };
    let mut unmatched: HashMap<[u8; 32], SignedHead> = replay.heads().clone();
    let (mut people, mut entries, mut unanchored) = (0u64, 0u64, 0u64);
    // One chain at a time, in (person, seq) order, page by page.
    let mut after = (i64::MIN, 0i64);
    let mut current: Option<(UserId, ChainVerifier, Option<SignedHead>)> = None;
    let finish = |person: UserId,
                  v: &ChainVerifier,
                  signed: Option<SignedHead>|
     -> Result<(u64, u64), AccessLogViolation> {
        let r = v.report();
        match signed {
            Some(s) if r.last_seq < s.seq => Err(AccessLogViolation::chain(
                person,
                &ChainViolation::Truncated {
                    checkpoint_seq: s.seq,
                    last_seq: r.last_seq,
                },
            )),
            _ => Ok((r.entries, r.last_seq - signed.map_or(0, |s| s.seq))),
        }
    };
    loop {
        let page = cell.store.access_log_page(after, 10_000).await?;
        let Some(last) = page.last() else { break };
        after = (last.person_id.0, last.entry.seq);
        for row in &page {
            if current.as_ref().is_none_or(|(p, _, _)| *p != row.person_id) {
                if let Some((person, v, signed)) = current.take() {
                    match finish(person, &v, signed) {
                        Ok((n, tail)) => {
                            entries += n;
                            unanchored += tail;
                        }
                        Err(violation) => return Ok(Err(violation)),
                    }
                }
                people += 1;
                let signed = unmatched.remove(&chain_tag(row.person_id.0));
                current = Some((row.person_id, ChainVerifier::new(), signed));
            }
            let Some((person, v, signed)) = current.as_mut() else {
                continue;
            };
            let e = to_entry(&row.entry);
            if let Err(violation) = v.push(&e) {
                return Ok(Err(diagnose(cell, *person, &violation, &e.prev_hash).await?));
            }
            if let Some(s) = signed
                && s.seq == e.seq
                && s.hash != e.hash
            {
                let violation = ChainViolation::CheckpointMismatch { seq: e.seq };
                return Ok(Err(AccessLogViolation::chain(*person, &violation)));
            }
        }
    }
    if let Some((person, v, signed)) = current.take() {
        match finish(person, &v, signed) {
            Ok((n, tail)) => {
                entries += n;
                unanchored += tail;
            }
            Err(violation) => return Ok(Err(violation)),
        }
    }
    // Signed heads of logs that are gone: only an erasure explains them.
    let mut erased = 0u64;
    if !unmatched.is_empty() {
        let receipts: HashMap<[u8; 32], UserId> = cell
            .store
            .erased_people()
            .await?
            .into_iter()
            .map(|u| (chain_tag(u.0), u))
            .collect();
        let mut gone: Vec<(&[u8; 32], &SignedHead)> = unmatched.iter().collect();
        gone.sort_by_key(|(tag, s)| (s.checkpoint, **tag));
        for (tag, signed) in gone {
            match receipts.get(tag) {
                Some(user) if p.directory.by_id(*user).await?.is_none() => erased += 1,
                Some(user) => {
                    return Ok(Err(AccessLogViolation {
                        person: Some(user.to_string()),
                        seq: signed.seq,
                        kind: "erased_but_present".into(),
                        message: format!(
                            "person {user}'s access log is gone and an erasure receipt names them, but the directory still has them (a forged erasure hiding a dropped log)"
                        ),
                    }));
                }
                None => {
                    return Ok(Err(AccessLogViolation {
                        person: None,
                        seq: signed.seq,
                        kind: "log_dropped".into(),
                        message: format!(
                            "access-log checkpoint {} signed entry {} of the chain tagged {}, but that whole log is gone and no erasure receipt explains it (log dropped)",
                            signed.checkpoint,
                            signed.seq,
                            hex::encode(&tag[..8])
                        ),
                    }));
                }
            }
        }
    }
    Ok(Ok(AccessLogReport {
        region: cell.id().to_string(),
        people,
        entries,
        checkpoints: replay.last_checkpoint(),
        erased,
        unanchored,
        seconds: started.elapsed().as_secs_f64(),
    }))
}

/// The person's decrypted account fields, on an allowed read.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PersonalData {
    pub id: String,
    pub handle: String,
    pub region: String,
    pub email: String,
    pub birth_date: String,
    pub country: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PersonalQuery {
    #[param(value_type = Option<Purpose>)]
    pub purpose: Option<String>,
    #[param(pattern = "^[A-Z]+-[0-9]+$")]
    pub ticket: Option<String>,
}

/// Decides an operator's read of `handle`'s personal data with Cedar, logs the decision in the
/// person's home cell, then answers the data (allow) or 403 `forbidden` with the reason (deny).
/// The person's cell decides, wherever it runs: in this process, or in another one reached
/// over mutual TLS.
pub async fn read_personal(
    p: &Platform,
    op: &Operator,
    handle: &str,
    q: PersonalQuery,
) -> Result<PersonalData, AppError> {
    let not_found = || AppError::user(ErrorCode::NotFound, format!("person {handle:?} not found"));
    let entry = p.directory.by_handle(handle).await?.ok_or_else(not_found)?;
    let purpose = q.purpose.unwrap_or_default();
    let ticket = q.ticket.unwrap_or_default();
    match p.link(&entry.region).ok_or_else(not_found)? {
        CellLink::Local(home) => {
            read_personal_in(home, &op.claim(), entry.user_id, purpose, ticket).await
        }
        CellLink::Remote(remote) => {
            remote
                .post(
                    "operator/read",
                    &serde_json::json!({
                        "operator": op.claim(),
                        "person": entry.user_id,
                        "purpose": purpose,
                        "ticket": ticket,
                    }),
                )
                .await
        }
    }
}

/// [`read_personal`] in the person's home cell `home`.
pub async fn read_personal_in(
    home: &Cell,
    op: &OperatorClaim,
    person: UserId,
    purpose: String,
    ticket: String,
) -> Result<PersonalData, AppError> {
    let grant = if op.home_region != home.id().as_str() {
        home.store
            .active_grant(
                person,
                op.operator_id,
                &purpose,
                &ticket,
                reelm_core::now_ms(),
            )
            .await?
    } else {
        None
    };
    let mut decision = OperatorPolicy::embedded().decide(&AccessRequest {
        operator_id: op.operator_id,
        role: &op.role,
        operator_region: &op.home_region,
        person,
        person_region: home.id().as_str(),
        purpose: &purpose,
        ticket: &ticket,
        break_glass: grant.is_some(),
    })?;
    if let Some(g) = &grant {
        let approver = match g.approver_id {
            Some(a) => home.store.operator(a).await?.map(|o| o.name),
            None => None,
        };
        decision.reason = format!(
            "{} (break-glass grant {} approved by {})",
            decision.reason,
            g.grant_id,
            approver.unwrap_or_else(|| "?".into())
        );
    }
    let record = AccessRecord {
        operator_id: op.operator_id.to_string(),
        operator: op.name.clone(),
        role: op.role.clone(),
        operator_region: op.home_region.clone(),
        region: home.id().to_string(),
        purpose,
        ticket,
        decision: if decision.allowed { "allow" } else { "deny" }.to_owned(),
        reason: decision.reason.clone(),
    };
    // Logged before anything is read: no access without a trace.
    append_access(home, person, &record).await?;
    if !decision.allowed {
        return Err(AppError::user(ErrorCode::Forbidden, decision.reason));
    }
    // An operator of another region takes personal data out of the person's region: a
    // transfer like any other, decided by the residency policy and ledgered here (the source).
    if op.home_region != home.id().as_str() {
        let to = RegionId::new(&op.home_region).map_err(|_| {
            AppError::Internal(format!(
                "operator region {:?} is not a region",
                op.home_region
            ))
        })?;
        let transfer = crate::gateway::Transfer {
            class: reelm_core::DataClass::Personal,
            purpose: crate::policy::PURPOSE_OPERATOR_ACCESS,
            object: "operator_read",
            distinct_people: None,
        };
        crate::gateway::require(home, &to, &transfer).await?;
    }
    let me = crate::ops::accounts::me(home, person).await?;
    Ok(PersonalData {
        id: person.to_string(),
        handle: me.handle,
        region: me.region,
        email: me.email,
        birth_date: me.birth_date,
        country: me.country,
    })
}

// ---- break-glass ---------------------------------------------------------------------------------

/// How long an approved break-glass grant lasts.
pub const BREAK_GLASS_TTL_MS: i64 = 3600 * 1000;

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BreakGlassRequest {
    pub handle: String,
    #[schema(value_type = Purpose)]
    pub purpose: String,
    #[schema(pattern = "^[A-Z]+-[0-9]+$")]
    pub ticket: String,
}

/// A break-glass grant as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = BreakGlassGrant)]
pub struct GrantJson {
    pub id: String,
    pub person: String,
    pub region: String,
    pub requester_id: String,
    pub requester_region: String,
    pub purpose: String,
    pub ticket: String,
    #[schema(value_type = GrantStatus)]
    pub status: String,
    pub expires_at: Option<String>,
}

fn grant_json(g: &reelm_store::GrantRow, region: &str, handle: &str) -> GrantJson {
    let now = reelm_core::now_ms();
    let status = match (g.approver_id, g.expires_at) {
        (None, _) => "pending",
        (Some(_), Some(e)) if e > now => "approved",
        _ => "expired",
    };
    GrantJson {
        id: g.grant_id.to_string(),
        person: handle.to_owned(),
        region: region.to_owned(),
        requester_id: g.requester_id.to_string(),
        requester_region: g.requester_region.clone(),
        purpose: g.purpose.clone(),
        ticket: g.ticket.clone(),
        status: status.to_owned(),
        expires_at: g.expires_at.map(reelm_core::rfc3339),
    }
}

/// An operator asks for cross-region access to a person's personal data; the request is kept
/// (pending) in the person's home cell until a privacy officer of that region approves it.
pub async fn request_break_glass(
    p: &Platform,
    op: &Operator,
    req: BreakGlassRequest,
) -> Result<GrantJson, AppError> {
    let not_found = || {
        AppError::user(
            ErrorCode::NotFound,
            format!("person {:?} not found", req.handle),
        )
    };
    let entry = p
        .directory
        .by_handle(&req.handle)
        .await?
        .ok_or_else(not_found)?;
    match p.link(&entry.region).ok_or_else(not_found)? {
        CellLink::Local(home) => {
            request_break_glass_in(home, &op.claim(), entry.user_id, req).await
        }
        CellLink::Remote(remote) => {
            remote
                .post(
                    "operator/break-glass",
                    &serde_json::json!({
                        "operator": op.claim(),
                        "person": entry.user_id,
                        "request": req,
                    }),
                )
                .await
        }
    }
}

/// [`request_break_glass`] in the person's home cell `home`.
pub async fn request_break_glass_in(
    home: &Cell,
    op: &OperatorClaim,
    person: UserId,
    req: BreakGlassRequest,
) -> Result<GrantJson, AppError> {
    if op.home_region == home.id().as_str() {
        return Err(AppError::user(
            ErrorCode::ValidationFailed,
            "break-glass is for another jurisdiction; this person is in your region",
        ));
    }
    if !PURPOSES.contains(&req.purpose.as_str()) || !ticket_open(&req.ticket) {
        return Err(AppError::user(
            ErrorCode::ValidationFailed,
            format!(
                "break-glass needs a purpose ({}) and an open ticket (e.g. SUP-123)",
                PURPOSES.join(", ")
            ),
        ));
    }
    let g = reelm_store::GrantRow {
        grant_id: reelm_core::ids::next_id(),
        person_id: person,
        requester_id: op.operator_id,
        requester_region: op.home_region.clone(),
        purpose: req.purpose,
        ticket: req.ticket,
        created_at: reelm_core::now_ms(),
        approver_id: None,
        expires_at: None,
    };
    home.store.insert_grant(&g).await?;
    Ok(grant_json(&g, home.id().as_str(), &req.handle))
}

/// A second operator approves a pending break-glass request: a privacy officer of the person's
/// region (where the request is kept), never the requester. The grant then lasts one hour.
pub async fn approve_break_glass(
    p: &Platform,
    approver: &Operator,
    id: &str,
) -> Result<GrantJson, AppError> {
    let not_found = || {
        AppError::user(
            ErrorCode::NotFound,
            format!("break-glass request {id:?} not found in your region"),
        )
    };
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let g = approver.home.store.grant(id).await?.ok_or_else(not_found)?;
    if approver.row.role != "privacy_officer" {
        return Err(AppError::user(
            ErrorCode::Forbidden,
            "only a privacy officer of the person's region approves break-glass access",
        ));
    }
    if g.requester_id == approver.row.operator_id {
        return Err(AppError::user(
            ErrorCode::Forbidden,
            "a second operator must approve: nobody approves their own request",
        ));
    }
    let expires_at = reelm_core::now_ms() + BREAK_GLASS_TTL_MS;
    if !approver
        .home
        .store
        .approve_grant(id, approver.row.operator_id, expires_at)
        .await?
    {
        return Err(AppError::user(
            ErrorCode::ValidationFailed,
            "this request was already approved",
        ));
    }
    let g = approver.home.store.grant(id).await?.ok_or_else(not_found)?;
    let handle = p
        .directory
        .by_id(g.person_id)
        .await?
        .map(|e| e.handle)
        .unwrap_or_default();
    Ok(grant_json(&g, approver.home.id().as_str(), &handle))
}

/// One entry of a person's access log, as they see it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[schema(as = AccessLogEntry)]
pub struct AccessLogItem {
    pub seq: i64,
    pub at: String,
    pub operator: String,
    pub role: String,
    pub operator_region: String,
    pub region: String,
    pub action: String,
    pub purpose: String,
    pub ticket: String,
    pub decision: String,
    pub reason: String,
}

/// A page of the person's own access log, newest first.
pub async fn my_access_log(
    cell: &Cell,
    user: UserId,
    cursor: Option<&str>,
    limit: i64,
) -> Result<crate::api::model::Page<AccessLogItem>, AppError> {
    let before: i64 = match cursor {
        Some(c) => crate::cursor::decode(c)?,
        None => i64::MAX,
    };
    let rows = cell
        .store
        .access_entries(user, 0, before, true, limit + 1)
        .await?;
    let more = rows.len() as i64 > limit;
    let mut items = Vec::new();
    for r in rows.iter().take(limit as usize) {
        let rec: AccessRecord = serde_json::from_str(&r.payload)
            .map_err(|e| AppError::Internal(format!("access log entry {}: {e}", r.seq)))?;
        items.push(AccessLogItem {
            seq: r.seq,
            at: reelm_core::rfc3339(r.at_ms),
            operator: rec.operator,
            role: rec.role,
            operator_region: rec.operator_region,
            region: rec.region,
            action: r.kind.clone(),
            purpose: rec.purpose,
            ticket: rec.ticket,
            decision: rec.decision,
            reason: rec.reason,
        });
    }
    let next_cursor = match (more, items.last()) {
        (true, Some(last)) => Some(crate::cursor::encode(&last.seq)),
        _ => None,
    };
    Ok(crate::api::model::Page { items, next_cursor })
}

// ---- OpenAPI schemas of the string sets above ----------------------------------------------------

/// Builds a string enum schema from one of this module's value lists, so the document lists
/// exactly the values the code accepts or answers.
fn string_enum(
    values: &[&str],
    description: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(values.iter().copied()))
        .description(Some(description))
        .into()
}

/// An operator's role ([`ROLES`]).
pub struct OperatorRole;

impl utoipa::PartialSchema for OperatorRole {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        string_enum(&ROLES, "An operator's role")
    }
}

impl utoipa::ToSchema for OperatorRole {}

/// A purpose an operator may declare ([`PURPOSES`]).
pub struct Purpose;

impl utoipa::PartialSchema for Purpose {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        string_enum(
            &PURPOSES,
            "The purpose an operator declares for a read of personal data",
        )
    }
}

impl utoipa::ToSchema for Purpose {}

/// The states of a break-glass grant, as `grant_json` computes them.
pub struct GrantStatus;

impl utoipa::PartialSchema for GrantStatus {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        string_enum(
            &["pending", "approved", "expired"],
            "pending until a privacy officer approves; approved for one hour; then expired",
        )
    }
}

impl utoipa::ToSchema for GrantStatus {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
    }

    #[test]
    fn totp_matches_rfc6238_sha1_vector() {
        // RFC 6238 appendix B, SHA-1, T = 59 s: 94287082 (8 digits) → 287082 with 6 digits.
        assert_eq!(totp_code(b"12345678901234567890", 59).unwrap(), "287082");
    }

    #[test]
    fn tickets() {
        assert!(ticket_open("SUP-123"));
        assert!(!ticket_open("sup-123"));
        assert!(!ticket_open("SUP-"));
        assert!(!ticket_open("SUP123"));
        assert!(!ticket_open(""));
    }

    #[test]
    fn the_policy_decides() {
        let p = OperatorPolicy::embedded();
        let base = AccessRequest {
            operator_id: 1,
            role: "support",
            operator_region: "eu",
            person: UserId(2),
            person_region: "eu",
            purpose: "support_ticket",
            ticket: "SUP-1",
            break_glass: false,
        };
        assert!(p.decide(&base).unwrap().allowed);
        let glass = AccessRequest {
            operator_region: "us",
            break_glass: true,
            ..base.clone()
        };
        assert!(p.decide(&glass).unwrap().allowed);
        assert!(
            !p.decide(&AccessRequest {
                ticket: "",
                ..glass.clone()
            })
            .unwrap()
            .allowed
        );
        let cross = p
            .decide(&AccessRequest {
                operator_region: "us",
                ..base.clone()
            })
            .unwrap();
        assert!(!cross.allowed);
        assert!(cross.reason.contains("jurisdiction"), "{}", cross.reason);
        let no_purpose = p
            .decide(&AccessRequest {
                purpose: "",
                ..base.clone()
            })
            .unwrap();
        assert!(!no_purpose.allowed && no_purpose.reason.contains("purpose"));
        let no_ticket = p
            .decide(&AccessRequest {
                ticket: "",
                ..base.clone()
            })
            .unwrap();
        assert!(!no_ticket.allowed && no_ticket.reason.contains("ticket"));
        let engineer = p
            .decide(&AccessRequest {
                role: "engineer",
                ..base.clone()
            })
            .unwrap();
        assert!(!engineer.allowed && engineer.reason.contains("engineer"));
    }
}
