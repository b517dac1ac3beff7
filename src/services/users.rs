//! Registered fans: created once, then only read.

use crate::domain::text::display_text;
use crate::domain::UserId;
use crate::error::{Error, ErrorCode, Result};
use crate::persistence::journal::StreamWriter;
use crate::persistence::{Change, Part};
use dashmap::DashMap;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

pub const NAME_CHARS_MAX: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[schema(value_type = uuid::Uuid)]
    pub user_id: UserId,
    pub name: String,
}

/// A display name: 1..=64 characters of visible text after trimming.
pub fn parse_name(raw: &str) -> Result<String> {
    display_text(raw, NAME_CHARS_MAX, "name")
}

pub struct Users {
    users: DashMap<UserId, User>,
    /// Held while a user is added, so a snapshot sees the users and their stream number agree.
    stream: Mutex<StreamWriter>,
}

impl Users {
    /// The users recovered, continuing their journal stream.
    pub fn restore(part: Part<Vec<User>>, stream: impl FnOnce(u64) -> StreamWriter) -> Self {
        let users = part.state.into_iter().map(|user| (user.user_id, user)).collect();
        Self {
            users,
            stream: Mutex::new(stream(part.seq)),
        }
    }

    pub async fn register(&self, name: &str) -> Result<User> {
        let user = User {
            user_id: UserId::random(),
            name: parse_name(name)?,
        };
        let commit = {
            let mut stream = self.stream.lock();
            self.users.insert(user.user_id, user.clone());
            stream.append([Change::UserRegistered(user.clone())])
        };
        commit.durable().await?;
        Ok(user)
    }

    pub fn get(&self, user: UserId) -> Result<User> {
        self.users
            .get(&user)
            .map(|entry| entry.clone())
            .ok_or_else(|| Error::new(ErrorCode::UserNotFound, format!("No user {user}.")))
    }

    pub fn count(&self) -> u64 {
        self.users.len() as u64
    }

    /// Every user, for a snapshot.
    pub fn image(&self) -> Part<Vec<User>> {
        let stream = self.stream.lock();
        Part {
            seq: stream.seq(),
            state: self.users.iter().map(|entry| entry.value().clone()).collect(),
        }
    }
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
