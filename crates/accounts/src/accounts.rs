//! Sign-up (placement in the home region), log-in, the account view and "where my data lives".

use reelm_core::{DataClass, ErrorCode, Sensitive, UserError, UserId, validate};
use reelm_platform::Error;
use reelm_platform::platform::{Cell, Platform};
use reelm_platform::session;
use reelm_platform::views::UserJson;
use reelm_store::registry::{self, Scope};
use reelm_store::{DirectoryEntry, NewAccount, StoreError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SignUp {
    pub handle: String,
    #[schema(value_type = String)]
    pub email: Sensitive<String>,
    #[schema(value_type = String)]
    pub password: Sensitive<String>,
    #[schema(format = Date)]
    pub birth_date: String,
    pub country: String,
    #[serde(default)]
    pub display_name: Option<String>,
}

/// What a successful sign-up or log-in hands back: the person and a new session.
pub struct NewSession {
    pub user: UserJson,
    pub cell: Arc<Cell>,
    pub token: Sensitive<String>,
    pub csrf: Sensitive<String>,
}

fn invalid(field: &str, message: String) -> Error {
    Error::User(UserError::validation(format!("{field}: {message}")))
}

/// Password hash of seeded people who cannot log in.
pub const NO_PASSWORD: Option<String> = None;

/// Creates an account in the home region of `country`. The directory learns only the handle
/// and the region; everything else goes to the home cell, encrypted under the person's key.
pub async fn sign_up(p: &Platform, req: SignUp) -> Result<NewSession, Error> {
    let handle = validate::handle(&req.handle).map_err(|m| invalid("handle", m))?;
    let email = validate::email(req.email.expose()).map_err(|m| invalid("email", m))?;
    validate::password(req.password.expose()).map_err(|m| invalid("password", m))?;
    let today = time::OffsetDateTime::now_utc().date();
    let birth =
        validate::birth_date(&req.birth_date, today).map_err(|m| invalid("birth_date", m))?;
    let country = validate::country(&req.country).map_err(|m| invalid("country", m))?;
    let display_name = validate::display_name(req.display_name.as_deref().unwrap_or(&handle))
        .map_err(|m| invalid("display_name", m))?;
    let display_name = if display_name.is_empty() {
        handle.clone()
    } else {
        display_name
    };
    let password_hash = session::hash_password(req.password.into_inner()).await?;
    let user = create_account(
        p,
        &handle,
        &email,
        Some(password_hash),
        &birth.to_string(),
        &country,
        &display_name,
    )
    .await?;
    start_session(p, user).await
}

/// Registers the handle, then writes the account to the home cell; undoes the registration
/// when the second step fails so nothing half-made remains.
pub async fn create_account(
    p: &Platform,
    handle: &str,
    email: &str,
    password_hash: Option<String>,
    birth_date: &str,
    country: &str,
    display_name: &str,
) -> Result<UserId, Error> {
    let cell = p.cell_for_country(country)?.clone();
    let user = UserId::new();
    let now = reelm_core::now_ms();
    let entry = DirectoryEntry {
        user_id: user,
        handle: handle.to_owned(),
        region: cell.id().clone(),
    };
    match p.directory.register(&entry, now).await {
        Err(StoreError::Unique(_)) => {
            return Err(Error::user(
                ErrorCode::HandleTaken,
                format!("the handle @{handle} is taken; try another"),
            ));
        }
        other => other?,
    }
    let result = async {
        let (key, wrapped) = cell.new_user_key(user)?;
        let account = NewAccount {
            user_id: user,
            handle: handle.to_owned(),
            display_name: display_name.to_owned(),
            email_index: cell.email_index(email).into(),
            email_enc: cell.seal(&key, user, "accounts", "email_enc", email),
            password_hash: password_hash.map(Sensitive::new),
            birth_date_enc: cell.seal(&key, user, "accounts", "birth_date_enc", birth_date),
            country_enc: cell.seal(&key, user, "accounts", "country_enc", country),
            key_id: wrapped.key_id.clone(),
            wrapped_key: wrapped.to_bytes().into(),
            created_at: now,
        };
        match cell.store.insert_account(&account).await {
            Err(StoreError::Unique(m)) if m.contains("email") => Err(Error::user(
                ErrorCode::EmailTaken,
                "an account with this email already exists; log in instead",
            )),
            other => Ok(other?),
        }
    }
    .await;
    if let Err(e) = result {
        p.directory.remove(user).await?;
        return Err(e);
    }
    Ok(user)
}

pub async fn start_session(p: &Platform, user: UserId) -> Result<NewSession, Error> {
    let cell = p
        .home_of(user)
        .await?
        .ok_or_else(|| Error::Internal("account without home".into()))?;
    let token = session::random_token();
    let now = reelm_core::now_ms();
    cell.store
        .insert_session(
            &session::token_hash(&token),
            user,
            now,
            now + session::SESSION_TTL_MS,
        )
        .await?;
    let user = me(&cell, user).await?;
    Ok(NewSession {
        user,
        cell,
        token: token.into(),
        csrf: session::random_token().into(),
    })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LogIn {
    pub handle: String,
    #[schema(value_type = String)]
    pub password: Sensitive<String>,
}

pub async fn log_in(p: &Platform, req: LogIn) -> Result<NewSession, Error> {
    let wrong = || Error::user(ErrorCode::WrongCredentials, "wrong handle or password");
    let handle = validate::handle(&req.handle).unwrap_or_default();
    let entry = p.directory.by_handle(&handle).await?;
    let account = match &entry {
        // The edge sends a login to the handle's home cell (see `api::cells::route_home`).
        Some(e) => match p.cell(&e.region) {
            Some(cell) => cell.store.account(e.user_id).await?,
            None => None,
        },
        None => None,
    };
    let stored = account
        .as_ref()
        .and_then(|a| a.password_hash.clone())
        .map(Sensitive::into_inner);
    if !session::verify_password(req.password.into_inner(), stored).await? {
        return Err(wrong());
    }
    let user = account.map(|a| a.user_id).ok_or_else(wrong)?;
    start_session(p, user).await
}

/// The person's own account, decrypted with their key.
pub async fn me(cell: &Cell, user: UserId) -> Result<UserJson, Error> {
    reelm_platform::views::own_account(cell, user).await
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClassHolding {
    pub class: DataClass,
    pub description: &'static str,
    pub stays_in_region: bool,
    pub tables: Vec<&'static str>,
    pub rows: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DataLocation {
    pub region: String,
    pub data_center: String,
    pub jurisdiction: String,
    pub classes: Vec<ClassHolding>,
}

/// What the home cell holds about a person, grouped by data class.
pub async fn data_location(cell: &Cell, user: UserId) -> Result<DataLocation, Error> {
    let counts = cell.store.rows_owned_by(user).await?;
    let mut classes: Vec<ClassHolding> = Vec::new();
    for (table, rows) in counts {
        let Some(spec) = registry::table(Scope::Cell, table) else {
            continue;
        };
        let class = spec.class();
        match classes.iter_mut().find(|c| c.class == class) {
            Some(h) => {
                h.tables.push(table);
                h.rows += rows;
            }
            None => classes.push(ClassHolding {
                class,
                description: class.description(),
                stays_in_region: class.bound_to_home_region(),
                tables: vec![table],
                rows,
            }),
        }
    }
    classes.sort_by_key(|c| c.class);
    Ok(DataLocation {
        region: cell.id().to_string(),
        data_center: cell.config.data_center.clone(),
        jurisdiction: cell.config.jurisdiction.clone(),
        classes,
    })
}
