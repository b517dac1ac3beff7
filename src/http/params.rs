//! What requests name in their paths and bodies, read at the edge into the values handlers work
//! with: ids and concert dates. Anything else is 400 INVALID_REQUEST naming the field.

use crate::domain::ids::MalformedId;
use crate::error::{Error, Result};
use chrono::NaiveDate;
use std::str::FromStr;

/// `text` as the id `field` names: hyphenated UUIDs only.
pub fn id<T: FromStr<Err = MalformedId>>(text: &str, field: &str) -> Result<T> {
    text.parse()
        .map_err(|_| Error::invalid_request(format!("{field} must be a hyphenated UUID.")))
}

/// A concert date: a real day written `YYYY-MM-DD`, from 2000-01-01 to 2099-12-31 (a year 0 or
/// 9999 is a typing slip, not a show).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConcertDate(NaiveDate);

/// The dates a concert may have.
const DATES: std::ops::RangeInclusive<NaiveDate> = {
    let (Some(first), Some(last)) = (
        NaiveDate::from_ymd_opt(2000, 1, 1),
        NaiveDate::from_ymd_opt(2099, 12, 31),
    ) else {
        panic!("the date bounds are real dates");
    };
    first..=last
};

impl ConcertDate {
    pub fn get(self) -> NaiveDate {
        self.0
    }
}

impl FromStr for ConcertDate {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let shaped = text.len() == 10
            && text.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        shaped
            .then(|| calendar_date(text.as_bytes()))
            .flatten()
            .filter(|date| DATES.contains(date))
            .map(Self)
            .ok_or_else(|| {
                Error::invalid_request(format!(
                    "{text:?} is not a date written YYYY-MM-DD from 2000-01-01 to 2099-12-31."
                ))
            })
    }
}

/// The date of ten bytes already seen to be `DDDD-DD-DD`, if the calendar has it: read directly,
/// since every seat map and hold names a date in its path.
fn calendar_date(text: &[u8]) -> Option<NaiveDate> {
    let number = |digits: &[u8]| digits.iter().fold(0u32, |n, digit| n * 10 + u32::from(digit - b'0'));
    let year = i32::try_from(number(&text[0..4])).ok()?;
    NaiveDate::from_ymd_opt(year, number(&text[5..7]), number(&text[8..10]))
}

impl TryFrom<&str> for ConcertDate {
    type Error = Error;

    fn try_from(text: &str) -> Result<Self> {
        text.parse()
    }
}

impl From<ConcertDate> for NaiveDate {
    fn from(date: ConcertDate) -> Self {
        date.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ConcertId, UserId};
    use crate::error::ErrorCode;

    #[test]
    fn a_concert_date_is_a_real_day_of_this_century_written_one_way() {
        let date: ConcertDate = "2028-02-29".parse().unwrap();
        assert_eq!(date.get(), NaiveDate::from_ymd_opt(2028, 2, 29).unwrap());
        assert!(ConcertDate::try_from("2000-01-01").is_ok());
        assert!(ConcertDate::try_from("2099-12-31").is_ok());
        for text in [
            "1999-12-31",
            "2100-01-01",
            "2027-02-29",
            "2026-1-24",
            "+2026-12-24",
            "2026/12/24",
            "",
        ] {
            let refused = text.parse::<ConcertDate>().unwrap_err();
            assert_eq!(refused.code, ErrorCode::InvalidRequest, "{text}");
            assert_eq!(
                refused.detail,
                format!("{text:?} is not a date written YYYY-MM-DD from 2000-01-01 to 2099-12-31."),
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn a_date_is_read_as_chrono_reads_it(year in 0u32..10_000, month in 0u32..100, day in 0u32..100) {
            let text = format!("{year:04}-{month:02}-{day:02}");
            let chrono = NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok();
            proptest::prop_assert_eq!(calendar_date(text.as_bytes()), chrono, "{}", text);
        }
    }

    #[test]
    fn an_id_that_is_not_hyphenated_is_refused_by_the_name_of_its_field() {
        let concert = ConcertId::random();
        assert_eq!(id::<ConcertId>(&concert.to_string(), "concertId").unwrap(), concert);
        let simple = concert.as_uuid().simple().to_string();
        let refused = id::<UserId>(&simple, "userId").unwrap_err();
        assert_eq!(refused.code, ErrorCode::InvalidRequest);
        assert_eq!(refused.detail, "userId must be a hyphenated UUID.");
    }
}
