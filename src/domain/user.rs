//! A registered fan.

use super::text::display_text;
use super::UserId;
use crate::error::Result;
use serde::{Deserialize, Serialize};

pub const NAME_CHARS_MAX: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub user_id: UserId,
    pub name: String,
}

/// A display name: 1..=64 characters of visible text after trimming.
pub fn parse_name(raw: &str) -> Result<String> {
    display_text(raw, NAME_CHARS_MAX, "name")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(parse_name("  Kim ").unwrap(), "Kim");
        assert_eq!(parse_name(&"김".repeat(64)).unwrap().chars().count(), 64);
        assert!(parse_name("   ").is_err());
        assert!(parse_name(&"a".repeat(65)).is_err());
    }
}
