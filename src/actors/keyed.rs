//! A keyed command's answer, journaled with the change that made it: how an actor joins what
//! the idempotency book wants kept to its own record without knowing the book.

use crate::persistence::Change;

/// Turns a command's reply and its last change into the record that also keeps the answer.
pub struct Keyed<T> {
    seal: Seal<T>,
}

type Seal<T> = Box<dyn FnOnce(&T, Change) -> Change + Send>;

impl<T> Keyed<T> {
    pub fn new(seal: impl FnOnce(&T, Change) -> Change + Send + 'static) -> Self {
        Self { seal: Box::new(seal) }
    }
}

/// `work` joined with its answer when the command was keyed.
pub fn seal<T>(keyed: Option<Keyed<T>>, reply: &T, work: Change) -> Change {
    match keyed {
        Some(keyed) => (keyed.seal)(reply, work),
        None => work,
    }
}
