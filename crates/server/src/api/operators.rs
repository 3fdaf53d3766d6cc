//! Operator access: operator sign-in, reads of a person's personal data decided by Cedar, and
//! the person's own access log.

use super::{ApiJson, ApiQuery, PageQuery, json};
use crate::auth::{SignedInOperator, Viewer};
use crate::error::ApiError;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use reelm_operators::{self as ops, OpsLogIn, PersonalQuery};
use reelm_platform::Platform;
use reelm_platform::cursor;
use std::sync::Arc;

/// `POST /api/ops/login`: password and TOTP, both required; sets the `reelm_ops` cookie.
#[utoipa::path(
    post,
    path = "/api/ops/login",
    tag = "operators",
    operation_id = "ops_log_in",
    summary = "Operator sign-in: password and TOTP code, both required; sets the reelm_ops cookie (HttpOnly, SameSite=Strict, Path=/api/ops)",
    request_body = OpsLogIn,
    responses(
        (status = 200, description = "the operator", body = ops::OperatorJson),
        (status = 401, description = "wrong name, region, password or TOTP code", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn log_in(
    State(p): State<Arc<Platform>>,
    ApiJson(req): ApiJson<OpsLogIn>,
) -> Result<Response, ApiError> {
    let (op, cell, token) = ops::log_in(&p, req).await?;
    let mut resp = json(StatusCode::OK, op);
    if let Ok(v) = ops::ops_cookie(cell.id(), &token, p.config.cookie_secure).parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// `GET /api/ops/me`: the signed-in operator.
#[utoipa::path(
    get,
    path = "/api/ops/me",
    tag = "operators",
    operation_id = "ops_me",
    summary = "The signed-in operator",
    responses(
        (status = 200, description = "the operator", body = ops::OperatorJson),
        (status = 401, description = "no operator session", body = crate::api::openapi::ErrorBody),
    ),
    security(("operator" = [])),
)]
pub async fn me(SignedInOperator(op): SignedInOperator) -> Response {
    Json(ops::OperatorJson {
        id: op.row.operator_id.to_string(),
        name: op.row.name.clone(),
        role: op.row.role.clone(),
        region: op.row.home_region.clone(),
    })
    .into_response()
}

/// `GET /api/ops/people/{handle}/personal?purpose=&ticket=`.
#[utoipa::path(
    get,
    path = "/api/ops/people/{handle}/personal",
    tag = "operators",
    summary = "Read a person's personal data, decided by the Cedar policy policy/operator-access.cedar (same jurisdiction, declared purpose, open ticket); every decision is logged in the person's access log",
    params(("handle" = String, Path, description = "the person's public handle"), PersonalQuery),
    responses(
        (status = 200, description = "the person's decrypted account fields", body = ops::PersonalData),
        (status = 401, description = "no operator session", body = crate::api::openapi::ErrorBody),
        (status = 403, description = "denied by policy; the message gives the reason", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such person", body = crate::api::openapi::ErrorBody),
    ),
    security(("operator" = [])),
)]
pub async fn read_personal(
    State(p): State<Arc<Platform>>,
    SignedInOperator(op): SignedInOperator,
    Path(handle): Path<String>,
    ApiQuery(q): ApiQuery<PersonalQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(ops::read_personal(&p, &op, &handle, q).await?).into_response())
}

/// `GET /api/me/access-log`: who accessed (or tried to access) my personal data, newest first.
#[utoipa::path(
    get,
    path = "/api/me/access-log",
    tag = "accounts",
    summary = "Who accessed (or tried to access) my personal data: operator, role, region, purpose, ticket, decision and reason, newest first",
    params(PageQuery),
    responses(
        (status = 200, description = "a page of access-log entries", body = crate::api::openapi::AccessLogPage),
        (status = 400, description = "bad cursor or limit", body = crate::api::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::api::openapi::ErrorBody),
    ),
    security(("session" = [])),
)]
pub async fn my_access_log(
    v: Viewer,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let limit = cursor::limit(q.limit, 20)?;
    Ok(
        Json(ops::my_access_log(&v.home, v.user, q.cursor.as_deref(), limit).await?)
            .into_response(),
    )
}

/// `POST /api/ops/break-glass`: ask for cross-region access (pending until approved).
#[utoipa::path(
    post,
    path = "/api/ops/break-glass",
    tag = "operators",
    summary = "Ask for cross-region (break-glass) access to a person's personal data; pending until a privacy officer of the person's region approves",
    request_body = ops::BreakGlassRequest,
    responses(
        (status = 201, description = "the pending grant", body = ops::GrantJson),
        (status = 400, description = "same region, or no purpose or ticket", body = crate::api::openapi::ErrorBody),
        (status = 401, description = "no operator session", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such person", body = crate::api::openapi::ErrorBody),
    ),
    security(("operator" = [])),
)]
pub async fn request_break_glass(
    State(p): State<Arc<Platform>>,
    SignedInOperator(op): SignedInOperator,
    ApiJson(req): ApiJson<ops::BreakGlassRequest>,
) -> Result<Response, ApiError> {
    Ok(json(
        StatusCode::CREATED,
        ops::request_break_glass(&p, &op, req).await?,
    ))
}

/// `POST /api/ops/break-glass/{id}/approve`: a second operator approves; lasts one hour.
#[utoipa::path(
    post,
    path = "/api/ops/break-glass/{id}/approve",
    tag = "operators",
    summary = "A second operator (a privacy officer of the person's region, not the requester) approves a break-glass request; the grant lasts one hour",
    params(("id" = String, Path, description = "the break-glass request's id")),
    responses(
        (status = 200, description = "the approved grant", body = ops::GrantJson),
        (status = 401, description = "no operator session", body = crate::api::openapi::ErrorBody),
        (status = 403, description = "not a privacy officer, or the requester", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such request in the approver's region", body = crate::api::openapi::ErrorBody),
    ),
    security(("operator" = [])),
)]
pub async fn approve_break_glass(
    State(p): State<Arc<Platform>>,
    SignedInOperator(op): SignedInOperator,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(ops::approve_break_glass(&p, &op, &id).await?).into_response())
}
