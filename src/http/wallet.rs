//! `/wallet`: the balance, charges and the transaction history. Any live token will do.

use super::openapi::answers::{BodyErrors, BusyErrors, ChargeErrors, FanErrors, KeyedErrors, ParameterErrors};
use super::openapi::fields::IdempotencyKeyHeader;
use super::{at_most_once_per_key, json_answer, parse_json, resource, AppState, JsonBody};
use crate::actors::queue::Fan;
use crate::domain::idempotency::{Answer, Endpoint};
use crate::domain::wallet;
use crate::domain::{PaymentId, TransactionId, UserId};
use crate::error::{Error, ErrorCode, Result};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

const TRANSACTIONS_LIMIT_DEFAULT: usize = 50;
pub(crate) const TRANSACTIONS_LIMIT_MAX: usize = 1000;

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(resource("/wallet").get(balance))
        .service(resource("/wallet/charges").post(charge))
        .service(resource("/wallet/transactions").get(transactions));
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Balance {
    #[schema(value_type = uuid::Uuid)]
    pub user_id: UserId,
    pub balance: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    #[schema(value_type = uuid::Uuid)]
    pub transaction_id: TransactionId,
    #[serde(rename = "type")]
    pub kind: TransactionType,
    pub amount: i64,
    pub balance_after: i64,
    pub at: DateTime<Utc>,
    #[schema(value_type = Option<uuid::Uuid>)]
    pub payment_id: Option<PaymentId>,
}

impl From<&wallet::Transaction> for Transaction {
    fn from(transaction: &wallet::Transaction) -> Self {
        Self {
            transaction_id: transaction.transaction_id,
            kind: transaction.kind.into(),
            amount: transaction.amount,
            balance_after: transaction.balance_after,
            at: transaction.at,
            payment_id: transaction.payment_id,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TransactionType {
    Charge,
    Payment,
    /// A cancelled ticket's refund: the amount is what came back.
    Refund,
}

impl From<wallet::TransactionType> for TransactionType {
    fn from(kind: wallet::TransactionType) -> Self {
        match kind {
            wallet::TransactionType::Charge => Self::Charge,
            wallet::TransactionType::Payment => Self::Payment,
            wallet::TransactionType::Refund => Self::Refund,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewCharge {
    /// Whole won, up to the server's charge limit; anything else is 400 INVALID_AMOUNT.
    #[schema(value_type = i64, minimum = 1)]
    pub amount: serde_json::Value,
}

#[utoipa::path(get, path = "/api/v1/wallet", tag = "wallet", security(("queueToken" = [])),
    responses((status = 200, body = Balance), FanErrors, BusyErrors))]
pub async fn balance(state: web::Data<AppState>, fan: Fan) -> Result<HttpResponse> {
    let balance = state.services.wallet.balance(fan.user).await?;
    Ok(HttpResponse::Ok().json(Balance {
        user_id: fan.user,
        balance,
    }))
}

#[utoipa::path(post, path = "/api/v1/wallet/charges", tag = "wallet", security(("queueToken" = [])),
    request_body = NewCharge, params(IdempotencyKeyHeader),
    // ChargeErrors after BodyErrors and KeyedErrors: its 400 also names INVALID_AMOUNT.
    responses((status = 200, body = Balance), FanErrors, BodyErrors, KeyedErrors, ChargeErrors, BusyErrors))]
pub async fn charge(
    state: web::Data<AppState>,
    fan: Fan,
    request: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse> {
    let new: NewCharge = parse_json(&body)?;
    let amount = new.amount.as_i64().ok_or_else(|| {
        let detail = format!(
            "A charge is a whole number of won from 1 to {}.",
            state.services.config.charge_max
        );
        let korean = format!(
            "충전 금액은 1원부터 {}원까지의 정수입니다.",
            crate::domain::wallet::won(state.services.config.charge_max)
        );
        Error::new(ErrorCode::InvalidAmount, detail).with_korean(korean)
    })?;
    let services = state.services.clone();
    at_most_once_per_key(
        &state,
        &request,
        fan.user,
        Endpoint::Charges,
        &body,
        move |slot| async move {
            let answer = move |balance: &i64| charged(fan.user, *balance);
            let keyed = slot.map(|slot| slot.keyed(answer));
            let balance = services.wallet.charge(fan.user, amount, keyed).await?;
            answer(&balance)
        },
    )
    .await
}

fn charged(user_id: UserId, balance: i64) -> Answer {
    json_answer(StatusCode::OK, &Balance { user_id, balance })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct TransactionsQuery {
    /// How many, newest first: 1 to 1000, 50 when not given.
    #[param(nullable = false, minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/wallet/transactions", tag = "wallet", security(("queueToken" = [])), params(TransactionsQuery),
    responses((status = 200, description = "Newest first", body = [Transaction]), FanErrors, ParameterErrors, BusyErrors))]
pub async fn transactions(
    state: web::Data<AppState>,
    fan: Fan,
    query: web::Query<TransactionsQuery>,
) -> Result<HttpResponse> {
    let limit = query.limit.unwrap_or(TRANSACTIONS_LIMIT_DEFAULT);
    if !(1..=TRANSACTIONS_LIMIT_MAX).contains(&limit) {
        return Err(Error::invalid_request("limit must be from 1 to 1000."));
    }
    let transactions = state.services.wallet.transactions(fan.user, limit).await?;
    Ok(HttpResponse::Ok().json(transactions.iter().map(Transaction::from).collect::<Vec<_>>()))
}
