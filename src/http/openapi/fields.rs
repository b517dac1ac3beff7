//! Schemas of the bounded values requests carry: concert dates, names and titles, and the
//! Idempotency-Key header, each stating exactly what the server accepts, so that a value the
//! schema admits is never refused for its shape and one it refuses never passes.

use crate::domain::text::is_hidden;
use crate::http::params::ConcertDate;
use std::sync::LazyLock;
use utoipa::openapi::schema::{Object, ObjectBuilder, Schema};
use utoipa::openapi::{RefOr, Type};

/// `YYYY-MM-DD` from 2000-01-01 to 2099-12-31, real days only: February has its 29th in the
/// years divisible by 4, which in this century are all the leap years (2000 included).
pub const CONCERT_DATE_PATTERN: &str = concat!(
    "^20(?:[0-9]{2}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])",
    "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)",
    "|02-(?:0[1-9]|1[0-9]|2[0-8]))",
    "|(?:[02468][048]|[13579][26])-02-29)$",
);

/// A concert date, for bodies and paths alike.
impl utoipa::PartialSchema for ConcertDate {
    fn schema() -> RefOr<Schema> {
        let date = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(CONCERT_DATE_PATTERN))
            .description(Some("A date written `YYYY-MM-DD`, from 2000-01-01 to 2099-12-31"))
            .examples(["2026-12-24"]);
        RefOr::T(Schema::Object(date.build()))
    }
}

impl utoipa::ToSchema for ConcertDate {}

/// A fan's name: what `domain::user::parse_name` accepts.
pub fn name() -> Object {
    display_text(crate::domain::user::NAME_CHARS_MAX, "Kim")
}

/// A concert's title: what `POST /admin/concerts` accepts.
pub fn title() -> Object {
    display_text(crate::http::admin::TITLE_CHARS_MAX, "Winter Concert")
}

fn display_text(chars_max: usize, example: &str) -> Object {
    let description = format!(
        "1 to {chars_max} characters once whitespace is trimmed from both ends, with no control or format \
         character (Unicode Cc, Cf) anywhere"
    );
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .pattern(Some(display_text_pattern(chars_max)))
        .description(Some(description))
        .examples([example])
        .build()
}

/// The text `domain::text::display_text` accepts, as a pattern: optional whitespace, then 1 to
/// `chars_max` characters that begin and end visibly, then optional whitespace; no hidden
/// character anywhere. A length bound on the whole string could not be stated, since the
/// whitespace around it is trimmed and not counted.
pub fn display_text_pattern(chars_max: usize) -> String {
    assert!(chars_max >= 2, "the pattern spells out a first and a last character");
    let classes = &*TEXT_CLASSES;
    format!(
        "^[{space}]*[^{hidden}{space}](?:[^{hidden}]{{0,{inner}}}[^{hidden}{space}])?[{space}]*$",
        space = classes.space,
        hidden = classes.hidden,
        inner = chars_max - 2,
    )
}

/// The members of the two character classes text patterns are made of, found once from the
/// same predicates the server uses: `is_hidden` refuses, `char::is_whitespace` is what `trim`
/// takes away.
struct TextClasses {
    hidden: String,
    space: String,
}

static TEXT_CLASSES: LazyLock<TextClasses> = LazyLock::new(|| TextClasses {
    hidden: class_members(is_hidden),
    space: class_members(|c| c.is_whitespace() && !is_hidden(c)),
});

/// Every character `member` selects, as ranges inside a `[...]` class.
fn class_members(member: impl Fn(char) -> bool) -> String {
    let mut ranges: Vec<(char, char)> = Vec::new();
    for c in (char::MIN..=char::MAX).filter(|c| member(*c)) {
        match ranges.last_mut() {
            Some((_, last)) if u32::from(*last) + 1 == u32::from(c) => *last = c,
            _ => ranges.push((c, c)),
        }
    }
    ranges
        .into_iter()
        .map(|(first, last)| match first == last {
            true => class_char(first),
            false => format!("{}-{}", class_char(first), class_char(last)),
        })
        .collect()
}

/// A character as every regex dialect reads it inside a class: `\uXXXX` in the Basic
/// Multilingual Plane (ECMA-262, Python and Rust agree on it), the character itself beyond,
/// where the dialects' escapes differ.
fn class_char(c: char) -> String {
    match u32::from(c) {
        code @ 0..=0xFFFF => format!("\\u{code:04X}"),
        _ => c.to_string(),
    }
}

/// `Idempotency-Key`, for the operations that honour it.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKeyHeader {
    /// 1 to 64 visible ASCII characters, scoped to the user and the endpoint: a repeat with the
    /// same key and body answers as the first time without doing the work again.
    #[param(
        rename = "Idempotency-Key",
        nullable = false,
        min_length = 1,
        max_length = 64,
        pattern = "^[!-~]{1,64}$"
    )]
    pub idempotency_key: Option<String>,
}

/// A ticket's code in the path.
#[derive(utoipa::IntoParams, serde::Deserialize)]
#[into_params(parameter_in = Path)]
pub struct TicketCodePath {
    /// The code the payment's answer gave: 22 characters of URL-safe base64.
    #[param(
        rename = "ticketCode",
        min_length = 22,
        max_length = 22,
        pattern = "^[A-Za-z0-9_-]{21}[AQgw]$"
    )]
    #[serde(rename = "ticketCode")]
    pub ticket_code: String,
}

/// `X-Altcha`, for a token request while proof of work is on.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct AltchaHeader {
    /// The solution of a challenge from `GET /queue/challenge`: base64 of its JSON
    /// `{algorithm, challenge, number, salt, signature}`. Ignored while proof of work is off.
    #[param(
        rename = "X-Altcha",
        nullable = false,
        min_length = 1,
        max_length = 1024,
        pattern = "^[A-Za-z0-9+/=]{1,1024}$"
    )]
    pub altcha: Option<String>,
}

/// An order's holds: 1 to `hold_max` (4 by default) distinct reservation ids.
pub fn reservation_ids() -> utoipa::openapi::schema::Array {
    let id = ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Uuid,
        )));
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(id)
        .min_items(Some(1))
        .max_items(Some(4))
        .unique_items(true)
        .description(Some(
            "1 to `hold_max` distinct holds of the caller, on any dates, paid all or nothing.",
        ))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::text::display_text;
    use regex::Regex;

    #[test]
    fn the_date_pattern_admits_exactly_the_dates_the_server_reads() {
        let pattern = Regex::new(CONCERT_DATE_PATTERN).unwrap();
        // Every day number 0..=32 of every month number 0..=13, a year either side of the range.
        for year in 1999..=2100 {
            for month in 0..=13 {
                for day in 0..=32 {
                    let text = format!("{year:04}-{month:02}-{day:02}");
                    assert_eq!(pattern.is_match(&text), text.parse::<ConcertDate>().is_ok(), "{text}");
                }
            }
        }
        for text in [
            "2026-12-24x",
            " 2026-12-24",
            "2026/12/24",
            "2026-1-24",
            "+2026-12-24",
            "20261224",
        ] {
            assert_eq!(pattern.is_match(text), text.parse::<ConcertDate>().is_ok(), "{text}");
        }
    }

    #[test]
    fn the_text_pattern_admits_exactly_the_text_the_server_keeps() {
        let pattern = Regex::new(&display_text_pattern(4)).unwrap();
        // Every string of up to 5 of these: visible (one beyond the BMP), whitespace the server
        // trims (one a control character, refused anyway), and format characters.
        let alphabet = [
            'a',
            '가',
            '𝄞',
            ' ',
            '\u{3000}',
            '\u{2028}',
            '\t',
            '\u{85}',
            '\u{200b}',
            '\u{e0001}',
        ];
        let mut texts = vec![String::new()];
        for _ in 0..6 {
            for text in &texts {
                assert_eq!(
                    pattern.is_match(text),
                    display_text(text, 4, "name").is_ok(),
                    "{text:?}"
                );
            }
            texts = texts
                .iter()
                .flat_map(|text| alphabet.iter().map(move |c| format!("{text}{c}")))
                .collect();
        }
    }
}
