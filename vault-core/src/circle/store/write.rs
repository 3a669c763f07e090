//! Circle operations that write: founding a circle, joining one, applying
//! the log the server returns and installing key shares. Each runs in one
//! transaction; verification happens first, so a failure writes nothing.

use super::db;
use super::{LogUpdate, chain_key, load, missing_epochs, store_cache};
use crate::circle::cache::CircleRow;
use crate::circle::{
    CircleState, EntryBody, EntryHash, KeyShare, PeerId, ServerTrust, ShareError, SignedEntry,
};
use crate::crypto::{EpochKey, VaultRng, unwrap_vault_key, wrap_vault_key};
use crate::error::CircleError;
use crate::vault::keyring::Keyring;
use crate::vault::rekey::rewrap_all;
use crate::vault::{UnlockedVault, wrapped};
use rusqlite::{Connection, TransactionBehavior};
use uuid::Uuid;

/// What [`UnlockedVault::install_shares`] did with each share.
#[derive(Debug)]
pub struct ShareReport {
    /// Epoch keys installed.
    pub installed: usize,
    /// Shares refused, by their claimed sender, with the reason. Stale
    /// shares (an epoch whose entry lost a race) land here too.
    pub rejected: Vec<(PeerId, ShareError)>,
}

impl UnlockedVault {
    /// Stores the circle this device founded, once the server accepted its
    /// genesis (from [`UnlockedVault::prepare_genesis`]): the circle row,
    /// the log, this device as the first peer, and every epoch's vault key
    /// re-wrapped under the new circle id, in one transaction.
    pub fn create_circle(
        &mut self,
        server_url: &str,
        trust: &ServerTrust,
        genesis: &SignedEntry,
    ) -> Result<(), CircleError> {
        let state = CircleState::verify_chain(None, std::slice::from_ref(genesis))?;
        let me = self.identity.public();
        let EntryBody::Genesis {
            founder, epochs, ..
        } = &genesis.entry().body
        else {
            return Err(CircleError::ForeignGenesis);
        };
        if *founder != me {
            return Err(CircleError::ForeignGenesis);
        }
        let current = self.keys.current();
        let held = |c: &crate::circle::EpochCommit| self.keys.epochs.iter().any(|k| c.matches(k));
        if !epochs.iter().all(held) || !state.current_epoch().matches(current) {
            return Err(CircleError::ForeignGenesis);
        }
        let circle_id = state.circle_id();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if db::read_circle(&tx)?.is_some() {
            return Err(CircleError::AlreadyInCircle);
        }
        self.keys.refresh(&tx, self.header.circle_id)?;
        let row = row_for(server_url, trust, &state);
        db::insert_circle(&tx, &row)?;
        db::append_log(&tx, std::slice::from_ref(genesis))?;
        db::write_peers(&tx, &state)?;
        let wrapped = wrap_all(&self.keys, &self.keys.epochs, circle_id, &mut self.rng);
        db::replace_epochs(&tx, &wrapped)?;
        tx.execute("DELETE FROM pending_epochs", [])?;
        db::set_meta_circle(&tx, circle_id, self.keys.current().number())?;
        tx.commit()?;
        self.header.circle_id = circle_id;
        store_cache(&self.circle, row, state);
        Ok(())
    }

    /// Verifies and stores log entries fetched from the server (those after
    /// the stored head; entries at or below it must be the ones stored).
    /// Installs the key of a new epoch this device proposed once its entry
    /// is in, and moves every item to the newest epoch it holds.
    pub fn apply_log(&mut self, entries: &[SignedEntry]) -> Result<LogUpdate, CircleError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (row, before) = load(&tx, &self.circle)?.ok_or(CircleError::NoCircle)?;
        let (head_seq, _) = before.head();
        let mut fresh = Vec::with_capacity(entries.len());
        for e in entries {
            let seq = e.entry().seq;
            if seq <= head_seq {
                if db::hash_at(&tx, seq)? != Some(e.hash()) {
                    return Err(crate::circle::ChainError::Fork { seq }.into());
                }
            } else {
                fresh.push(e.clone());
            }
        }
        let mut state = before.clone();
        state.apply_all(&fresh)?;
        let me = self.identity.peer_id();
        let mut update = LogUpdate {
            applied: fresh.len(),
            head: state.head(),
            added: Vec::new(),
            removed: Vec::new(),
            new_epochs: Vec::new(),
            installed_epochs: Vec::new(),
            missing_epochs: Vec::new(),
            removed_me: before.is_member(&me) && !state.is_member(&me),
        };
        for e in &fresh {
            match &e.entry().body {
                EntryBody::AddPeer { peer, .. } => update.added.push(peer.peer_id()),
                EntryBody::RemovePeer { peer } => update.removed.push(*peer),
                EntryBody::Removal { peer, epoch, .. } => {
                    update.removed.push(*peer);
                    update.new_epochs.push(epoch.epoch);
                }
                EntryBody::NewEpoch(c) => update.new_epochs.push(c.epoch),
                EntryBody::Genesis { .. } => {}
            }
        }
        self.keys.refresh(&tx, self.header.circle_id)?;
        db::append_log(&tx, &fresh)?;
        let (seq, head) = state.head();
        db::update_head(&tx, seq, head)?;
        db::write_peers(&tx, &state)?;

        // Pending keys: install those the log now names; drop the rest
        // once the chain has passed their epoch.
        let mut installed = Vec::new();
        for (number, key_uuid, blob) in wrapped::read_pending(&tx)? {
            let named = state.epoch(number).filter(|c| c.key_uuid == key_uuid);
            if let Some(commit) = named
                && let Ok(key) =
                    unwrap_vault_key(&self.keys.kek, number, key_uuid, row.circle_id, &blob)
                && commit.matches(&key)
                && self.keys.epoch(key_uuid).is_none()
            {
                insert_epoch(&tx, &blob, &key)?;
                update.installed_epochs.push(number);
                installed.push(key);
            }
            if number <= state.current_epoch().epoch {
                wrapped::delete_pending(&tx, key_uuid)?;
            }
        }
        let advanced = advance(&tx, &self.keys, &installed, &state, &mut self.rng)?;
        tx.commit()?;
        self.keys.install(installed);
        if let Some(n) = advanced {
            self.set_current_epoch(n);
        }
        update.missing_epochs = missing_epochs(&self.keys, &state);
        let row = CircleRow {
            head_seq: seq,
            head,
            ..row
        };
        store_cache(&self.circle, row, state);
        Ok(update)
    }

    /// Installs vault keys from shares addressed to this device, for epochs
    /// the chain names and this device lacks. A share counts only if it is
    /// for this circle and this device, its sender was a member when each
    /// of its epochs began, and each key matches the chain's commitment
    /// ([`KeyShare::open_verified`]); other shares are skipped, since the
    /// server may hold stale ones (an epoch whose entry lost a race) and
    /// may inject garbage; the report lists them with the reason. The
    /// newest held epoch becomes current (items re-wrapped to it).
    pub fn install_shares(&mut self, shares: &[KeyShare]) -> Result<ShareReport, CircleError> {
        let (_, state) = self.load_circle()?;
        let mut new: Vec<EpochKey> = Vec::new();
        let mut rejected = Vec::new();
        for share in shares {
            let keys = match share.open_verified(&self.identity, &state) {
                Ok(keys) => keys,
                Err(e) => {
                    rejected.push((share.sender(), e));
                    continue;
                }
            };
            for key in keys {
                let held = self.keys.epoch(key.key_uuid()).is_some()
                    || new.iter().any(|k| k.key_uuid() == key.key_uuid());
                if !held {
                    new.push(key);
                }
            }
        }
        if new.is_empty() {
            return Ok(ShareReport {
                installed: 0,
                rejected,
            });
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        self.keys.refresh(&tx, self.header.circle_id)?;
        for key in &new {
            let wrapped = wrap_vault_key(&self.keys.kek, key, state.circle_id(), &mut self.rng);
            insert_epoch(&tx, &wrapped, key)?;
        }
        let count = new.len();
        let advanced = advance(&tx, &self.keys, &new, &state, &mut self.rng)?;
        tx.commit()?;
        self.keys.install(new);
        if let Some(n) = advanced {
            self.set_current_epoch(n);
        }
        Ok(ShareReport {
            installed: count,
            rejected,
        })
    }

    /// Joins a circle after pairing: verifies the whole log from
    /// `expected_genesis`, checks that a member added this device with its
    /// exact keys, opens the share `inviter` (a current member) sealed to
    /// it, and checks every key against the chain. Then, in one
    /// transaction, moves this vault's items to the circle's current epoch,
    /// replaces its epoch keys with the circle's, and stores the log. Any
    /// failure writes nothing.
    pub fn join_circle(
        &mut self,
        server_url: &str,
        trust: &ServerTrust,
        expected_genesis: EntryHash,
        entries: &[SignedEntry],
        share: &KeyShare,
        inviter: &PeerId,
    ) -> Result<(), CircleError> {
        if db::read_circle(&self.conn)?.is_some() {
            return Err(CircleError::AlreadyInCircle);
        }
        let state = CircleState::verify_chain(Some(expected_genesis), entries)?;
        let me = self.identity.public();
        match state.member(&me.peer_id()) {
            Some(m) if m.keys == me => {}
            _ => return Err(CircleError::NotInvited),
        }
        if !state.is_member(inviter) {
            return Err(CircleError::UnknownPeer(*inviter));
        }
        if share.sender() != *inviter {
            return Err(crate::circle::ShareError::WrongSender.into());
        }
        let received = share.open_verified(&self.identity, &state)?;
        let current = state.current_epoch().epoch;
        let Some(to) = received.iter().find(|k| k.number() == current) else {
            return Err(CircleError::MissingEpoch(current));
        };
        let circle_id = state.circle_id();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if db::read_circle(&tx)?.is_some() {
            return Err(CircleError::AlreadyInCircle);
        }
        self.keys.refresh(&tx, self.header.circle_id)?;
        rewrap_all(&tx, &self.keys, to, &mut self.rng)?;
        let wrapped = wrap_all(&self.keys, &received, circle_id, &mut self.rng);
        db::replace_epochs(&tx, &wrapped)?;
        tx.execute("DELETE FROM pending_epochs", [])?;
        db::set_meta_circle(&tx, circle_id, current)?;
        let row = row_for(server_url, trust, &state);
        db::insert_circle(&tx, &row)?;
        db::append_log(&tx, entries)?;
        db::write_peers(&tx, &state)?;
        tx.commit()?;
        self.keys
            .replace(received, current)
            .map_err(|_| CircleError::MissingEpoch(current))?;
        self.header.circle_id = circle_id;
        self.header.current_epoch = current;
        store_cache(&self.circle, row, state);
        Ok(())
    }

    /// Replaces how this device authenticates its circle's server (a new
    /// CA file, a pin, plain http allowed or not).
    pub fn set_server_trust(&mut self, trust: &ServerTrust) -> Result<(), CircleError> {
        if db::read_circle(&self.conn)?.is_none() {
            return Err(CircleError::NoCircle);
        }
        db::update_trust(&self.conn, trust)?;
        if let Some(cache) = self.circle.borrow_mut().as_mut() {
            cache.row.trust = trust.clone();
        }
        Ok(())
    }

    /// Replaces the circle's server list (the first is tried first). The
    /// caller checks each URL; here the list must be non-empty and
    /// without repeats.
    pub fn set_circle_servers(&mut self, servers: &[String]) -> Result<(), CircleError> {
        let Some((first, more)) = servers.split_first() else {
            return Err(CircleError::ServerList(
                "a circle needs at least one server",
            ));
        };
        let mut seen = std::collections::HashSet::new();
        if !servers.iter().all(|s| seen.insert(s.as_str())) {
            return Err(CircleError::ServerList("a server is listed twice"));
        }
        if servers.iter().any(|s| s.is_empty() || s.contains('\n')) {
            return Err(CircleError::ServerList(
                "a server URL is empty or spans lines",
            ));
        }
        if db::read_circle(&self.conn)?.is_none() {
            return Err(CircleError::NoCircle);
        }
        db::update_servers(&self.conn, first, more)?;
        if let Some(cache) = self.circle.borrow_mut().as_mut() {
            cache.row.server_url = first.clone();
            cache.row.more_servers = more.to_vec();
        }
        Ok(())
    }

    fn set_current_epoch(&mut self, number: u32) {
        if self.keys.set_current(number).is_ok() {
            self.header.current_epoch = number;
        }
    }
}

fn row_for(server_url: &str, trust: &ServerTrust, state: &CircleState) -> CircleRow {
    let (head_seq, head) = state.head();
    CircleRow {
        circle_id: state.circle_id(),
        server_url: server_url.to_owned(),
        more_servers: Vec::new(),
        trust: trust.clone(),
        genesis: state.genesis(),
        head_seq,
        head,
    }
}

fn wrap_all(
    keys: &Keyring,
    epochs: &[EpochKey],
    circle_id: Uuid,
    rng: &mut VaultRng,
) -> Vec<(u32, Uuid, Vec<u8>)> {
    epochs
        .iter()
        .map(|e| {
            (
                e.number(),
                e.key_uuid(),
                wrap_vault_key(&keys.kek, e, circle_id, rng),
            )
        })
        .collect()
}

fn insert_epoch(tx: &Connection, wrapped: &[u8], key: &EpochKey) -> Result<(), CircleError> {
    tx.execute(
        "INSERT INTO key_epochs (epoch, key_uuid, wrapped_vk) VALUES (?1, ?2, ?3)",
        rusqlite::params![key.number(), key.key_uuid().as_bytes(), wrapped],
    )?;
    Ok(())
}

/// If the newest chain epoch held (in `keys` or `added`) is newer than the
/// local current one, re-wraps every item to it and makes it current
/// (inside `tx`). Returns the new current epoch.
fn advance(
    tx: &Connection,
    keys: &Keyring,
    added: &[EpochKey],
    state: &CircleState,
    rng: &mut VaultRng,
) -> Result<Option<u32>, CircleError> {
    let newest = state.epochs().iter().rev().find_map(|c| {
        chain_key(keys, state, c.epoch).or_else(|| added.iter().find(|k| c.matches(k)))
    });
    let Some(newest) = newest else {
        return Ok(None);
    };
    if newest.number() <= keys.current().number() {
        return Ok(None);
    }
    rewrap_all(tx, keys, newest, rng)?;
    tx.execute(
        "UPDATE vault_meta SET current_epoch = ?1 WHERE id = 1",
        [newest.number()],
    )?;
    Ok(Some(newest.number()))
}
