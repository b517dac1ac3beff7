//! JSON as the paths a rush asks most write it: into a buffer the body fits from the start, and
//! with each time written as one string. serde_json starts a body at 128 bytes and grows it by
//! copying (an ACTIVE status, some 650 bytes, grew three times), and chrono's own `Serialize`
//! hands a time to the formatter, which writes it a character at a time, each character a
//! string of its own for serde_json to scan for escapes.

use crate::error::{Error, Result};
use actix_web::HttpResponse;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};

/// Room for a queue status with its admission, and to spare: one allocation and no copy.
const BODY_BYTES: usize = 1024;

/// 200 with `value` as its JSON body: the answer `HttpResponse::Ok().json(value)` gives.
pub fn ok(value: &impl Serialize) -> Result<HttpResponse> {
    let mut body = Vec::with_capacity(BODY_BYTES);
    serde_json::to_writer(&mut body, value).map_err(Error::internal)?;
    Ok(HttpResponse::Ok().content_type("application/json").body(body))
}

/// `time` as chrono's `Serialize` writes it (RFC 3339 in UTC with `Z`, and as many fractional
/// digits as it needs), formatted first and written as one string.
pub fn time<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&time.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// An optional [`time`]: null when there is none.
pub fn optional_time<S: Serializer>(time: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => self::time(time, serializer),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[derive(Serialize)]
    struct Times {
        #[serde(serialize_with = "time")]
        at: DateTime<Utc>,
        #[serde(serialize_with = "optional_time")]
        until: Option<DateTime<Utc>>,
        #[serde(serialize_with = "optional_time")]
        never: Option<DateTime<Utc>>,
    }

    #[derive(Serialize)]
    struct ChronoTimes {
        at: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
        never: Option<DateTime<Utc>>,
    }

    #[test]
    fn times_are_written_as_chronos_own_serialize_writes_them() {
        let whole = Utc.with_ymd_and_hms(2026, 12, 24, 19, 30, 0).unwrap();
        let instants = [
            whole,
            whole + chrono::Duration::milliseconds(120),
            whole + chrono::Duration::microseconds(7),
            whole + chrono::Duration::nanoseconds(430_550_386),
            Utc.timestamp_opt(0, 0).unwrap(),
            Utc.timestamp_opt(1_700_000_000, 999_999_999).unwrap(),
            // A leap second, which chrono writes as second 60.
            Utc.from_utc_datetime(
                &chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
                    .unwrap()
                    .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
                    .unwrap(),
            ),
        ];
        for at in instants {
            let ours = Times {
                at,
                until: Some(at),
                never: None,
            };
            let chronos = ChronoTimes {
                at,
                until: Some(at),
                never: None,
            };
            assert_eq!(
                serde_json::to_string(&ours).unwrap(),
                serde_json::to_string(&chronos).unwrap()
            );
            assert_eq!(
                serde_json::to_value(&ours).unwrap(),
                serde_json::to_value(&chronos).unwrap()
            );
        }
    }

    #[tokio::test]
    async fn a_body_is_the_json_of_its_value() {
        let value = serde_json::json!({"token": "a", "position": 0});
        let response = ok(&value).unwrap();
        assert_eq!(response.status(), actix_web::http::StatusCode::OK);
        let content_type = response.headers().get(actix_web::http::header::CONTENT_TYPE);
        assert_eq!(content_type.unwrap(), "application/json");
        let body = actix_web::body::to_bytes(response.into_body()).await.unwrap();
        assert_eq!(body, serde_json::to_vec(&value).unwrap());
    }
}
