//! Verify, then apply: a round pulls pages into the stage (resumable page
//! by page), and a settle applies what is staged, moves the token and
//! checks the zone against the members' signed manifests in one
//! transaction that commits only if the checks pass.

use super::db::{self as sync_db, Stage};
use super::signers::{Checked, PageChecker, Signers};
use super::{PAGE, Round};
use crate::sync::{
    ChangesPage, Phase, Progress, SignedManifest, SyncError, Token, TransportError, ZoneError,
};
use rusqlite::TransactionBehavior;

/// What this round staged on a stage it began empty, page by page, with
/// each record's signature verdict.
pub(crate) struct Pulled {
    /// The stage's base.
    base: Token,
    checked: Checked,
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
    /// next page downloads; the records and verdicts stay with the round
    /// for the settle.
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
        // The pages held are all of the stage, or none is used.
        let held = self.pulled.take().filter(|p| {
            p.base == stage.base
                && sync_db::staged_count(self.conn, &self.zone)
                    .is_ok_and(|n| n == p.checked.records.len() as u64)
        });
        let mut pulled = match held {
            Some(p) => Some(p),
            None if sync_db::staged_count(self.conn, &self.zone)? == 0 => Some(Pulled {
                base: stage.base,
                checked: Checked::default(),
            }),
            None => None,
        };
        let signers = Signers::of(&self.circle, &self.zone);
        let result = std::thread::scope(|s| {
            let checker = PageChecker::start(s, &signers);
            let result = self.pull_pages(stage, &checker);
            (result, checker.finish())
        });
        let (result, mut checked) = result;
        if let (Ok(restart), Some(p)) = (&result, pulled.as_mut()) {
            if let Some(before) = *restart {
                // The stage was cleared and read again from seq 0: only the
                // pages since.
                p.checked = Checked::default();
                checked.records.drain(..before);
                checked.verdicts.drain(..before);
            }
            p.checked.records.append(&mut checked.records);
            p.checked.verdicts.append(&mut checked.verdicts);
        }
        self.pulled = pulled.filter(|_| result.is_ok());
        result.map(|_| ())
    }

    /// The loop of [`Round::pull`]: each staged page goes to `checker`.
    /// When the read restarted from seq 0 (the stage cleared), returns how
    /// many records were handed over before.
    fn pull_pages(
        &mut self,
        mut stage: Stage,
        checker: &PageChecker<'_>,
    ) -> Result<Option<usize>, SyncError> {
        let mut restarted = false;
        let (mut sent, mut before_restart) = (0, 0);
        loop {
            let (since, after) = (stage.since, stage.token.seq);
            let page: ChangesPage = match self.call(|t, z| t.changes(z, since, after, PAGE)) {
                Err(SyncError::Transport(TransportError::TokenExpired)) if !restarted => {
                    restarted = true;
                    before_restart = sent;
                    self.with_tx(|r, conn| Ok(sync_db::clear_stage(conn, &r.zone)?))?;
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
            sent += page.records.len();
            if !page.records.is_empty() {
                checker.check(page.records);
            }
            if !page.more {
                return Ok(restarted.then_some(before_restart));
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
            // The pages this round pulled, if they are all of the stage;
            // else the stage read back (a pull an earlier round began).
            let staged = sync_db::staged_count(self.conn, &self.zone)?;
            let held = self
                .pulled
                .take()
                .filter(|p| p.base == stage.base && p.checked.records.len() as u64 == staged);
            let Checked { records, verdicts } = match held {
                Some(p) => p.checked,
                None => Checked {
                    records: sync_db::staged_records(self.conn, &self.zone)?,
                    verdicts: Vec::new(),
                },
            };
            let verdicts = (!verdicts.is_empty()).then_some(&verdicts[..]);
            self.apply_all(&records, verdicts, false)?;
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
