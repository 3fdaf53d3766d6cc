//! Operator access.
//!
//! Owns: operator accounts (Argon2id password + TOTP, both
//! required), their sessions, authorization of every access to a person's personal data with
//! the Cedar policies in `policy/operator-access.cedar` (default deny), and the access log:
//! every decision, allow or deny, appended to a hash chain kept per person in the person's home
//! cell (the chains themselves are `reelm-residency`'s), which the person can list.
//!
//! Must not know: HTTP (the server reads the operator cookie and calls [`Operator::resolve`]),
//! or other subsystems.
//!
//! Tickets, in this slice: a ticket counts as open when its id has the ticket format
//! `^[A-Z]+-[0-9]+$` (e.g. `SUP-123`); there is no ticket system to ask yet.

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    PolicySet, Request, RestrictedExpression,
};
use reelm_core::{ErrorCode, RegionId, Sensitive, UserId};
use reelm_platform::Error;
use reelm_platform::platform::{Cell, Platform};
use reelm_platform::protocol::CellCall;
use reelm_platform::services::Caller;
use reelm_platform::session;
use reelm_residency::access_log::{AccessLogReport, AccessLogViolation};
pub use reelm_residency::access_log::{AccessRecord, KIND_READ_PERSONAL};
use reelm_store::OperatorRow;
use reelm_vault::{ChainEntry, TrustedKeys};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

/// The Cedar policies an auditor reads.
pub const POLICY: &str = include_str!("../../../policy/operator-access.cedar");
/// The operator session cookie: `<home region>.<token>`, separate from people's sessions.
pub const OPS_COOKIE: &str = "reelm_ops";
/// Operator sessions last 8 hours (one shift).
pub const OPS_SESSION_TTL_MS: i64 = 8 * 3600 * 1000;
/// Purposes an operator may declare.
pub const PURPOSES: [&str; 3] = ["support_ticket", "legal_request", "safety_review"];
/// Operator roles.
pub const ROLES: [&str; 4] = ["moderator", "support", "privacy_officer", "engineer"];

// ---- TOTP (RFC 6238: SHA-1, 6 digits, 30 s, one step of skew) ----------------------------------

fn totp(secret: &[u8]) -> Result<totp_rs::Totp, Error> {
    totp_rs::Builder::new()
        .with_secret(secret.to_vec())
        .build()
        .map_err(|e| Error::Internal(format!("totp: {e}")))
}

/// The current code for `secret` (what an authenticator app shows).
pub fn totp_code(secret: &[u8], unix_secs: u64) -> Result<String, Error> {
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
#[derive(Debug)]
pub struct NewOperator {
    pub operator_id: i64,
    pub name: String,
    pub role: String,
    pub region: String,
    pub password: Sensitive<String>,
    pub totp_secret: Sensitive<Vec<u8>>,
    /// Sensitive: the `otpauth://` URI carries the TOTP secret in base32.
    pub provisioning_uri: Sensitive<String>,
}

fn check_name(name: &str) -> Result<(), Error> {
    let ok = (3..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(Error::user(
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
) -> Result<NewOperator, Error> {
    check_name(name)?;
    if !ROLES.contains(&role) {
        return Err(Error::user(
            ErrorCode::ValidationFailed,
            format!("role must be one of {}", ROLES.join(", ")),
        ));
    }
    let cell = RegionId::new(region)
        .ok()
        .and_then(|r| p.cell(&r).cloned())
        .ok_or_else(|| {
            Error::user(
                ErrorCode::ValidationFailed,
                format!("unknown region {region:?}"),
            )
        })?;
    let id = reelm_core::ids::next_id();
    let password = session::random_token();
    let secret: [u8; 20] = rand::random();
    let (key, wrapped) = cell.new_user_key(UserId(id))?;
    let row = OperatorRow {
        operator_id: id,
        name: name.to_owned(),
        role: role.to_owned(),
        home_region: cell.id().to_string(),
        password_hash: session::hash_password(password.clone()).await?,
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
            reelm_store::StoreError::Unique(_) => Error::user(
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
        password: password.into(),
        totp_secret: secret.to_vec().into(),
        provisioning_uri: provisioning_uri.into(),
    })
}

fn totp_secret(cell: &Cell, op: &OperatorRow) -> Result<Vec<u8>, Error> {
    let key = cell.open_key(op.operator_id, &op.wrapped_key)?;
    let text = cell.unseal(
        &key,
        UserId(op.operator_id),
        "operators",
        "totp_secret_enc",
        &op.totp_secret_enc,
    )?;
    hex::decode(text).map_err(|_| Error::Internal("stored TOTP secret is not hex".into()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct OpsLogIn {
    pub name: String,
    pub region: String,
    #[schema(value_type = String)]
    pub password: Sensitive<String>,
    /// 6-digit RFC 6238 code
    #[schema(value_type = String)]
    pub totp: Sensitive<String>,
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
) -> Result<(OperatorJson, Arc<Cell>, String), Error> {
    let wrong = || {
        Error::user(
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
    let password_ok = session::verify_password(req.password.into_inner(), stored).await?;
    let (Some(cell), Some(op)) = (cell, op) else {
        return Err(wrong());
    };
    if !password_ok {
        return Err(wrong());
    }
    let Some(step) = totp_step(&totp_secret(&cell, &op)?, req.totp.expose()) else {
        return Err(wrong());
    };
    // A code seen once (e.g. shoulder-surfed, or replayed from a captured request) must not
    // open a second session within its window: claim its step, and refuse a step at or before
    // the last one accepted exactly like a wrong code, so the answer reveals nothing more.
    let step = i64::try_from(step).map_err(|_| wrong())?;
    if !cell.store.claim_totp_step(op.operator_id, step).await? {
        return Err(wrong());
    }
    let token = session::random_token();
    let now = reelm_core::now_ms();
    cell.store
        .insert_operator_session(
            &session::token_hash(&token),
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

impl Operator {
    /// The operator signed in with `token` in `region`'s cell (the server reads both from the
    /// operator cookie `<region>.<token>`), when that cell runs in this process.
    pub async fn resolve(
        p: &Platform,
        region: &str,
        token: &str,
    ) -> Result<Option<Operator>, Error> {
        let Some(cell) = RegionId::new(region).ok().and_then(|r| p.cell(&r).cloned()) else {
            return Ok(None);
        };
        let Some(id) = cell
            .store
            .operator_session(&session::token_hash(token), reelm_core::now_ms())
            .await?
        else {
            return Ok(None);
        };
        Ok(cell
            .store
            .operator(id)
            .await?
            .map(|row| Operator { row, home: cell }))
    }
}

// ---- the cell calls of operators ----------------------------------------------------------------

/// An operator of the calling region reads a person of the called cell: decided by that cell's
/// Cedar policy and logged in the person's access log there, exactly as in one process.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OperatorRead {
    pub operator: OperatorClaim,
    pub person: UserId,
    pub purpose: String,
    pub ticket: String,
}

impl CellCall for OperatorRead {
    const PATH: &'static str = "operators/read-personal";
    type Response = PersonalData;
}

/// An operator of the calling region asks for break-glass access to a person of the called
/// cell.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OperatorBreakGlass {
    pub operator: OperatorClaim,
    pub person: UserId,
    pub request: BreakGlassRequest,
}

impl CellCall for OperatorBreakGlass {
    const PATH: &'static str = "operators/break-glass";
    type Response = GrantJson;
}

/// The operator a calling cell vouches for: only one of the caller's own region.
fn vouched(caller: &Caller, op: &OperatorClaim) -> Result<(), Error> {
    if op.home_region == caller.region.as_str() {
        Ok(())
    } else {
        Err(Error::user(
            ErrorCode::Forbidden,
            format!(
                "cell {} may speak only for its own operators, not for one of {}",
                caller.region, op.home_region
            ),
        ))
    }
}

/// Registers the operators' cell calls with the platform's cell services (once; later calls do
/// nothing). The server does this at start-up; the operations below make sure of it too.
pub fn register(p: &Platform) {
    struct Registered;
    p.extension(|| {
        let services = p.cell_services();
        services.register(
            |cell: Arc<Cell>, caller: Caller, q: OperatorRead| async move {
                vouched(&caller, &q.operator)?;
                read_personal_in(&cell, &q.operator, q.person, q.purpose, q.ticket).await
            },
        );
        services.register(
            |cell: Arc<Cell>, caller: Caller, q: OperatorBreakGlass| async move {
                vouched(&caller, &q.operator)?;
                request_break_glass_in(&cell, &q.operator, q.person, q.request).await
            },
        );
        Arc::new(Registered)
    });
}

/// Appends one decision to `person`'s access log in their home `cell` (see
/// [`reelm_residency::access_log::append_access`]).
pub async fn append_access(
    cell: &Cell,
    person: UserId,
    record: &AccessRecord,
) -> Result<ChainEntry, Error> {
    Ok(
        reelm_residency::access_log::append_access(&cell.store, &cell.ledger, person, record)
            .await?,
    )
}

/// Verifies `person`'s access log in `cell` against the region's signed checkpoints.
pub async fn verify_access_log(
    cell: &Cell,
    person: UserId,
) -> Result<Result<u64, AccessLogViolation>, Error> {
    Ok(reelm_residency::access_log::verify_access_log(&cell.store, &cell.ledger, person).await?)
}

/// Verifies every access log of `cell` (see [`reelm_residency::access_log::verify_access_logs`]).
pub async fn verify_access_logs(
    p: &Platform,
    cell: &Cell,
    keys: &TrustedKeys,
) -> Result<Result<AccessLogReport, AccessLogViolation>, Error> {
    Ok(reelm_residency::access_log::verify_access_logs(
        &p.directory,
        &cell.store,
        &cell.ledger,
        keys,
    )
    .await?)
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

fn uid(ty: &str, id: &str) -> Result<EntityUid, Error> {
    let ty = EntityTypeName::from_str(ty).map_err(|e| Error::Internal(e.to_string()))?;
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
    pub fn decide(&self, r: &AccessRequest<'_>) -> Result<AccessDecision, Error> {
        let internal = |e: &dyn std::fmt::Display| Error::Internal(format!("cedar: {e}"));
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

/// The person's decrypted account fields, on an allowed read.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PersonalData {
    pub id: String,
    pub handle: String,
    pub region: String,
    #[schema(value_type = String)]
    pub email: Sensitive<String>,
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
) -> Result<PersonalData, Error> {
    let not_found = || Error::user(ErrorCode::NotFound, format!("person {handle:?} not found"));
    let entry = p.directory.by_handle(handle).await?.ok_or_else(not_found)?;
    let purpose = q.purpose.unwrap_or_default();
    let ticket = q.ticket.unwrap_or_default();
    register(p);
    let home = p.link(&entry.region).ok_or_else(not_found)?;
    let call = OperatorRead {
        operator: op.claim(),
        person: entry.user_id,
        purpose,
        ticket,
    };
    home.call(op.home.id(), call).await
}

/// [`read_personal`] in the person's home cell `home`.
pub async fn read_personal_in(
    home: &Cell,
    op: &OperatorClaim,
    person: UserId,
    purpose: String,
    ticket: String,
) -> Result<PersonalData, Error> {
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
        return Err(Error::user(ErrorCode::Forbidden, decision.reason));
    }
    // An operator of another region takes personal data out of the person's region: a
    // transfer like any other, decided by the residency policy and ledgered here (the source).
    if op.home_region != home.id().as_str() {
        let to = RegionId::new(&op.home_region).map_err(|_| {
            Error::Internal(format!(
                "operator region {:?} is not a region",
                op.home_region
            ))
        })?;
        let transfer = reelm_platform::gateway::Transfer {
            class: reelm_core::DataClass::Personal,
            purpose: reelm_residency::policy::PURPOSE_OPERATOR_ACCESS,
            object: "operator_read",
            distinct_people: None,
        };
        reelm_platform::gateway::require(home, &to, &transfer).await?;
    }
    let me = reelm_platform::views::own_account(home, person).await?;
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

#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
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
) -> Result<GrantJson, Error> {
    let not_found = || {
        Error::user(
            ErrorCode::NotFound,
            format!("person {:?} not found", req.handle),
        )
    };
    let entry = p
        .directory
        .by_handle(&req.handle)
        .await?
        .ok_or_else(not_found)?;
    register(p);
    let home = p.link(&entry.region).ok_or_else(not_found)?;
    let call = OperatorBreakGlass {
        operator: op.claim(),
        person: entry.user_id,
        request: req,
    };
    home.call(op.home.id(), call).await
}

/// [`request_break_glass`] in the person's home cell `home`.
pub async fn request_break_glass_in(
    home: &Cell,
    op: &OperatorClaim,
    person: UserId,
    req: BreakGlassRequest,
) -> Result<GrantJson, Error> {
    if op.home_region == home.id().as_str() {
        return Err(Error::user(
            ErrorCode::ValidationFailed,
            "break-glass is for another jurisdiction; this person is in your region",
        ));
    }
    if !PURPOSES.contains(&req.purpose.as_str()) || !ticket_open(&req.ticket) {
        return Err(Error::user(
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
) -> Result<GrantJson, Error> {
    let not_found = || {
        Error::user(
            ErrorCode::NotFound,
            format!("break-glass request {id:?} not found in your region"),
        )
    };
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let g = approver.home.store.grant(id).await?.ok_or_else(not_found)?;
    if approver.row.role != "privacy_officer" {
        return Err(Error::user(
            ErrorCode::Forbidden,
            "only a privacy officer of the person's region approves break-glass access",
        ));
    }
    if g.requester_id == approver.row.operator_id {
        return Err(Error::user(
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
        return Err(Error::user(
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
) -> Result<reelm_platform::views::Page<AccessLogItem>, Error> {
    let before: i64 = match cursor {
        Some(c) => reelm_platform::cursor::decode(c)?,
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
            .map_err(|e| Error::Internal(format!("access log entry {}: {e}", r.seq)))?;
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
        (true, Some(last)) => Some(reelm_platform::cursor::encode(&last.seq)),
        _ => None,
    };
    Ok(reelm_platform::views::Page { items, next_cursor })
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

#[cfg(test)]
#[path = "tests.rs"]
mod platform_tests;
