//! Registered fans: created once, then only read.

use crate::domain::user::{parse_name, User};
use crate::domain::UserId;
use crate::error::{Error, ErrorCode, Result};
use crate::persistence::journal::StreamWriter;
use crate::persistence::{Change, Part};
use dashmap::DashMap;
use parking_lot::Mutex;

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
