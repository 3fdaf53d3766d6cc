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
pub async fn read_personal(
    State(p): State<Arc<Platform>>,
    SignedInOperator(op): SignedInOperator,
    Path(handle): Path<String>,
    ApiQuery(q): ApiQuery<PersonalQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(ops::read_personal(&p, &op, &handle, q).await?).into_response())
}

/// `GET /api/me/access-log`: who accessed (or tried to access) my personal data, newest first.
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
pub async fn approve_break_glass(
    State(p): State<Arc<Platform>>,
    SignedInOperator(op): SignedInOperator,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(ops::approve_break_glass(&p, &op, &id).await?).into_response())
}
