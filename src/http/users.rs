//! `/users`: registering a fan and reading one back.

use super::client::Client;
use super::openapi::answers::{BodyErrors, BusyErrors, ClientErrors, ParameterErrors, UserNotFound};
use super::openapi::fields;
use super::{parse_json, resource, AppState, JsonBody};
use crate::domain::ids::parse_hyphenated_uuid;
use crate::domain::user::User;
use crate::domain::UserId;
use crate::error::{Error, Result};
use actix_web::{web, HttpResponse};
use serde::Deserialize;

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(resource("/users").post(register))
        .service(resource("/users/{userId}").get(read));
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewUser {
    #[schema(schema_with = fields::name)]
    pub name: String,
}

/// Parses a hyphenated UUID path parameter; anything else is 400 INVALID_REQUEST.
pub fn parse_uuid(text: &str, what: &str) -> Result<uuid::Uuid> {
    parse_hyphenated_uuid(text).ok_or_else(|| Error::invalid_request(format!("{what} must be a hyphenated UUID.")))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = User), ClientErrors, BodyErrors, BusyErrors))]
pub async fn register(state: web::Data<AppState>, _: Client, body: JsonBody) -> Result<HttpResponse> {
    let new_user: NewUser = parse_json(&body)?;
    let user = state.services.users.register(&new_user.name).await?;
    Ok(HttpResponse::Created().json(user))
}

#[utoipa::path(get, path = "/api/v1/users/{userId}", tag = "users",
    params(("userId" = uuid::Uuid, Path)),
    responses((status = 200, body = User), ParameterErrors, UserNotFound))]
pub async fn read(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse> {
    let user = UserId(parse_uuid(&path, "userId")?);
    Ok(HttpResponse::Ok().json(state.services.users.get(user)?))
}
