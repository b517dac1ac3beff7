//! Registered fans: created once, then only read.

use crate::domain::user::{parse_name, User};
use crate::domain::UserId;
use crate::error::{Error, ErrorCode, Result};
use crate::persistence::log::{Partition, PartitionWriter, SharedLog};
use crate::persistence::{Change, Part};
use dashmap::DashMap;
use parking_lot::Mutex;

pub struct Users {
    users: DashMap<UserId, User>,
    /// Held while a user is added, so a snapshot sees the users and their stream number agree.
    stream: Mutex<PartitionWriter>,
}

impl Users {
    /// The users recovered, continuing their journal stream.
    pub fn restore(part: Part<Vec<User>>, log: SharedLog) -> Self {
        let users = part.state.into_iter().map(|user| (user.user_id, user)).collect();
        Self {
            users,
            stream: Mutex::new(PartitionWriter::new(log, Partition::Users, part.seq)),
        }
    }

    pub async fn register(&self, name: &str) -> Result<User> {
        let user = User {
            user_id: UserId::random(),
            name: parse_name(name)?,
        };
        let commit = {
            let mut stream = self.stream.lock();
            // Refused before anything is applied while the journal is behind the disk.
            if !stream.has_room() {
                return Err(Error::unavailable());
            }
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
    use crate::persistence::file_log::FileLog;

    #[tokio::test]
    async fn a_registration_is_refused_and_changes_nothing_while_the_journal_is_behind() {
        let (log, gate, _dir) = FileLog::held_up(64);
        let journal = log.journal().clone();
        let users = Users::restore(
            Part {
                seq: 0,
                state: Vec::new(),
            },
            log,
        );
        // As much as the journal has room for, waiting for the disk.
        let queued = journal.append(vec![0; 64]);
        let (refused, count) = tokio::join!(biased; users.register("Kim"), async {
            let count = users.count();
            // Opened whatever the registration did, so that one let through fails the test
            // instead of waiting for the disk forever.
            gate.open();
            count
        });
        assert_eq!(count, 0, "the refused registration changed nothing");
        assert_eq!(refused.unwrap_err().code, ErrorCode::Unavailable);
        queued.durable().await.unwrap();
        let user = users.register("Kim").await.unwrap();
        assert_eq!(users.get(user.user_id).unwrap().name, "Kim");
    }
}
