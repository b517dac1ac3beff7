//! Sold-out dates' waiting lists, as the routes reach them: joining, an entry read by its code,
//! and the refusals both give.

use crate::domain::seat_map::EntryView;
use crate::domain::waitlist::EntryState;
use crate::domain::ReservationId;
use crate::error::{Error, ErrorCode, Result};

/// The refusal of a code no entry has.
pub fn entry_not_found() -> Error {
    Error::new(ErrorCode::NotFound, "No waiting-list entry has this code.")
        .with_korean("이 코드의 대기 명단 등록 내역이 없습니다.")
}

/// The hold offered to `entry`, which its fan may pay; why not otherwise.
pub fn offered(entry: &EntryView) -> Result<ReservationId> {
    match entry.state {
        EntryState::Offered(reservation) => Ok(reservation),
        EntryState::Waiting => Err(Error::new(
            ErrorCode::ReservationNotHeld,
            "No seat has been offered to this entry yet.",
        )
        .with_korean("아직 이 대기 순번에 제안된 좌석이 없습니다.")),
        EntryState::Bought(_) => Err(Error::new(
            ErrorCode::ReservationNotHeld,
            "This entry's offer was paid already.",
        )),
        EntryState::Lapsed(_) => Err(Error::new(
            ErrorCode::ReservationExpired,
            "This entry's offer lapsed and went to the next fan.",
        )
        .with_korean("제안된 좌석의 선점 시간이 지나 다음 순번으로 넘어갔습니다.")),
    }
}
