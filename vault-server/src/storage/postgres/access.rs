//! Who may do what, on PostgreSQL: challenges (a table, so any instance
//! consumes what another issued), session tokens, registration tokens,
//! key shares, invites and the pairing relay. An invite is claimed by one
//! conditional `UPDATE`, and a relay message takes its number from the
//! invite's row (`UPDATE ... RETURNING`, which locks it), so concurrent
//! writers on several instances take turns.

use super::tx::{PgTx, bytes32, signed, unsigned, uuid_of};
use crate::storage::registration::LAST_ACTIVE_GRAIN;
use crate::storage::{
    Hash32, InviteError, InviteId, InviteRow, IssueError, PeerBytes, RelayMessage, ShareError,
    ShareRow, Side, StorageError, TokenRefusal, TokenRow,
};
use uuid::Uuid;

fn side_code(side: Side) -> i16 {
    match side {
        Side::Inviter => 0,
        Side::Joiner => 1,
    }
}

impl PgTx<'_, '_> {
    fn is_current(&self, circle_id: Uuid, peer: &PeerBytes) -> Result<bool, StorageError> {
        Ok(self
            .member_row(circle_id, peer)?
            .is_some_and(|m| !m.removed))
    }

    /// Deletes the challenge and says whether it was there, unexpired.
    pub(super) fn take_challenge(
        &self,
        circle_id: Uuid,
        peer: &PeerBytes,
        challenge: &[u8; 32],
        now: i64,
    ) -> Result<bool, StorageError> {
        let rows = self.query(
            "DELETE FROM challenges WHERE circle_id = $1 AND peer_id = $2 AND challenge = $3
             RETURNING expires",
            &[&&circle_id.as_bytes()[..], &&peer[..], &&challenge[..]],
        )?;
        Ok(rows.first().is_some_and(|r| r.get::<_, i64>(0) > now))
    }

    /// In one statement: consumes the challenge (whatever comes next),
    /// then stores the token if the challenge was live and the peer is a
    /// current member of an enabled circle, noting the login (to within
    /// [`LAST_ACTIVE_GRAIN`]: the circle's row is every login's
    /// otherwise). The member's row is share-locked: a removal (which
    /// updates it, then deletes the peer's tokens) either waits for this
    /// token and deletes it, or commits first and this sees the peer
    /// removed.
    pub(super) fn issue_token(
        &self,
        circle_id: Uuid,
        peer: &PeerBytes,
        challenge: &[u8; 32],
        token_hash: &Hash32,
        now: i64,
        expires: i64,
    ) -> Result<(), IssueError> {
        let rows = self.query(
            "WITH ch AS (
                DELETE FROM challenges
                WHERE circle_id = $1 AND peer_id = $2 AND challenge = $3
                RETURNING expires > $5 AS live
             ), m AS (
                SELECT m.removed, c.disabled IS NOT NULL AS disabled
                FROM members m JOIN circles c ON c.circle_id = m.circle_id
                WHERE m.circle_id = $1 AND m.peer_id = $2
                FOR SHARE OF m
             ), ins AS (
                INSERT INTO tokens (token_hash, circle_id, peer_id, expires)
                SELECT $4, $1, $2, $6 FROM ch, m
                WHERE ch.live AND NOT m.removed AND NOT m.disabled
                RETURNING 1
             ), touch AS (
                UPDATE circles SET last_active = $5
                WHERE circle_id = $1 AND EXISTS (SELECT 1 FROM ins)
                  AND (last_active IS NULL OR last_active <= $5 - $7)
             )
             SELECT EXISTS (SELECT 1 FROM ch WHERE live), (SELECT removed FROM m),
                    (SELECT disabled FROM m), EXISTS (SELECT 1 FROM ins)",
            &[
                &&circle_id.as_bytes()[..],
                &&peer[..],
                &&challenge[..],
                &&token_hash[..],
                &now,
                &expires,
                &LAST_ACTIVE_GRAIN,
            ],
        )?;
        let r = rows.first().ok_or(StorageError::NotFound)?;
        let (live, removed, disabled, stored): (bool, Option<bool>, Option<bool>, bool) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        match (live, removed, disabled) {
            (false, _, _) => Err(IssueError::Challenge),
            (true, None | Some(true), _) => Err(IssueError::NotMember),
            (true, Some(false), Some(true)) => Err(IssueError::Disabled),
            _ if stored => Ok(()),
            _ => Err(StorageError::Backend("the token was not stored".into()).into()),
        }
    }

    pub(super) fn token(&self, token_hash: &Hash32, now: i64) -> Result<TokenRow, StorageError> {
        let rows = self.query(
            "SELECT t.circle_id, t.peer_id, t.expires, c.disabled IS NOT NULL
             FROM tokens t JOIN circles c ON c.circle_id = t.circle_id
             WHERE t.token_hash = $1 AND t.expires > $2",
            &[&&token_hash[..], &now],
        )?;
        let r = rows.first().ok_or(StorageError::NotFound)?;
        Ok(TokenRow {
            circle_id: uuid_of(r.get(0))?,
            peer: bytes32(r.get(1), "peer id")?,
            expires: r.get(2),
            disabled: r.get(3),
        })
    }

    /// Consumes a registration token for `circle_id`, in the transaction
    /// that creates the circle.
    pub(super) fn consume_registration(
        &self,
        hash: &Hash32,
        circle_id: Uuid,
        now: i64,
    ) -> Result<Result<(), TokenRefusal>, StorageError> {
        let rows = self.query(
            "SELECT expires, used, revoked FROM registration_tokens WHERE token_hash = $1
             FOR UPDATE",
            &[&&hash[..]],
        )?;
        let Some(r) = rows.first() else {
            return Ok(Err(TokenRefusal::Unknown));
        };
        if let Some(refusal) = TokenRefusal::of(r.get(0), r.get(1), r.get(2), now) {
            return Ok(Err(refusal));
        }
        self.execute(
            "UPDATE registration_tokens SET used = $2, used_by = $3 WHERE token_hash = $1",
            &[&&hash[..], &now, &&circle_id.as_bytes()[..]],
        )?;
        Ok(Ok(()))
    }

    pub(super) fn put_shares(
        &self,
        circle_id: Uuid,
        sender: &PeerBytes,
        shares: &[(PeerBytes, Vec<u8>)],
        now: i64,
    ) -> Result<(), ShareError> {
        if !self.is_current(circle_id, sender)? {
            return Err(ShareError::SenderNotMember);
        }
        for (recipient, blob) in shares {
            if !self.is_current(circle_id, recipient)? {
                return Err(ShareError::RecipientNotMember);
            }
            self.execute(
                "INSERT INTO shares (circle_id, recipient, sender, blob, created)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &&circle_id.as_bytes()[..],
                    &&recipient[..],
                    &&sender[..],
                    blob,
                    &now,
                ],
            )?;
        }
        Ok(())
    }

    pub(super) fn shares(
        &self,
        circle_id: Uuid,
        recipient: &PeerBytes,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ShareRow>, StorageError> {
        let rows = self.query(
            "SELECT id, sender, blob FROM shares
             WHERE circle_id = $1 AND recipient = $2 AND id > $3 ORDER BY id LIMIT $4",
            &[
                &&circle_id.as_bytes()[..],
                &&recipient[..],
                &after,
                &i64::from(limit),
            ],
        )?;
        rows.iter()
            .map(|r| {
                Ok(ShareRow {
                    id: r.get(0),
                    sender: bytes32(r.get(1), "sender")?,
                    blob: r.get(2),
                })
            })
            .collect()
    }

    pub(super) fn create_invite(
        &self,
        invite_id: &InviteId,
        circle_id: Uuid,
        inviter: &PeerBytes,
        expires: i64,
    ) -> Result<(), StorageError> {
        let n = self.execute(
            "INSERT INTO invites (invite_id, circle_id, inviter, expires) VALUES ($1, $2, $3, $4)
             ON CONFLICT (invite_id) DO NOTHING",
            &[
                &&invite_id[..],
                &&circle_id.as_bytes()[..],
                &&inviter[..],
                &expires,
            ],
        )?;
        if n == 0 {
            return Err(StorageError::Conflict);
        }
        Ok(())
    }

    /// An invite, expired or not.
    pub(super) fn invite_row(&self, invite_id: &InviteId) -> Result<InviteRow, StorageError> {
        let rows = self.query(
            "SELECT circle_id, inviter, expires, relay_token_hash FROM invites
             WHERE invite_id = $1",
            &[&&invite_id[..]],
        )?;
        let r = rows.first().ok_or(StorageError::NotFound)?;
        Ok(InviteRow {
            circle_id: uuid_of(r.get(0))?,
            inviter: bytes32(r.get(1), "inviter")?,
            expires: r.get(2),
            relay_token_hash: r
                .get::<_, Option<&[u8]>>(3)
                .map(|h| bytes32(h, "relay token hash"))
                .transpose()?,
        })
    }

    /// The invite's state for a writer: `NotFound`, `Gone` (expired), or ok.
    fn check_live(&self, invite_id: &InviteId, now: i64) -> Result<(), InviteError> {
        match self.invite_row(invite_id) {
            Ok(row) if row.expires > now => Ok(()),
            Ok(_) => Err(InviteError::Gone),
            Err(StorageError::NotFound) => Err(InviteError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    fn insert_message(
        &self,
        invite_id: &InviteId,
        side: Side,
        message: &[u8],
    ) -> Result<u64, StorageError> {
        let rows = self.query(
            "UPDATE invites SET last_seq = last_seq + 1 WHERE invite_id = $1 RETURNING last_seq",
            &[&&invite_id[..]],
        )?;
        let seq: i64 = rows.first().ok_or(StorageError::NotFound)?.get(0);
        self.execute(
            "INSERT INTO relay_messages (invite_id, seq, side, message) VALUES ($1, $2, $3, $4)",
            &[&&invite_id[..], &seq, &side_code(side), &message],
        )?;
        unsigned(seq, "relay seq")
    }

    pub(super) fn join(
        &self,
        invite_id: &InviteId,
        relay_token_hash: &Hash32,
        message: &[u8],
        now: i64,
    ) -> Result<u64, InviteError> {
        let claimed = self.execute(
            "UPDATE invites SET joined = true, relay_token_hash = $2
             WHERE invite_id = $1 AND NOT joined AND expires > $3",
            &[&&invite_id[..], &&relay_token_hash[..], &now],
        )?;
        if claimed != 1 {
            self.check_live(invite_id, now)?;
            // Live but not claimable: it was joined already.
            return Err(InviteError::Gone);
        }
        Ok(self.insert_message(invite_id, Side::Joiner, message)?)
    }

    pub(super) fn post(
        &self,
        invite_id: &InviteId,
        side: Side,
        message: &[u8],
        now: i64,
        max_messages: u32,
    ) -> Result<u64, InviteError> {
        // Locks the invite's row first: posts to one session take turns,
        // so the count below stays true until the insert.
        let rows = self.query(
            "SELECT expires, last_seq FROM invites WHERE invite_id = $1 FOR UPDATE",
            &[&&invite_id[..]],
        )?;
        let Some(r) = rows.first() else {
            return Err(InviteError::NotFound);
        };
        if r.get::<_, i64>(0) <= now {
            return Err(InviteError::Gone);
        }
        if r.get::<_, i64>(1) >= i64::from(max_messages) {
            return Err(InviteError::Full);
        }
        Ok(self.insert_message(invite_id, side, message)?)
    }

    pub(super) fn relay_messages(
        &self,
        invite_id: &InviteId,
        from: Side,
        after: u64,
    ) -> Result<Vec<RelayMessage>, StorageError> {
        let rows = self.query(
            "SELECT seq, message FROM relay_messages
             WHERE invite_id = $1 AND side = $2 AND seq > $3 ORDER BY seq",
            &[
                &&invite_id[..],
                &side_code(from),
                &signed(after.min(i64::MAX as u64), "a seq")?,
            ],
        )?;
        rows.iter()
            .map(|r| {
                Ok(RelayMessage {
                    seq: unsigned(r.get(0), "relay seq")?,
                    message: r.get(1),
                })
            })
            .collect()
    }
}
