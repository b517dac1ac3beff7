//! `/users`: registering a fan and reading one back.

use super::client::Client;
use super::openapi::answers::{BodyErrors, BusyErrors, ClientErrors, ParameterErrors, UserNotFound};
use super::openapi::fields;
use super::{params, parse_json, resource, AppState, JsonBody};
use crate::domain::{user, UserId};
use crate::error::{Error, Result};
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

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

/// `/users/{userId}` as the path spells it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserPath {
    user_id: String,
}

impl TryFrom<UserPath> for UserId {
    type Error = Error;

    fn try_from(path: UserPath) -> Result<Self> {
        params::id(&path.user_id, "userId")
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[schema(value_type = uuid::Uuid)]
    pub user_id: UserId,
    pub name: String,
}

impl From<user::User> for User {
    fn from(user: user::User) -> Self {
        Self {
            user_id: user.user_id,
            name: user.name,
        }
    }
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = User), ClientErrors, BodyErrors, BusyErrors))]
pub async fn register(state: web::Data<AppState>, _: Client, body: JsonBody) -> Result<HttpResponse> {
    let new_user: NewUser = parse_json(&body)?;
    let user = state.services.users.register(&new_user.name).await?;
    Ok(HttpResponse::Created().json(User::from(user)))
}

#[utoipa::path(get, path = "/api/v1/users/{userId}", tag = "users",
    params(("userId" = uuid::Uuid, Path)),
    responses((status = 200, body = User), ParameterErrors, UserNotFound))]
pub async fn read(state: web::Data<AppState>, path: web::Path<UserPath>) -> Result<HttpResponse> {
    let user = UserId::try_from(path.into_inner())?;
    Ok(HttpResponse::Ok().json(User::from(state.services.users.get(user)?)))
}
