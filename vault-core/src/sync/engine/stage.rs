//! Verify, then apply: a round pulls pages into the stage (resumable page
//! by page), and a settle applies what is staged, moves the token and
//! checks the zone against the members' signed manifests in one
//! transaction that commits only if the checks pass.

use super::db::{self as sync_db, Stage};
use super::signers::{PageChecker, Signers, Verdicts};
use super::{PAGE, Round};
use crate::sync::{
    ChangesPage, Phase, Progress, SignedManifest, SyncError, TaggedRecord, Token, TransportError,
    ZoneError,
};
use rusqlite::TransactionBehavior;
use std::collections::VecDeque;
use std::sync::Arc;

/// The pages this round staged on a stage it began empty, in stage order,
/// their signatures being checked on a worker: the settle applies them
/// as their verdicts arrive instead of reading the stage back.
pub(crate) struct Pulled {
    /// The stage's base.
    base: Token,
    /// Each page with the id it was handed to the checker under.
    pages: VecDeque<(u64, Arc<[TaggedRecord]>)>,
    next_id: u64,
    checker: PageChecker,
}

impl Pulled {
    fn new(base: Token, signers: Signers) -> Self {
        Pulled {
            base,
            pages: VecDeque::new(),
            next_id: 0,
            checker: PageChecker::start(signers),
        }
    }

    /// Whether these are all the records staged on `base`.
    fn covers(&self, conn: &rusqlite::Connection, zone: &str, base: Token) -> bool {
        let held: u64 = self.pages.iter().map(|(_, p)| p.len() as u64).sum();
        self.base == base && sync_db::staged_count(conn, zone).is_ok_and(|n| n == held)
    }

    fn push(&mut self, records: Vec<TaggedRecord>) {
        let page: Arc<[TaggedRecord]> = records.into();
        self.checker.check(self.next_id, Arc::clone(&page));
        self.pages.push_back((self.next_id, page));
        self.next_id += 1;
    }

    /// The stage was cleared: the pages held so far are not in it.
    fn restart(&mut self) {
        self.pages.clear();
    }

    /// The oldest page and its verdicts, once they are ready.
    fn next_page(&mut self) -> Option<(Arc<[TaggedRecord]>, Verdicts)> {
        let (id, page) = self.pages.pop_front()?;
        let verdicts = (self.checker.verdicts_of(id))
            .filter(|v| v.len() == page.len())
            .unwrap_or_else(|| vec![None; page.len()]);
        Some((page, verdicts))
    }
}

impl Round<'_> {
    /// The zone's stage, if it builds on the token this round holds and
    /// moves it.
    pub(crate) fn staged(&self) -> Result<Option<Stage>, SyncError> {
        Ok(sync_db::stage(self.conn, &self.zone)?
            .filter(|s| s.base == self.state.token && s.token != s.base))
    }

    /// The token the round has reached: the stage's, else the held one.
    pub(crate) fn reached(&self) -> Result<Token, SyncError> {
        Ok(self.staged()?.map_or(self.state.token, |s| s.token))
    }

    /// Pulls pages past the token reached into the stage until the feed is
    /// exhausted. Nothing is applied ([`Round::settle`] does that once the
    /// zone checks pass); each page commits to the stage with its token, so
    /// a pull cut short resumes where it stopped.
    ///
    /// Each page's signatures are checked on a worker thread while the
    /// next page downloads and the settle applies the pages before it.
    pub(crate) fn pull(&mut self) -> Result<(), SyncError> {
        // Pages continue the read that began at `since`: a read from seq 0
        // stays valid while tombstones are collected under it.
        let fresh = Stage {
            base: self.state.token,
            since: self.state.token,
            token: self.state.token,
        };
        let stage = match sync_db::stage(self.conn, &self.zone)? {
            Some(stage) if stage.base == self.state.token => stage,
            // A stage on another token (a round that reset it) is stale.
            Some(_) => {
                self.with_tx(|r, conn| Ok(sync_db::clear_stage(conn, &r.zone)?))?;
                fresh
            }
            None => fresh,
        };
        // The pages held are all of the stage, or none is kept.
        let held = (self.pulled.take()).filter(|p| p.covers(self.conn, &self.zone, stage.base));
        let mut pulled = match held {
            Some(p) => Some(p),
            None if sync_db::staged_count(self.conn, &self.zone)? == 0 => Some(Pulled::new(
                stage.base,
                Signers::of(&self.circle, &self.zone),
            )),
            None => None,
        };
        let result = self.pull_pages(stage, pulled.as_mut());
        self.pulled = pulled.filter(|_| result.is_ok());
        result
    }

    /// The loop of [`Round::pull`]: each staged page also goes to `pulled`.
    fn pull_pages(
        &mut self,
        mut stage: Stage,
        mut pulled: Option<&mut Pulled>,
    ) -> Result<(), SyncError> {
        let mut restarted = false;
        loop {
            let (since, after) = (stage.since, stage.token.seq);
            let page: ChangesPage = match self.call(|t, z| t.changes(z, since, after, PAGE)) {
                Err(SyncError::Transport(TransportError::TokenExpired)) if !restarted => {
                    restarted = true;
                    self.with_tx(|r, conn| Ok(sync_db::clear_stage(conn, &r.zone)?))?;
                    if let Some(p) = pulled.as_deref_mut() {
                        p.restart();
                    }
                    stage.since = Token { epoch: 0, seq: 0 };
                    stage.token = stage.since;
                    continue;
                }
                other => other?,
            };
            // A page that says more follows must move the read forward, or
            // a server could keep a device pulling forever.
            if page.more && (page.records.is_empty() || page.token.seq <= after) {
                return Err(
                    TransportError::Malformed("a changes page with more does not advance").into(),
                );
            }
            self.check_page(&page, after)?;
            self.report.records_received += page.records.len();
            let from = stage.since.seq;
            let total = self.head.seq.saturating_sub(from);
            let done = page.token.seq.saturating_sub(from).min(total);
            self.transport.progress(Progress {
                phase: Phase::Pull,
                done,
                total: total.max(done),
            });
            if page.token != stage.token || !page.records.is_empty() {
                stage.token = page.token;
                self.with_tx(|r, conn| {
                    Ok(sync_db::stage_page(conn, &r.zone, &stage, &page.records)?)
                })?;
            }
            if let Some(p) = pulled.as_deref_mut()
                && !page.records.is_empty()
            {
                p.push(page.records);
            }
            if !page.more {
                return Ok(());
            }
        }
    }

    /// Settles the round: catches up with any current member's manifest
    /// ahead of the token reached, then in one transaction applies what is
    /// staged, moves the token, and checks the zone against the members'
    /// manifests. Only a settle whose checks pass commits: one that fails
    /// leaves items, history, mirror, token and quarantine as they were
    /// (and [`UnlockedVault::sync`] drops the stage, so the next honest
    /// answer succeeds).
    pub(crate) fn settle(&mut self) -> Result<(), SyncError> {
        // A peer may push and sign while this round runs: a manifest ahead
        // of the token is caught up with before it counts as withholding.
        let mut catch_ups = 0;
        let trusted = loop {
            let manifests = self.call(|t, z| t.peer_manifests(z))?;
            let trusted = self.check_manifests(manifests)?;
            let token = self.reached()?;
            let ahead = trusted
                .iter()
                .any(|m| m.token.epoch == token.epoch && m.token.seq > token.seq);
            if ahead && catch_ups < 3 {
                catch_ups += 1;
                self.pull()?;
                if self.reached()? != token {
                    continue;
                }
            }
            break trusted;
        };
        let (state, report) = (self.state.clone(), self.report.clone());
        let conn = self.conn;
        let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        match self.apply_and_check(&trusted) {
            Ok(()) => {
                tx.commit()?;
                Ok(())
            }
            Err(e) => {
                tx.rollback()?;
                self.state = state;
                self.report = report;
                Err(e)
            }
        }
    }

    /// The body of [`Round::settle`], inside its transaction.
    fn apply_and_check(&mut self, trusted: &[SignedManifest]) -> Result<(), SyncError> {
        if let Some(stage) = self.staged()? {
            // The pages this round pulled, applied as their verdicts
            // arrive, if they are all of the stage; else the stage read
            // back (a pull an earlier round began).
            let held = (self.pulled.take()).filter(|p| p.covers(self.conn, &self.zone, stage.base));
            if let Some(mut pulled) = held {
                while let Some((page, verdicts)) = pulled.next_page() {
                    self.apply_all(&page, Some(&verdicts), false)?;
                }
            } else {
                let records = sync_db::staged_records(self.conn, &self.zone)?;
                self.apply_all(&records, None, false)?;
            }
            self.state.token = stage.token;
            sync_db::clear_stage(self.conn, &self.zone)?;
            if let Some(seen) = self.restoring.take() {
                self.reupload_lacking(&seen)?;
            }
        }
        self.release_attested(trusted)?;
        let own = sync_db::own_manifest(self.conn, &self.zone, &mut self.state)?;
        self.compare(trusted, &own)?;
        sync_db::put_state(self.conn, &self.zone, &self.state)?;
        Ok(())
    }

    /// After reading a restored zone whole: every live version this device
    /// holds that the server did not serve goes back up as new (the
    /// mirror forgets the server's version), and the count is reported.
    fn reupload_lacking(
        &mut self,
        seen: &std::collections::HashSet<uuid::Uuid>,
    ) -> Result<(), SyncError> {
        let held = sync_db::live_server_versions(self.conn)?;
        let mut lacking = 0;
        for uuid in held.into_iter().filter(|u| !seen.contains(u)) {
            let base = crate::vault::outbox::mirror(self.conn, uuid)?.and_then(|m| m.base);
            sync_db::set_server(
                self.conn,
                uuid,
                &sync_db::ServerVersion::NONE,
                true,
                base.as_ref(),
            )?;
            self.state.mark(uuid.as_bytes()[0]);
            lacking += 1;
        }
        let refused = self.report.rolled_back.len();
        if let Some(r) = self.report.restored.as_mut() {
            r.reuploaded = lacking + refused;
        }
        Ok(())
    }

    /// A page stays within the read: its records' sequences rise, past
    /// `after` and up to the page's token, and the token never passes the
    /// head the server announced (after one fresh look at its manifest: a
    /// peer may have pushed since). So a pull takes at most as many
    /// records as the announced head allows, whatever the server sends.
    fn check_page(&mut self, page: &ChangesPage, after: u64) -> Result<(), SyncError> {
        let mut last = after;
        for t in &page.records {
            if t.tag <= last || t.tag > page.token.seq {
                return Err(TransportError::Malformed(
                    "a changes page's records are out of its range",
                )
                .into());
            }
            last = t.tag;
        }
        if page.token.epoch == self.head.epoch && page.token.seq <= self.head.seq {
            return Ok(());
        }
        let now = self.call(|t, z| t.manifest(z, false))?;
        self.head = now.token;
        if page.token.epoch != now.token.epoch || page.token.seq > now.token.seq {
            return Err(ZoneError::PastHead {
                served: page.token.seq,
                announced: now.token.seq,
            }
            .into());
        }
        Ok(())
    }
}
