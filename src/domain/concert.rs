//! A concert as an operator creates it: its dates, their seat counts and prices.

use super::ConcertId;
use chrono::NaiveDate;

/// Where a seat, a hold or a sale lives: its concert date.
pub type DateKey = (ConcertId, NaiveDate);

/// One date to create: its seat count and the price of every seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDate {
    pub date: NaiveDate,
    pub seat_count: u32,
    pub price: i64,
}

/// A concert as created, which is all the journal needs to create it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcertRecord {
    pub concert_id: ConcertId,
    pub title: String,
    pub dates: Vec<NewDate>,
}
