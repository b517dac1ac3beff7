//! Which groups of partitions this node owns, one lease per group: at each look it renews what it
//! holds, gives back a group that another live node should own (so groups move back when nodes
//! join), and takes a free group that it should own (so groups spread over the live nodes, and
//! move on when their owner dies and its lease runs out). Who should own a group is decided by
//! [`placement`](super::placement) over the nodes in `concert-nodes`, the same on every node.
//!
//! A group is served by one node at a time because it is served only under its lease: the
//! holder stops serving before it gives a lease back, and stops acting on it once its validity
//! has passed unrenewed. Fencing of the partitions' appends guards what a paused holder might
//! still try.

use super::lease::{Held, Holder, Leases};
use super::placement;
use crate::error::Result;
use futures_util::future::BoxFuture;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

/// What a node does when it gains or loses a group.
pub trait Owner: Send + Sync {
    /// Starts serving `group` for `term`, under a lease valid until `valid_until` (renewals
    /// follow through [`Owner::renewed`]). An error gives the lease back at once.
    fn gained(&self, group: &str, term: &str, valid_until: Instant) -> BoxFuture<'_, Result<()>>;

    /// The lease of `group` is valid until `valid_until` now.
    fn renewed(&self, group: &str, valid_until: Instant);

    /// Stops serving `group`: its lease was lost, ran out unrenewed, or is about to be given
    /// back. Nothing is acknowledged for the group afterwards.
    fn lost(&self, group: &str) -> BoxFuture<'_, ()>;

    /// Whether `group` can still be served here: a group whose appends were refused because
    /// another node appended (it took the group over while this one was paused) is given back.
    fn serves(&self, _group: &str) -> bool {
        true
    }
}

/// Who should own each group: placement over the live members.
struct Rightful {
    live: Vec<String>,
}

impl Rightful {
    fn is(&self, group: &str, node: &str) -> bool {
        placement::owner(group, self.live.iter().map(String::as_str)) == Some(node)
    }
}

/// A group held by this node: the lease's value for this term, and the revision last written.
struct Holding {
    holder: Holder,
    held: Held,
}

/// The groups this node holds, and what it does at each look.
pub struct Ownership {
    leases: Leases,
    members: Leases,
    me: Holder,
    held: tokio::sync::Mutex<BTreeMap<String, Holding>>,
    /// Groups seen free at the last look whose rightful owner did not take them: taken at the
    /// next look by whoever sees them free still, so a group is never left unserved for long
    /// by a rightful owner that cannot take it.
    free_before: parking_lot::Mutex<BTreeSet<String>>,
}

impl Ownership {
    /// `leases` holds a lease per group, `members` every live node under its id.
    pub fn new(leases: Leases, members: Leases, me: Holder) -> Self {
        Self {
            leases,
            members,
            me,
            held: tokio::sync::Mutex::new(BTreeMap::new()),
            free_before: parking_lot::Mutex::new(BTreeSet::new()),
        }
    }

    /// Says that this node is alive, for as long as it looks again within the TTL.
    pub async fn announce(&self) -> Result<()> {
        self.members.announce(&self.me.node_id, &self.me).await
    }

    /// One look at `groups`: keeps, gives back and takes leases as the live members say, telling
    /// `owner` of each change. Answers the groups held afterwards.
    pub async fn look(&self, groups: &[String], owner: &dyn Owner) -> Result<BTreeSet<String>> {
        let mut live: Vec<String> = (self.members.all().await?.into_iter())
            .map(|(_, member)| member.node_id)
            .collect();
        // Before its first announcement is stored, a node still counts itself.
        if !live.contains(&self.me.node_id) {
            live.push(self.me.node_id.clone());
        }
        let rightful = Rightful { live };
        let mut held = self.held.lock().await;
        self.keep_or_give_back(&mut held, groups, &rightful, owner).await;
        self.take_free(&mut held, groups, &rightful, owner).await?;
        Ok(held.keys().cloned().collect())
    }

    async fn keep_or_give_back(
        &self,
        held: &mut BTreeMap<String, Holding>,
        groups: &[String],
        rightful: &Rightful,
        owner: &dyn Owner,
    ) {
        let names: Vec<String> = held.keys().cloned().collect();
        for group in names {
            let holding = held.get_mut(&group).expect("listed");
            let belongs_elsewhere =
                !groups.contains(&group) || !rightful.is(&group, &self.me.node_id) || !owner.serves(&group);
            if belongs_elsewhere {
                owner.lost(&group).await;
                let _ = self.leases.release(&group, holding.held).await;
                held.remove(&group);
                continue;
            }
            match self.leases.renew(&group, &holding.holder, holding.held).await {
                Ok(Some(renewed)) => {
                    holding.held = renewed;
                    owner.renewed(&group, renewed.valid_until);
                }
                Ok(None) => {
                    tracing::warn!(%group, "the group's lease was lost");
                    owner.lost(&group).await;
                    held.remove(&group);
                }
                Err(error) if Instant::now() >= holding.held.valid_until => {
                    tracing::warn!(%group, %error, "the group's lease ran out unrenewed");
                    owner.lost(&group).await;
                    held.remove(&group);
                }
                Err(error) => tracing::warn!(%group, %error, "the group's lease could not be renewed yet"),
            }
        }
    }

    async fn take_free(
        &self,
        held: &mut BTreeMap<String, Holding>,
        groups: &[String],
        rightful: &Rightful,
        owner: &dyn Owner,
    ) -> Result<()> {
        let mut free_now = BTreeSet::new();
        for group in groups {
            if held.contains_key(group) || self.leases.holder(group).await?.is_some() {
                continue;
            }
            let mine = rightful.is(group, &self.me.node_id);
            if !mine && !self.free_before.lock().contains(group) {
                free_now.insert(group.clone());
                continue;
            }
            // One group JetStream could not settle (two nodes creating its key at once) is
            // looked at again next time; the others are taken now.
            match self.take(group, owner).await {
                Ok(Some(holding)) => drop(held.insert(group.clone(), holding)),
                Ok(None) => {}
                Err(error) => tracing::warn!(%group, %error, "the group's lease could not be taken"),
            }
        }
        *self.free_before.lock() = free_now;
        Ok(())
    }

    /// Takes `group`'s lease under a new term and starts serving it; gives it back if serving
    /// could not start.
    async fn take(&self, group: &str, owner: &dyn Owner) -> Result<Option<Holding>> {
        let holder = Holder {
            term: uuid::Uuid::new_v4().simple().to_string(),
            ..self.me.clone()
        };
        let Some(held) = self.leases.acquire(group, &holder).await? else {
            return Ok(None);
        };
        let mut kept = Some(held);
        let gained = {
            let starting = owner.gained(group, &holder.term, held.valid_until);
            let keeping = self.keep_meanwhile(group, &holder, &mut kept);
            futures_util::pin_mut!(starting, keeping);
            match futures_util::future::select(starting, keeping).await {
                futures_util::future::Either::Left((gained, _)) => gained,
                futures_util::future::Either::Right(((), starting)) => starting.await,
            }
        };
        match (gained, kept) {
            (Ok(()), Some(held)) => {
                owner.renewed(group, held.valid_until);
                Ok(Some(Holding { holder, held }))
            }
            (Ok(()), None) => {
                tracing::warn!(%group, "the group's lease was lost while its serving started");
                owner.lost(group).await;
                Ok(None)
            }
            (Err(error), kept) => {
                tracing::error!(%group, %error, "the group could not be served; giving its lease back");
                if let Some(held) = kept {
                    let _ = self.leases.release(group, held).await;
                }
                Ok(None)
            }
        }
    }

    /// Renews the lease of `group` a third of its TTL at a time while its serving starts (reading
    /// a long log may take longer than the lease); leaves `kept` empty once it is lost.
    async fn keep_meanwhile(&self, group: &str, holder: &Holder, kept: &mut Option<Held>) {
        while let Some(held) = *kept {
            tokio::time::sleep(self.leases.ttl() / 3).await;
            *kept = match self.leases.renew(group, holder, held).await {
                Ok(renewed) => renewed,
                Err(_) if Instant::now() >= held.valid_until => None,
                Err(_) => Some(held),
            };
        }
    }

    /// A graceful stop: the node leaves the members, then stops serving every group and gives
    /// its lease back, so that the others take each group at their next look, placed over the
    /// nodes that stay, instead of after the TTL.
    pub async fn leave(&self, owner: &dyn Owner) {
        if let Err(error) = self.members.withdraw(&self.me.node_id).await {
            tracing::warn!(%error, "this node could not leave the members; it drops out after the TTL");
        }
        let mut held = self.held.lock().await;
        for (group, holding) in std::mem::take(&mut *held) {
            owner.lost(&group).await;
            let _ = self.leases.release(&group, holding.held).await;
        }
    }
}
